"""2-D loss landscape around a checkpoint (paper Fig. 4; Li et al. 2018).

Two random directions d1, d2 are drawn with the parameters' shapes and filter-normalised:
for every parameter W with more than one dimension (conv and linear weights, PSN's [T, T]
matrix) and every filter i (index along dim 0), ``d[i] <- d[i] * ||W[i]|| / ||d[i]||``.
Parameters with one dimension or none (biases, BatchNorm weights and biases, thresholds,
kappa logits) get a zero direction, the usual choice, so they stay at their trained values;
buffers (BatchNorm running statistics) are not touched. The surface is::

    L(a, b) = loss(W + a d1 + b d2)      a, b in a grid of ``steps`` x ``steps`` points on [-span, span]

with the model in eval mode, on a fixed subset of the data (the same batches and, for a
sampling estimator, the same random numbers at every point). The loss is the training loss
of ``mpe_psn.losses.total_loss`` with ``lambda_mem`` (default 0: TET alone), averaged over
samples. The trained weights are put back afterwards, bit for bit.
"""

from __future__ import annotations

import io
import os
from typing import Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mpe_psn.models.batches import Batch, eval_mode, forward, model_device, predict, time_major_batches
from mpe_psn.losses import total_loss
from mpe_psn.utils.atomic import atomic_write_bytes

__all__ = ["filter_normalized_direction", "loss_landscape", "evaluate_loss", "save_landscape_npz", "load_landscape_npz"]

NPZ_KEYS = ("alphas", "betas", "loss", "accuracy")


def filter_normalized_direction(params: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
    """A random direction shaped like ``params``, filter-normalised (see module docstring)."""
    out = []
    for w in params:
        if w.dim() <= 1:
            out.append(torch.zeros_like(w))
            continue
        d = torch.randn(w.shape, generator=generator, dtype=torch.float32).to(w.device, w.dtype)
        w_norm = w.detach().reshape(w.shape[0], -1).norm(dim=1)
        d_norm = d.reshape(w.shape[0], -1).norm(dim=1).clamp_min(1e-12)
        scale = (w_norm / d_norm).reshape(-1, *([1] * (w.dim() - 1)))
        out.append(d * scale)
    return out


def evaluate_loss(
    model: nn.Module, batches: list[Batch], lambda_mem: float = 0.0, seed: int = 0
) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on time-major ``batches``, sample-weighted means."""
    total, correct, samples = 0.0, 0, 0
    cuda = sorted({x.device.index or 0 for x, _ in batches if x.device.type == "cuda"})
    with eval_mode(model), torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        for x, y in batches:
            out = forward(model, x)
            loss = total_loss(out, y, model, lambda_mem=lambda_mem).total
            n = int(y.shape[0])
            total += float(loss) * n
            correct += int((predict(out) == y).sum())
            samples += n
    return total / samples, correct / samples


def loss_landscape(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    steps: int = 11,
    span: float = 1.0,
    max_batches: int | None = 4,
    lambda_mem: float = 0.0,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Loss and accuracy on a ``steps`` x ``steps`` grid around the trained weights.

    Args:
        steps: grid points per axis (odd numbers put a point on the trained weights).
        span: the grid covers [-span, span] along both directions.
        max_batches: batches of ``batches`` used at every point (``None``: all).
        lambda_mem: weight of L_mem in the loss (0: the classification loss alone).
        seed: seeds the directions and the estimator's random numbers.

    Returns:
        ``{"alphas": [steps], "betas": [steps], "loss": [steps][steps], "accuracy":
        [steps][steps], "center_loss", "center_accuracy", "steps", "span", "samples",
        "lambda_mem", "seed", "directions"}`` with ``loss[i][j]`` at ``(alphas[i], betas[j])``;
        ``center_*`` are measured on the trained weights themselves.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps (grid points per axis) must be an int >= 2, got {steps!r}")
    if not (span > 0 and np.isfinite(span)):
        raise ValueError(f"span must be a positive number, got {span!r}")
    device = model_device(model)
    data = list(time_major_batches(batches, max_batches, device))
    if not data:
        raise ValueError("loss_landscape got no batches: the data split is empty")
    params = [p for p in model.parameters()]
    if not any(p.dim() > 1 for p in params):
        raise ValueError("the model has no weight matrices or kernels to move along")
    original = [p.detach().clone() for p in params]
    generator = torch.Generator().manual_seed(seed)
    d1 = filter_normalized_direction(original, generator)
    d2 = filter_normalized_direction(original, generator)

    coords = np.linspace(-span, span, steps)
    loss = np.zeros((steps, steps))
    acc = np.zeros((steps, steps))
    points = [(i, j) for i in range(steps) for j in range(steps)]
    if progress:
        points = tqdm(points, desc="landscape", unit="point")
    try:
        with torch.no_grad():
            center = evaluate_loss(model, data, lambda_mem, seed)
            for i, j in points:
                a, b = float(coords[i]), float(coords[j])
                for p, w, u, v in zip(params, original, d1, d2):
                    p.copy_(w + a * u + b * v)
                loss[i, j], acc[i, j] = evaluate_loss(model, data, lambda_mem, seed)
    finally:
        with torch.no_grad():
            for p, w in zip(params, original):
                p.copy_(w)
    return {
        "alphas": coords.tolist(),
        "betas": coords.tolist(),
        "loss": loss.tolist(),
        "accuracy": acc.tolist(),
        "center_loss": center[0],
        "center_accuracy": center[1],
        "steps": steps,
        "span": float(span),
        "samples": sum(int(y.shape[0]) for _, y in data),
        "lambda_mem": lambda_mem,
        "seed": seed,
        "directions": "filter-normalised random (Li et al. 2018); parameters with <= 1 dim (biases, "
        "BatchNorm, thresholds, kappa) have zero direction",
    }


def save_landscape_npz(path: "str | os.PathLike[str]", result: dict) -> None:
    """The raw grid as ``.npz`` (float arrays only: loads with ``allow_pickle=False``), atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(result[k], dtype=np.float64) for k in NPZ_KEYS})
    atomic_write_bytes(path, buffer.getvalue())


def load_landscape_npz(path: "str | os.PathLike[str]") -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in NPZ_KEYS if k not in data.files]
        if missing:
            raise ValueError(f"{path} is not a landscape grid: missing arrays {missing}")
        return {k: data[k] for k in NPZ_KEYS}
