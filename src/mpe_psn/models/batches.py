"""The layout seam: loaders yield batch-major data, networks take time-major data.

Every loader of :mod:`mpe_psn.data` yields ``(x [B, T, ...], y [B])`` (one sample per row, as
a ``Dataset`` stores it), and every network and neuron takes ``x [T, B, ...]`` (time first, so
that a step is one contiguous slice). :func:`model_input` is the one place that turns the
first into the second; training, evaluation, the analyses and the fidelity log all call it.
The rest of this module is how they all feed a model: forward in eval mode, predict a class.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from mpe_psn.losses import step_weights

__all__ = ["Batch", "model_input", "input_lengths", "time_major_batches", "model_device", "forward", "predict",
           "eval_mode"]

Batch = tuple[torch.Tensor, torch.Tensor]


def model_input(x: torch.Tensor, device: "torch.device | str | None" = None, non_blocking: bool = False) -> torch.Tensor:
    """A loader's batch-major ``x [B, T, ...]`` as a network's time-major float input ``[T, B, ...]``.

    ``device``: move it there (``None``: stay). Integer frames (event counts) become float32.
    """
    if x.dim() < 3:
        raise ValueError(f"batch x must be batch-major [B, T, ...] with at least 3 dims, got shape {tuple(x.shape)}")
    if device is not None:
        x = x.to(device, non_blocking=non_blocking)
    x = x.transpose(0, 1)
    return x if x.is_floating_point() else x.float()


def time_major_batches(
    batches: Iterable[Batch],
    max_batches: int | None = None,
    device: torch.device | None = None,
    progress: bool = False,
    desc: str = "batches",
) -> Iterator[Batch]:
    """Yield ``(x [T, B, ...], y [B])`` (:func:`model_input`) from loader pairs ``(x [B, T, ...], y)``.

    ``max_batches`` stops early (``None``: all of them); ``progress`` shows a tqdm bar.
    """
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches!r}")
    iterator: Iterable[Batch] = batches if max_batches is None else itertools.islice(batches, max_batches)
    if progress:
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
        x = model_input(x, device)
        if y.shape[0] != x.shape[1]:
            raise ValueError(f"batch has {x.shape[1]} inputs but {y.shape[0]} labels")
        if device is not None:
            y = y.to(device)
        yield x, y


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model without either."""
    p = next(model.parameters(), None)
    if p is None:
        p = next(model.buffers(), None)
    return p.device if p is not None else torch.device("cpu")


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-step outputs [T, B, C] of ``model`` on time-major ``x`` (a [B, C] output gets T = 1)."""
    out = model(x)
    if out.dim() == 2:
        out = out.unsqueeze(0)
    if out.dim() != 3:
        raise ValueError(f"the model must return per-step logits [T, B, C], got shape {tuple(out.shape)}")
    return out


def input_lengths(x: torch.Tensor) -> torch.Tensor:
    """True length of each sample of a zero-padded time-major batch ``x [T, B, ...]``: 1 + the
    last step with any non-zero input (int64 [B]; at least 1, so an empty sample keeps step 0)."""
    active = x.reshape(x.shape[0], x.shape[1], -1).ne(0).any(-1)  # [T, B]
    steps = torch.arange(1, x.shape[0] + 1, device=x.device).unsqueeze(1)
    return (active * steps).amax(0).clamp(min=1)


def predict(outputs: torch.Tensor, lengths: "torch.Tensor | None" = None) -> torch.Tensor:
    """Class index per sample from per-step logits [T, B, C]: the argmax of the time-mean
    (computed in float32, also for bf16/fp16 outputs; docs/design.md, "Losses").
    ``lengths`` [B]: the mean runs over each sample's first ``lengths[b]`` steps only."""
    if lengths is None:
        return outputs.float().mean(0).argmax(-1)

    weights = step_weights(lengths, outputs.shape[0]).to(outputs.device)
    return (outputs.float() * weights.unsqueeze(-1)).sum(0).argmax(-1)


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
