"""Mixup for event frames: blend pairs of samples and their one-hot labels.

With probability ``prob`` per batch: ``lam ~ Beta(alpha, alpha)``, ``x = lam x + (1 - lam) x[perm]``,
``target = lam onehot(y) + (1 - lam) onehot(y[perm])``. Uses the global torch RNG, so it is
reproduced on resume.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["mixup_batch"]


def mixup_batch(x: torch.Tensor, y: torch.Tensor, num_classes: int, alpha: float, prob: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a time-major batch ``x`` [T, B, ...] with labels ``y`` [B]; returns ``(x, soft targets [B, C])``."""
    target = F.one_hot(y, num_classes).to(torch.float32)
    if alpha <= 0 or float(torch.rand(())) >= prob:
        return x, target
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(y.shape[0], device=y.device)
    return lam * x + (1.0 - lam) * x[:, perm], lam * target + (1.0 - lam) * target[perm]
