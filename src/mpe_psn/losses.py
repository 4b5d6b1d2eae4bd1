"""Losses: TET on per-step outputs, the membrane-potential loss, and their combination.

``L = (1 - lambda_mem) * L_TET + lambda_mem * sum over layers of L_mem``   (docs/design.md, "Losses")
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["tet_loss", "membrane_loss", "total_loss", "TotalLoss", "step_weights"]


def step_weights(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """Weights [T, B]: ``1 / L_b`` on the steps ``t < L_b`` of sample b, 0 on its padding."""
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or bool((lengths < 1).any()) or bool((lengths > T).any()):
        raise ValueError(f"lengths must be a vector of ints in [1, T = {T}], got {lengths.tolist()}")
    steps = torch.arange(T, device=lengths.device).unsqueeze(1)
    return (steps < lengths.unsqueeze(0)).float() / lengths.float().unsqueeze(0)


def tet_loss(outputs: torch.Tensor, target: torch.Tensor, lamb: float = 1e-3, phi: float = 1.0,
             lengths: "torch.Tensor | None" = None) -> torch.Tensor:
    """Temporal efficient training loss (Deng et al. 2022) for per-step logits [T, B, C].

    ``L_TET = (1 - lamb) * mean_t CE(O[t], y) + lamb * mean((O - phi)**2)``.
    ``target`` is class indices [B] or class probabilities [B, C] (mixup).
    ``lengths`` (int [B], optional): sample b counts only its steps ``t < lengths[b]`` (padded
    sequences); both means then run over those steps of each sample, then over the batch:
    ``mean_b (1 / L_b) sum_{t < L_b} CE(O[t, b], y_b)``. All lengths = T is the plain loss.
    """
    if outputs.dim() != 3:
        raise ValueError(f"tet_loss needs per-step outputs [T, B, C], got shape {tuple(outputs.shape)}")
    T, B, C = outputs.shape
    if target.shape[0] != B:
        raise ValueError(f"target has {target.shape[0]} samples but outputs have batch size {B}")
    outputs = outputs.float()
    target = target.float() if target.is_floating_point() else target
    if lengths is not None:
        weights = step_weights(lengths, T).to(outputs.device)  # [T, B], each column sums to 1
        ce = F.cross_entropy(outputs.reshape(T * B, C), target.repeat(T, *([1] * (target.dim() - 1))), reduction="none")
        mse = (outputs - phi).pow(2).mean(-1)
        return ((1.0 - lamb) * (ce.reshape(T, B) * weights).sum() + lamb * (mse * weights).sum()) / B
    # CE averaged over the batch at each step, then over steps (equal-size steps: one flat mean).
    ce = F.cross_entropy(outputs.reshape(T * B, C), target.repeat(T, *([1] * (target.dim() - 1))))
    mse = (outputs - phi).pow(2).mean()
    return (1.0 - lamb) * ce + lamb * mse


def membrane_loss(model: nn.Module) -> torch.Tensor:
    """Sum of ``mem_loss`` over every layer of ``model`` that computed one in its last forward.

    A float32 scalar. One layer's loss is returned as it is (no op); several are summed with one
    ``stack`` and one ``sum``, so reading the loss costs at most two ops whatever the depth.
    """
    losses = [m.mem_loss for m in model.modules() if getattr(m, "mem_loss", None) is not None]
    if not losses:
        p = next(model.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
    if len(losses) == 1 and losses[0].dtype == torch.float32:
        return losses[0]
    return torch.stack([l.float() for l in losses]).sum()


class TotalLoss(NamedTuple):
    total: torch.Tensor
    tet: torch.Tensor
    mem: torch.Tensor


def total_loss(
    outputs: torch.Tensor,
    target: torch.Tensor,
    model: nn.Module,
    lambda_mem: float = 0.01,
    lamb: float = 1e-3,
    phi: float = 1.0,
    lengths: "torch.Tensor | None" = None,
) -> TotalLoss:
    """``(1 - lambda_mem) * L_TET + lambda_mem * L_mem``; ``lambda_mem = 0`` turns L_mem off.
    ``lengths``: mask each sample's padded steps out of L_TET (:func:`tet_loss`)."""
    if not 0.0 <= lambda_mem <= 1.0:
        raise ValueError(f"lambda_mem must be in [0, 1], got {lambda_mem}")
    tet = tet_loss(outputs, target, lamb, phi, lengths)
    mem = membrane_loss(model)
    return TotalLoss((1.0 - lambda_mem) * tet + lambda_mem * mem, tet, mem)
