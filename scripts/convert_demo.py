"""Convert a SpikingJelly spiking ResNet to MPE-PSN and train it one epoch on the built-in data.

    python scripts/convert_demo.py --out runs/convert-demo      # a few minutes on 2 CPU cores

The network is SpikingJelly's own ``SpikingResNet`` (BasicBlock, one block per stage, the
zoo's ``spiking_resnet18`` layout cut to one block per stage; its first conv takes the two
event polarities) with SpikingJelly's default ``LIFNode`` (tau 2, ``decay_input=True``, hard
reset to 0). From the same initial weights it trains one epoch three times: as SpikingJelly
built it, converted with ``mpe_psn.convert(to="lif")`` and with ``to="mpe"``. Then the trained
SpikingJelly network itself is converted and evaluated without retraining. Results go to
``<out>/convert_demo.json`` (``runs/`` is not tracked by git).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn


def build_resnet(num_classes: int) -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.model import spiking_resnet

    net = spiking_resnet.SpikingResNet(spiking_resnet.BasicBlock, [1, 1, 1, 1], num_classes=num_classes,
                                       spiking_neuron=neuron.LIFNode)
    net.conv1 = layer.Conv2d(2, 64, kernel_size=7, stride=2, padding=3, bias=False)  # two polarities in
    functional.set_step_mode(net, "m")
    return net


def run_epoch(model: nn.Module, loader, optimizer=None) -> tuple[float, float]:
    """One pass; trains when an optimizer is given. Returns (accuracy, seconds)."""
    from spikingjelly.activation_based import functional

    model.train(optimizer is not None)
    correct = total = 0
    start = time.perf_counter()
    with torch.set_grad_enabled(optimizer is not None):
        for frames, labels in loader:
            functional.reset_net(model)  # SpikingJelly's neurons keep state between calls; ours do not
            out = model(frames.transpose(0, 1)).mean(0)  # [B, T, ...] -> time-major, mean over T
            if optimizer is not None:
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(out, labels)
                for module in model.modules():  # MPE-PSN's membrane loss, weight 0.01 as in training
                    if getattr(module, "mem_loss", None) is not None:
                        loss = loss + 0.01 * module.mem_loss
                loss.backward()
                optimizer.step()
            correct += int((out.argmax(1) == labels).sum())
            total += labels.numel()
    return correct / total, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/convert-demo")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-test", type=int, default=500)
    parser.add_argument("--variants", nargs="+", default=["sj", "lif", "mpe"], choices=["sj", "lif", "mpe"],
                        help="which of the three to train (the SpikingJelly one is always trained: it is converted after)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mpe_psn import convert
    from mpe_psn.data import build_dataset, build_loader, dataset_info

    info = dataset_info("synthetic")
    sizes = {"num_train": args.num_train, "num_test": args.num_test}
    train = build_dataset("synthetic", "train", **sizes)
    test = build_dataset("synthetic", "test", **sizes)
    train_loader = build_loader(train, batch_size=args.batch, shuffle=True, seed=0)
    test_loader = build_loader(test, batch_size=100, shuffle=False)

    torch.manual_seed(0)
    initial = build_resnet(info.num_classes)
    variants = {"spikingjelly LIFNode": copy.deepcopy(initial)}
    for to in ("lif", "mpe"):
        if to in args.variants:
            variants[f"converted to={to!r}"] = convert(initial, to=to)[0]
    _, report = convert(initial, to="mpe")
    results = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads", "torch": torch.__version__,
               "data": f"built-in synthetic, {len(train)} train / {len(test)} test, T = {info.default_T}, 32x32",
               "report": str(report), "trained": {}, "converted_after_training": {}}
    for name, model in variants.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        rows = []
        for epoch in range(args.epochs):
            train_acc, seconds = run_epoch(model, train_loader, optimizer)
            test_acc, eval_seconds = run_epoch(model, test_loader)
            rows.append({"epoch": epoch + 1, "train_acc": train_acc, "test_acc": test_acc,
                         "train_seconds": seconds, "eval_seconds": eval_seconds})
            print(f"{name}: epoch {epoch + 1}: train {train_acc:.3f}, test {test_acc:.3f}, {seconds:.1f} s train, "
                  f"{eval_seconds:.1f} s eval", flush=True)
        results["trained"][name] = rows
    trained_sj = variants["spikingjelly LIFNode"]
    for to in ("lif", "mpe"):
        converted, _ = convert(trained_sj, to=to)
        test_acc, seconds = run_epoch(converted, test_loader)
        results["converted_after_training"][to] = {"test_acc": test_acc, "eval_seconds": seconds}
        print(f"trained SpikingJelly net converted to {to!r}: test {test_acc:.3f}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "convert_demo.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'convert_demo.json'}")


if __name__ == "__main__":
    main()
