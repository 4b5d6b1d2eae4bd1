"""Reading checkpoints: the format, finding the file, and building the trained network.

A checkpoint is a dict of tensors and primitive containers only, so that
``torch.load(path, weights_only=True)`` reads it::

    format, version        "mpe-psn-checkpoint", 1
    config                 the resolved training configuration as a dict
    model_args             the exact ``build_model`` arguments
    model                  state_dict
    optimizer, scheduler, scaler   state_dicts (scaler None without fp16 AMP)
    epoch                  epochs completed
    best_acc, best_epoch   best test accuracy so far
    rng                    torch / numpy / python / cuda RNG states (as tensors and lists)

Training writes them (``mpe_psn.training.checkpoint``); everything that only needs the trained
network (evaluation, the analyses, export) reads them through this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mpe_psn.errors import UsageError
from mpe_psn.models import build_model
from mpe_psn.utils.atomic import atomic_torch_save

__all__ = [
    "CheckpointError",
    "FORMAT",
    "VERSION",
    "build_from_args",
    "checkpoint_path",
    "load_checkpoint",
    "load_model",
    "load_state",
    "save_checkpoint",
]

FORMAT = "mpe-psn-checkpoint"
VERSION = 1


class CheckpointError(UsageError):
    """A file that is not a usable checkpoint, or one that does not fit what was asked."""


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
        raise CheckpointError(f"{path} is not an mpe-psn checkpoint ({_load_failure(error)})") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mpe-psn checkpoint (no '{FORMAT}' format tag)")
    if content.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {content.get('version')!r}; this mpe-psn reads version {VERSION}")
    for key in ("config", "model_args", "model"):
        if key not in content:
            raise CheckpointError(f"{path} is missing {key!r}; it is not a complete mpe-psn checkpoint")
    return content


def _load_failure(error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, without PyTorch's advice to turn that
    protection off (a checkpoint of ours never needs it)."""
    text = str(error)
    if "Weights only load failed" in text or "weights_only" in text:
        detail = text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation", 1)[0]
        detail = " ".join(detail.split()) if "WeightsUnpickler error:" in text else ""
        return "a safe torch.load (weights_only=True) cannot read it" + (f": {detail[:200]}" if detail else "")
    first = (text.splitlines() or [""])[0].split(". ")[0]  # the first sentence says what is wrong
    return f"torch.load cannot read it: {type(error).__name__}: {first[:200]}"


def build_from_args(model_args: dict[str, Any]) -> nn.Module:
    """The network described by a checkpoint's ``model_args``."""
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
