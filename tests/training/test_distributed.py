"""Two CPU processes under torchrun (Gloo) train like one process, and count the test set once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mpe_psn.training.checkpoint import load_checkpoint
from mpe_psn.training.loop import train
from mpe_psn.training.run_folder import read_metrics

from .conftest import TINY_DATA


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tiny, tmp_path):
    # one global batch per epoch (the whole train set) and SGD: data order cannot matter, so the
    # runs differ only by the per-process batch-norm statistics
    config = tiny(name="single", estimator="expected", epochs=2, batch_size=48, optimizer="sgd", lr=0.05)
    single = train(config, progress=False, log=lambda m: None)

    data_flags = [f"--data-option={k}={v}" for k, v in TINY_DATA.items()]
    worker = Path(__file__).with_name("ddp_worker.py")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        str(worker), str(tmp_path), "--quiet", "--dataset", "synthetic", *data_flags, "--cache-dir", config.cache_dir,
        "--model", "small", "-T", "4", "--input-size", "20", "--epochs", "2", "--batch-size", "48", "--lr", "0.05", "--optimizer", "sgd",
        "--estimator", "expected", "--out", config.out, "--name", "ddp", "--device", "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # gradients were averaged over the processes: both hold the same weights although each saw
    # only its half of every batch (and rank 0's batch-norm statistics were shared for testing)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)

    run = tmp_path / "runs" / "ddp"
    rows = read_metrics(run / "metrics.jsonl")
    rows_single = read_metrics(single.run_dir / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1]
    # every test sample counted exactly once across the two processes
    assert all(r["test_samples"] == TINY_DATA["num_test"] for r in rows)
    ckpt = load_checkpoint(run / "last.pt")
    assert isinstance(ckpt["rng"], list) and len(ckpt["rng"]) == 2
    for a, b in zip(rows, rows_single):
        assert abs(a["train_loss"] - b["train_loss"]) < 0.15 * b["train_loss"]
        assert abs(a["test_acc"] - b["test_acc"]) <= 0.25
    # the weight updates point the same way: cosine similarity of (w_ddp - w0) and (w_single - w0)
    from mpe_psn.training.checkpoint import build_from_args

    torch.manual_seed(config.seed)
    start = build_from_args(single.model_args).state_dict()
    weights_ddp, weights_single = ckpt["model"], single.model.state_dict()
    keys = [k for k in start if start[k].is_floating_point() and "running" not in k]
    step_ddp = torch.cat([(weights_ddp[k] - start[k]).flatten() for k in keys])
    step_single = torch.cat([(weights_single[k] - start[k]).flatten() for k in keys])
    cosine = torch.nn.functional.cosine_similarity(step_ddp, step_single, dim=0)
    assert cosine > 0.5  # batch norm sees 24 samples per process instead of 48
    assert 0.8 < float(step_ddp.norm() / step_single.norm()) < 1.25  # a sum instead of a mean would double it
