"""Checkpoints during training: the RNG state a resumed run needs, and the file format.

The format, writing and reading live in :mod:`mpe_psn.models.checkpoint` (evaluation, the
analyses and export read checkpoints without the training package); they are re-exported here
so that ``mpe_psn.training.checkpoint`` stays the one import a training script needs.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from mpe_psn.models.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    build_from_args,
    checkpoint_path,
    load_checkpoint,
    load_model,
    load_state,
    save_checkpoint,
)

__all__ = [
    "CheckpointError",
    "FORMAT",
    "VERSION",
    "build_from_args",
    "capture_rng",
    "checkpoint_path",
    "load_checkpoint",
    "load_model",
    "load_state",
    "restore_rng",
    "save_checkpoint",
]


def capture_rng() -> dict[str, Any]:
    """Every RNG state a training step touches, as tensors and lists (weights_only safe)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
