"""Optimiser and learning-rate schedule of a training run.

Weight decay applies to the weight matrices and kernels only. Parameters with fewer than two
dimensions get none: neuron thresholds, MPE-PSN's ``kappa_logits``, batch-norm scales and
shifts, biases (PSN's ``bias`` included). Decaying a threshold pulls it towards 0, which makes
the neuron fire more, and decaying ``kappa_logits`` pulls the membrane-loss weights towards
uniform; neither is a regulariser of the kind weight decay is meant to be. The measurement
behind this choice is in docs/training.md ("Weight decay").
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from mpe_psn.training.config import TrainConfig

__all__ = ["parameter_groups", "make_optimizer", "make_scheduler"]


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimiser groups: tensors with >= 2 dimensions (decayed) and the rest (not decayed).

    A group that would be empty is left out, so a network without biases still gets a valid list.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decay if param.dim() >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def make_optimizer(config: TrainConfig, params: "nn.Module | Iterable[nn.Parameter] | list[dict]") -> torch.optim.Optimizer:
    """The optimiser ``config.optimizer`` over ``params``; a module gets :func:`parameter_groups`."""
    if isinstance(params, nn.Module):
        params = parameter_groups(params, config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine annealing over ``config.epochs`` (stepped once per epoch), or a constant rate."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
