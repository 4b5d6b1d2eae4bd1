"""Accuracy, per-class accuracy and confusion matrix of a network over a loader.

Prediction = argmax over classes of the time-mean of the per-step logits (docs/design.md, "Losses").
Under torch.distributed the confusion matrix is summed over processes, so with a loader that
shards the test set without padding every sample counts exactly once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from mpe_psn.losses import tet_loss
from mpe_psn.models.batches import input_lengths, model_input, predict
from mpe_psn.neurons import configure
from mpe_psn.training.distributed import all_reduce_sum

__all__ = ["EvalResult", "evaluate", "set_eval_estimator"]


@dataclass
class EvalResult:
    """Counts over a split; ``confusion[i, j]`` = samples of class i predicted as class j."""

    confusion: torch.Tensor  # [C, C] int64
    loss_sum: float  # TET loss summed over samples

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(self.confusion.diagonal().sum())

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    @property
    def loss(self) -> float:
        return self.loss_sum / self.total if self.total else float("nan")

    def per_class_accuracy(self) -> list[float | None]:
        """Recall of each class (``None`` for a class with no samples)."""
        support = self.confusion.sum(dim=1)
        return [
            (int(self.confusion[c, c]) / int(support[c])) if int(support[c]) else None
            for c in range(self.confusion.shape[0])
        ]


def set_eval_estimator(model: nn.Module, estimator: str) -> int:
    """Set the eval-mode estimator of every MPE-PSN layer; returns how many layers changed."""
    return len(configure(model, eval_estimator=estimator).changed)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    device: "torch.device | str" = "cpu",
    amp_dtype: torch.dtype | None = None,
    progress=None,
    seed: int | None = None,
    mask_padding: bool = False,
) -> EvalResult:
    """Run ``model`` in eval mode over batches (x [B, T, ...], y [B]) and count.

    ``progress``: optional callable ``(batch_size) -> None`` called after each batch.
    ``seed``: run on torch's generators seeded with it, and leave the caller's random state as
    it was (the Bernoulli estimator draws samples: the same seed gives the same accuracy, and
    evaluating does not change the training that follows). ``None``: the current state.
    ``mask_padding``: loss and prediction of each sample over its true length only
    (:func:`mpe_psn.models.batches.input_lengths`; zero-padded temporal data).
    """
    if seed is not None:
        devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return evaluate(model, batches, num_classes, device, amp_dtype, progress, None, mask_padding)
    device = torch.device(device)
    was_training = model.training
    model.eval()
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    try:
        for x, y in batches:
            x = model_input(x, device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with autocast:
                outputs = model(x)
            if outputs.shape[-1] != num_classes:
                raise ValueError(f"the network outputs {outputs.shape[-1]} classes but the dataset has {num_classes}")
            if int(y.min()) < 0 or int(y.max()) >= num_classes:
                raise ValueError(f"labels must lie in [0, {num_classes}), got range [{int(y.min())}, {int(y.max())}]")
            lengths = input_lengths(x) if mask_padding else None
            loss_sum += tet_loss(outputs.float(), y, lengths=lengths).double() * y.shape[0]
            confusion += torch.bincount(y * num_classes + predict(outputs, lengths), minlength=num_classes * num_classes)
            if progress is not None:
                progress(y.shape[0])
    finally:
        model.train(was_training)
    all_reduce_sum(confusion)
    all_reduce_sum(loss_sum)
    return EvalResult(confusion.reshape(num_classes, num_classes).cpu(), float(loss_sum))
