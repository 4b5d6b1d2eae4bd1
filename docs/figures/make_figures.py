"""Make the figures of docs/figures/ on the built-in dataset, end to end.

    python docs/figures/make_figures.py [--work /tmp/mpe-psn-figures] [--epochs 4] [--num-train 1000]

1. trains the small net with MPE-PSN and with the exact LIF (``mpe-psn train``);
2. runs every analysis on both checkpoints (``mpe-psn analyze ... --out docs/figures``);
3. for Fig. 3a over training, trains MPE-PSN three more times (lambda_mem 0.01, 0.1, 0) in a short
   loop of its own that logs :func:`mpe_psn.analysis.fidelity.fidelity_summary` on a fixed
   test batch every few steps into ``metrics.jsonl`` (the format ``mpe-psn analyze fidelity
   --train`` reads), then draws them with that command. (The training loop of ``mpe-psn
   train`` does not log fidelity yet; once it does, step 3 is two ``mpe-psn train`` runs.)

Checkpoints, caches and logs go to ``--work`` (not into the repository); the PNG and JSON
files go to ``--out`` (default: this folder). Steps can be skipped with ``--skip``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def mpe_psn(*argv: str, env: dict[str, str] | None = None) -> None:
    """Run ``mpe-psn ARGV`` (in a fresh process when ``env`` adds environment variables)."""
    from mpe_psn import cli

    prefix = " ".join(f"{k}={v}" for k, v in (env or {}).items())
    print(f"$ {prefix + ' ' if prefix else ''}mpe-psn " + " ".join(argv), flush=True)
    if env:
        status = subprocess.run([sys.executable, "-m", "mpe_psn", *argv], env={**os.environ, **env}).returncode
    else:
        status = cli.main(list(argv))
    if status != 0:
        raise SystemExit(f"mpe-psn {argv[0]} failed with status {status}")


def train_checkpoints(work: Path, epochs: int, num_train: int) -> dict[str, Path]:
    runs = {}
    for neuron in ("mpe", "lif"):
        run = work / "runs" / neuron
        if not (run / "last.pt").is_file():
            mpe_psn("train", "--neuron", neuron, "--epochs", str(epochs), "--data-option", f"num_train={num_train}",
                    "--out", str(work / "runs"), "--name", neuron, "--cache-dir", str(work / "cache"), "--quiet")
        runs[neuron] = run
    return runs


def analyse(runs: dict[str, Path], out: Path, grid: int) -> None:
    both = [str(runs["mpe"]), str(runs["lif"])]
    common = ["--out", str(out), "--no-progress"]
    mpe_psn("analyze", "fidelity", *both, *common)
    mpe_psn("analyze", "spike-rates", *both, *common)
    mpe_psn("analyze", "energy", *both, *common)
    mpe_psn("analyze", "landscape", *both, *common, "--grid", str(grid), "--span", "1.0", "--batches", "2")
    # One thread: on a shared 2-core machine, two OpenMP threads per process wait on each other
    # at every small op and the times mostly measure that (see refinement.md).
    mpe_psn("analyze", "refine", str(runs["mpe"]), *common, env={"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"})


def train_logging_fidelity(run: Path, lambda_mem: float, epochs: int, num_train: int, cache: Path,
                           log_every: int, seed: int = 0) -> None:
    """Train the small MPE-PSN net with Adam + cosine like ``mpe-psn train`` and log fidelity."""
    import torch

    from mpe_psn.analysis.fidelity import fidelity_summary
    from mpe_psn.data import build_dataset, build_loader, dataset_info
    from mpe_psn.losses import total_loss
    from mpe_psn.models import build_model

    torch.manual_seed(seed)
    info = dataset_info("synthetic")
    train_set = build_dataset("synthetic", "train", cache_dir=str(cache), num_train=num_train)
    test_set = build_dataset("synthetic", "test", cache_dir=str(cache), num_train=num_train)
    model = build_model("small", neuron="mpe", T=info.default_T, num_classes=info.num_classes,
                        in_channels=info.in_channels, input_size=info.height)
    fixed = next(iter(build_loader(test_set, batch_size=64, shuffle=False)))[0].transpose(0, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps_per_epoch = len(build_loader(train_set, batch_size=32, shuffle=True, seed=seed))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({"neuron": "mpe", "lambda_mem": lambda_mem, "epochs": epochs,
                                                 "num_train": num_train, "seed": seed}, indent=2))
    rows = [{"epoch": 0.0, "fidelity": fidelity_summary(model, fixed)}]
    step = 0
    for epoch in range(epochs):
        model.train()
        for x, y in build_loader(train_set, batch_size=32, shuffle=True, seed=seed + epoch):
            out = model(x.transpose(0, 1))
            loss = total_loss(out, y, model, lambda_mem=lambda_mem).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % log_every == 0 or step == epochs * steps_per_epoch:
                rows.append({"epoch": round(step / steps_per_epoch, 3), "loss": float(loss.detach()),
                             "fidelity": fidelity_summary(model, fixed)})
        print(f"lambda_mem={lambda_mem}: epoch {epoch + 1}/{epochs}, v_hat MSE {rows[-1]['fidelity']['v_hat_mse']:.4g}",
              flush=True)
    with torch.no_grad():
        model.eval()
        correct = sum(int((model(x.transpose(0, 1)).mean(0).argmax(-1) == y).sum())
                      for x, y in build_loader(test_set, batch_size=64, shuffle=False))
    rows[-1]["test_acc"] = correct / len(test_set)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"lambda_mem={lambda_mem}: test accuracy {100 * correct / len(test_set):.2f}%", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/mpe-psn-figures"), help="checkpoints, caches, logs")
    parser.add_argument("--out", type=Path, default=HERE, help="where the PNG and JSON files go")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--grid", type=int, default=11)
    parser.add_argument("--log-every", type=int, default=4, help="training steps between fidelity logs")
    parser.add_argument("--skip", nargs="*", default=[], choices=("train", "analyse", "fidelity-training"))
    args = parser.parse_args(argv)
    start = time.time()
    if "analyse" not in args.skip or "train" not in args.skip:
        runs = train_checkpoints(args.work, args.epochs, args.num_train)
        if "analyse" not in args.skip:
            analyse(runs, args.out, args.grid)
    if "fidelity-training" not in args.skip:
        logged = []
        for lambda_mem, name in ((0.01, "mpe-lmem"), (0.1, "mpe-lmem-0.1"), (0.0, "mpe-no-lmem")):
            run = args.work / "fidelity-runs" / name
            if not (run / "metrics.jsonl").is_file():
                train_logging_fidelity(run, lambda_mem, args.epochs, args.num_train, args.work / "cache", args.log_every)
            logged.append(str(run))
        mpe_psn("analyze", "fidelity", "--train", *logged, "--labels", "lambda_mem = 0.01 (paper)", "lambda_mem = 0.1", "without L_mem",
                "--out", str(args.out))
    print(f"done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
