"""Closing the deployment gap: train the last epochs of a run as the exact LIF.

MPE-PSN is trained as an estimate of the LIF a NIR target runs. ``finetune_as = "lif"`` with
``finetune_epochs = N`` trains the last N of the run's ``epochs`` with every ``MPEPSN`` layer
computing the exact LIF: ``refine_steps = T - 1`` correction passes (the same tau, thresholds
and weights, still in parallel over time, gradients through the surrogate of every pass).
Those epochs are also evaluated as the LIF, and ``best.pt`` is chosen among them only, so the
saved network is the one that was fine-tuned. Which epochs are fine-tuned depends only on
(config, epoch), so a resumed run fine-tunes the same epochs as an uninterrupted one.

The layers' ``refine_steps`` is a setting, not a weight: a checkpoint loads with the config's
``refine_steps`` (0), so ``mpe-psn analyze deploy`` measures the fine-tuned weights in every
mode.
"""

from __future__ import annotations

from torch import nn

from mpe_psn.neurons import MPEPSN, configure

__all__ = ["FINETUNE_TARGETS", "finetune_error", "is_finetune_epoch", "first_finetune_epoch", "set_finetune"]

#: what the last epochs can be trained as
FINETUNE_TARGETS = ("lif",)


def finetune_error(finetune_as: "str | None", finetune_epochs: int, epochs: int, neuron: str) -> "tuple[str, str] | None":
    """``(key, what it must be)`` for an impossible fine-tuning setting, else None."""
    if finetune_as is not None and finetune_as not in FINETUNE_TARGETS:
        return "finetune_as", f"one of {list(FINETUNE_TARGETS)} or null"
    if isinstance(finetune_epochs, bool) or not isinstance(finetune_epochs, int) or finetune_epochs < 0:
        return "finetune_epochs", "an int >= 0"
    if finetune_as is None and finetune_epochs > 0:
        return "finetune_epochs", "0 unless finetune_as is set (--finetune-as lif)"
    if finetune_as is not None:
        if neuron != "mpe":
            return "finetune_as", f"null for neuron {neuron!r} (only an MPE-PSN network can be fine-tuned as its LIF)"
        if finetune_epochs < 1:
            return "finetune_epochs", "a positive int when finetune_as is set"
        if finetune_epochs > epochs:
            return "finetune_epochs", f"at most epochs = {epochs} (the fine-tuned epochs are the last ones of the run)"
    return None


def first_finetune_epoch(finetune_as: "str | None", finetune_epochs: int, epochs: int) -> int | None:
    """The 0-based epoch where fine-tuning starts (None: no fine-tuning)."""
    if finetune_as is None or finetune_epochs < 1:
        return None
    return epochs - finetune_epochs


def is_finetune_epoch(finetune_as: "str | None", finetune_epochs: int, epochs: int, epoch: int) -> bool:
    """Whether 0-based ``epoch`` is trained as ``finetune_as``."""
    first = first_finetune_epoch(finetune_as, finetune_epochs, epochs)
    return first is not None and epoch >= first


def set_finetune(model: nn.Module, T: int, active: bool, base_refine_steps: int) -> int:
    """Set every ``MPEPSN`` layer of ``model`` to the exact LIF (``refine_steps = T - 1``) when
    ``active``, else back to ``base_refine_steps``; returns the number of layers set."""
    refine_steps = max(T - 1, base_refine_steps) if active else base_refine_steps
    return len(configure(model, MPEPSN, refine_steps=refine_steps).changed)
