"""Feed data to a model the way the analyses need it: time-major batches, outputs, predictions."""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator

import torch
from torch import nn

__all__ = ["Batch", "time_major_batches", "model_device", "forward", "predictions", "eval_mode"]

Batch = tuple[torch.Tensor, torch.Tensor]


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    if p is None:
        p = next(model.buffers(), None)
    return p.device if p is not None else torch.device("cpu")


def time_major_batches(
    batches: Iterable[Batch],
    max_batches: int | None = None,
    device: torch.device | None = None,
    progress: bool = False,
    desc: str = "batches",
) -> Iterator[Batch]:
    """Yield ``(x [T, B, ...], y [B])`` from batch-major ``(x [B, T, ...], y)`` pairs.

    ``max_batches`` stops early (``None``: all of them); ``progress`` shows a tqdm bar.
    """
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches!r}")
    iterator: Iterable[Batch] = batches if max_batches is None else itertools.islice(batches, max_batches)
    if progress:
        from tqdm.auto import tqdm

        total = None
        try:
            total = len(batches)  # type: ignore[arg-type]
        except TypeError:
            pass
        if total is not None and max_batches is not None:
            total = min(total, max_batches)
        iterator = tqdm(iterator, total=total, desc=desc, leave=False)
    for item in iterator:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError("each batch must be a pair (x [B, T, ...], y [B])")
        x, y = item
        if x.dim() < 3:
            raise ValueError(f"batch x must be batch-major [B, T, ...] with at least 3 dims, got shape {tuple(x.shape)}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"batch has {x.shape[0]} inputs but {y.shape[0]} labels")
        x = x.transpose(0, 1)
        if not x.is_floating_point():
            x = x.float()
        if device is not None:
            x, y = x.to(device), y.to(device)
        yield x, y


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-step outputs [T, B, C] of ``model`` on time-major ``x`` (a [B, C] output gets T = 1)."""
    out = model(x)
    if out.dim() == 2:
        out = out.unsqueeze(0)
    if out.dim() != 3:
        raise ValueError(f"the model must return per-step logits [T, B, C], got shape {tuple(out.shape)}")
    return out


def predictions(outputs: torch.Tensor) -> torch.Tensor:
    """Class predictions: argmax of the time-mean of the per-step outputs (SPEC.md section 2)."""
    return outputs.mean(dim=0).argmax(dim=-1)


class eval_mode:
    """Context manager: model in eval mode without gradients, training flag restored on exit."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> nn.Module:
        self.was_training = self.model.training
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)
        self.no_grad.__exit__(*exc)
