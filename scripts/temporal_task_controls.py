"""Controls for the built-in temporal task: which small classifiers can learn it, from what.

Builds the "temporal" dataset at one T and trains quick, small classifiers on its frames
[T, channels] (test accuracy after every epoch, and seconds):

    rate         logistic regression on the per-channel spike counts   (rate only)
    poprate      MLP on the population rate per step [T]              (timing of the total rate)
    flat-linear  logistic regression on the flattened frames [T * channels]
    flat-mlp     MLP (one hidden layer) on the flattened frames
    conv         1-D convolution over time (2 layers, kernel 5), mean over time, linear
    bag          per-step MLP, mean over time, linear                 (order-blind)
    snn          the library's spiking MLP (700-256-256-classes, TET loss; --neuron, default MPE-PSN)

Each model named with the suffix ``-shuffled`` trains and tests on ``shuffle_time=True`` data
(each sample's steps permuted: counts kept, timing destroyed). Chance is 10 %.

    python scripts/temporal_task_controls.py --T 100 --models rate,flat-mlp,conv,conv-shuffled,snn
    python scripts/temporal_task_controls.py --T 250 --option spread=0.02 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from mpe_psn.data import build_dataset

ALL = ("rate", "poprate", "flat-linear", "flat-mlp", "conv", "bag", "snn",
       "flat-mlp-shuffled", "conv-shuffled", "bag-shuffled", "snn-shuffled")


def dense(dataset) -> tuple[np.ndarray, np.ndarray]:
    """All frames as uint8 [N, T, channels] (one spike per channel: counts fit) and labels [N]."""
    frames = np.stack([dataset[i][0].numpy().astype(np.uint8) for i in range(len(dataset))])
    return frames, np.asarray(dataset.labels)


class Rate(nn.Module):
    def __init__(self, T: int, C: int, K: int) -> None:
        super().__init__()
        self.fc = nn.Linear(C, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T, C]
        return self.fc(x.sum(1))


class PopRate(nn.Module):
    def __init__(self, T: int, C: int, K: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(T, 128), nn.ReLU(), nn.Linear(128, K))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.sum(2))


class Flat(nn.Module):
    def __init__(self, T: int, C: int, K: int, hidden: int = 0) -> None:
        super().__init__()
        self.body = nn.Linear(T * C, K) if not hidden else nn.Sequential(
            nn.Linear(T * C, hidden), nn.ReLU(), nn.Linear(hidden, K))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class Conv(nn.Module):
    def __init__(self, T: int, C: int, K: int, hidden: int = 128, kernel: int = 5) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(C, hidden, kernel, padding=kernel // 2), nn.ReLU(),
                                  nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2), nn.ReLU())
        self.fc = nn.Linear(hidden, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x.transpose(1, 2)).mean(2))


class Bag(nn.Module):
    def __init__(self, T: int, C: int, K: int, hidden: int = 256) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(C, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).mean(1))


class SNN(nn.Module):
    """The library's spiking MLP on [B, T, C] (made time-major); returns per-step logits [T, B, K]."""

    per_step = True

    def __init__(self, T: int, C: int, K: int, neuron: str = "mpe", options: "dict | None" = None) -> None:
        super().__init__()
        from mpe_psn.models.nets import MLP
        from mpe_psn.models.neuron_factory import make_neuron

        self.net = MLP(lambda: make_neuron(neuron, T, options), T, K, in_channels=C, hidden=256, depth=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1).contiguous())


def make(name: str, T: int, C: int, K: int, neuron: str = "mpe", options: "dict | None" = None) -> nn.Module:
    base = name.removesuffix("-shuffled")
    return {"rate": lambda: Rate(T, C, K), "poprate": lambda: PopRate(T, C, K), "flat-linear": lambda: Flat(T, C, K),
            "flat-mlp": lambda: Flat(T, C, K, hidden=128), "conv": lambda: Conv(T, C, K), "bag": lambda: Bag(T, C, K),
            "snn": lambda: SNN(T, C, K, neuron, options)}[base]()


def train(model: nn.Module, train_xy, test_xy, epochs: int, batch: int, lr: float) -> tuple[list[float], float]:
    """Adam, cross entropy (TET for the SNN); test accuracy after each epoch, and the seconds it all took."""
    from mpe_psn.losses import tet_loss

    (xtr, ytr), (xte, yte) = train_xy, test_xy
    per_step = getattr(model, "per_step", False)
    optimizer = torch.optim.Adam(model.parameters(), lr)
    labels = torch.from_numpy(ytr)
    accuracy, start = [], time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(ytr)).split(batch):
            out = model(torch.from_numpy(xtr[idx.numpy()]).float())
            loss = tet_loss(out, labels[idx]) if per_step else nn.functional.cross_entropy(out, labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            pred = []
            for lo in range(0, len(yte), 250):
                out = model(torch.from_numpy(xte[lo:lo + 250]).float())
                pred.append((out.mean(0) if per_step else out).argmax(1).numpy())
        accuracy.append(round(float((np.concatenate(pred) == yte).mean()), 3))
    return accuracy, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--models", default=",".join(ALL), help=f"comma-separated, from {', '.join(ALL)}")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="torch seed (initialisation, batch order)")
    parser.add_argument("--option", action="append", default=[], help="dataset option name=value (JSON value)")
    parser.add_argument("--neuron", default="mpe", help="the snn's neuron (mpe, lif, psn, ...)")
    parser.add_argument("--neuron-option", action="append", default=[], help="neuron option name=value (JSON value)")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    neuron_options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.neuron_option)}
    start = time.perf_counter()
    splits = {(split, shuffled): build_dataset("temporal", split, T=args.T, cache_dir=args.cache_dir, progress=False,
                                               shuffle_time=shuffled, **options)
              for split in ("train", "test") for shuffled in (False, True)}
    print(f"T={args.T} options={options} neuron={args.neuron} {neuron_options} "
          f"train={len(splits['train', False])} test={len(splits['test', False])} "
          f"built in {time.perf_counter() - start:.1f}s", flush=True)
    data = {key: dense(ds) for key, ds in splits.items()}
    channels = data["train", False][0].shape[2]
    for name in args.models.split(","):
        shuffled = name.endswith("-shuffled")
        torch.manual_seed(args.seed)
        model = make(name, args.T, channels, 10, args.neuron, neuron_options)
        accuracy, seconds = train(model, data["train", shuffled], data["test", shuffled], args.epochs, args.batch,
                                  args.lr)
        print(f"{name:18s} test accuracy per epoch {accuracy}  ({seconds:.0f}s, {seconds / args.epochs:.1f}s/epoch)",
              flush=True)


if __name__ == "__main__":
    main()
