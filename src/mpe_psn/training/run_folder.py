"""A training run's folder: resolved config, per-epoch metrics, TensorBoard, curves, checkpoints.

    <out>/<name>/config.json     the resolved TrainConfig (usable as --preset to rerun)
                 metrics.jsonl   one JSON object per epoch
                 curves.png      loss and accuracy curves, redrawn each epoch
                 last.pt         checkpoint after the latest epoch
                 best.pt         checkpoint of the best test accuracy
                 tensorboard/    event files (when tensorboard is installed)

Only rank 0 owns a RunFolder. Every file is written atomically.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from mpe_psn.training.curves import plot_training_curves
from mpe_psn.utils.atomic import atomic_write_json, atomic_write_text

__all__ = ["RunFolder", "default_run_name", "read_metrics"]


def default_run_name(dataset: str, model: str, neuron: str) -> str:
    return f"{dataset}-{model}-{neuron}-{time.strftime('%Y%m%d-%H%M%S')}"


def read_metrics(path: "str | Path") -> list[dict[str, Any]]:
    """The epochs of a ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
    rows = []
    path = Path(path)
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class RunFolder:
    """Creates and fills one run folder (see module docstring)."""

    def __init__(self, path: "str | Path", *, resume: bool = False, tensorboard: bool = True) -> None:
        self.path = Path(path)
        self.created = False
        if resume:
            if not self.path.is_dir():
                raise FileNotFoundError(f"run folder {self.path} to resume does not exist")
        else:
            if self.path.exists() and any(self.path.iterdir()):
                raise FileExistsError(
                    f"run folder {self.path} already exists and is not empty; "
                    "choose another --name, or continue it with --resume"
                )
            self.created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
        self.metrics: list[dict[str, Any]] = read_metrics(self.metrics_path) if resume else []
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # needs the optional tensorboard package
            except ImportError:
                self._writer = None
            else:
                self._writer = SummaryWriter(log_dir=str(self.path / "tensorboard"))

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / "last.pt").is_file()

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_json(self.path / "config.json", config)

    def log_epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch (rewriting the file atomically keeps it whole after a crash)."""
        epoch = row["epoch"]
        self.metrics = [r for r in self.metrics if r.get("epoch") != epoch] + [row]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in self.metrics))
        if self._writer is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self._writer.add_scalar(key, value, epoch)
            self._writer.flush()

    def plot_curves(self) -> None:
        plot_training_curves(self.metrics, self.path / "curves.png")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def discard(self) -> None:
        """Remove a folder this run created before it held any checkpoint (nothing worth keeping)."""
        self.close()
        if self.created and not self.has_checkpoint:
            shutil.rmtree(self.path, ignore_errors=True)
