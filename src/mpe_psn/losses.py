"""Losses: TET on per-step outputs, the membrane-potential loss, and their combination.

``L = (1 - lambda_mem) * L_TET + lambda_mem * sum over layers of L_mem``   (docs/design.md, "Losses")
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["tet_loss", "membrane_loss", "total_loss", "TotalLoss"]


def tet_loss(outputs: torch.Tensor, target: torch.Tensor, lamb: float = 1e-3, phi: float = 1.0) -> torch.Tensor:
    """Temporal efficient training loss (Deng et al. 2022) for per-step logits [T, B, C].

    ``L_TET = (1 - lamb) * mean_t CE(O[t], y) + lamb * mean((O - phi)**2)``.
    ``target`` is class indices [B] or class probabilities [B, C] (mixup).
    """
    if outputs.dim() != 3:
        raise ValueError(f"tet_loss needs per-step outputs [T, B, C], got shape {tuple(outputs.shape)}")
    T, B, C = outputs.shape
    if target.shape[0] != B:
        raise ValueError(f"target has {target.shape[0]} samples but outputs have batch size {B}")
    outputs = outputs.float()
    target = target.float() if target.is_floating_point() else target
    # CE averaged over the batch at each step, then over steps (equal-size steps: one flat mean).
    ce = F.cross_entropy(outputs.reshape(T * B, C), target.repeat(T, *([1] * (target.dim() - 1))))
    mse = (outputs - phi).pow(2).mean()
    return (1.0 - lamb) * ce + lamb * mse


def membrane_loss(model: nn.Module) -> torch.Tensor:
    """Sum of ``mem_loss`` over every layer of ``model`` that computed one in its last forward."""
    losses = [m.mem_loss for m in model.modules() if getattr(m, "mem_loss", None) is not None]
    if not losses:
        p = next(model.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
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
) -> TotalLoss:
    """``(1 - lambda_mem) * L_TET + lambda_mem * L_mem``; ``lambda_mem = 0`` turns L_mem off."""
    if not 0.0 <= lambda_mem <= 1.0:
        raise ValueError(f"lambda_mem must be in [0, 1], got {lambda_mem}")
    tet = tet_loss(outputs, target, lamb, phi)
    mem = membrane_loss(model)
    return TotalLoss((1.0 - lambda_mem) * tet + lambda_mem * mem, tet, mem)
