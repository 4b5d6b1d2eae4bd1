"""Checkpoints: written atomically, loaded without unpickling arbitrary objects.

A checkpoint is a dict of tensors and primitive containers only, so that
``torch.load(path, weights_only=True)`` reads it::

    format, version        "mpe-psn-checkpoint", 1
    config                 the resolved TrainConfig as a dict
    model_args             the exact ``build_model`` arguments
    model                  state_dict
    optimizer, scheduler, scaler   state_dicts (scaler None without fp16 AMP)
    epoch                  epochs completed
    best_acc, best_epoch   best test accuracy so far
    rng                    torch / numpy / python / cuda RNG states (as tensors and lists)
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mpe_psn.utils.atomic import atomic_torch_save

__all__ = [
    "CheckpointError",
    "FORMAT",
    "build_from_args",
    "capture_rng",
    "checkpoint_path",
    "load_checkpoint",
    "load_model",
    "restore_rng",
    "save_checkpoint",
]

FORMAT = "mpe-psn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint, or one that does not fit what was asked."""


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


def save_checkpoint(path: "str | os.PathLike[str]", **content: Any) -> None:
    """Write a checkpoint atomically (a crash leaves the previous file or none, never half of one)."""
    atomic_torch_save({"format": FORMAT, "version": VERSION, **content}, path)


def checkpoint_path(path: "str | os.PathLike[str]", prefer: str = "best.pt") -> Path:
    """``path`` itself if it is a file; inside a run folder ``prefer`` (else ``last.pt``)."""
    path = Path(path)
    if path.is_dir():
        for name in (prefer, "last.pt", "best.pt"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path} is a folder without a checkpoint (expected {prefer} or last.pt in it)")
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def load_checkpoint(path: "str | os.PathLike[str]", map_location: "str | torch.device" = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; anything else gets a clear error."""
    path = checkpoint_path(path)
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated file, foreign pickle, not a torch file at all
        raise CheckpointError(
            f"{path} is not a readable mpe-psn checkpoint ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        ) from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mpe-psn checkpoint (no '{FORMAT}' format tag)")
    if content.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {content.get('version')!r}; this mpe-psn reads version {VERSION}")
    for key in ("config", "model_args", "model"):
        if key not in content:
            raise CheckpointError(f"{path} is missing {key!r}; it is not a complete mpe-psn checkpoint")
    return content


def build_from_args(model_args: dict[str, Any]) -> nn.Module:
    """The network described by a checkpoint's ``model_args``."""
    from mpe_psn.models import build_model

    args = dict(model_args)
    return build_model(args.pop("name"), **args)


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str, what: str) -> None:
    """``model.load_state_dict(state)`` with an error that says which model does not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        detail = str(error).split("\n\t")[1:3]
        raise CheckpointError(
            f"{source} holds weights for a different network than {what}: "
            + "; ".join(d.strip() for d in detail)[:500]
        ) from error


def load_model(path: "str | os.PathLike[str]", map_location: "str | torch.device" = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The trained network of a checkpoint (file or run folder), in eval mode, and its config.

    The config is the resolved training configuration plus ``model_args`` (the
    ``build_model`` arguments: name, neuron, T, num_classes, in_channels, input_size,
    neuron_options).
    """
    content = load_checkpoint(path, map_location)
    model_args = content["model_args"]
    model = build_from_args(model_args)
    load_state(model, content["model"], str(path), f"{model_args['name']} with neuron {model_args['neuron']}")
    model.to(map_location)
    model.eval()
    config = dict(content["config"])
    config["model_args"] = dict(model_args)
    return model, config
