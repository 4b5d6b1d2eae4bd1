"""Argument checks shared by the functional neurons. Each raises an error naming the problem."""

from __future__ import annotations

import math

import torch

ESTIMATORS = ("bernoulli", "expected")


def check_time_major(x: torch.Tensor, name: str = "x") -> None:
    """``x`` must be a floating tensor [T, ...] with T >= 1 and at least two dims."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(
            f"{name} must be time-major [T, ...] with at least 2 dims (time and features), "
            f"got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float32, float16 or bfloat16), got {x.dtype}; "
            f"convert spikes or counts with .float() first"
        )
    if x.shape[0] < 1:
        raise ValueError(f"{name} has T = 0 time steps (shape {tuple(x.shape)})")


def check_tau(tau: float) -> float:
    if isinstance(tau, torch.Tensor):
        raise TypeError("tau must be a Python float, not a tensor")
    # the range test also refuses NaN and infinities, and unlike math.isfinite it traces a
    # symbolic float (torch.compile(dynamic=True) makes a module's tau one)
    if not (isinstance(tau, (int, float)) and 0.0 <= tau <= 1.0):
        raise ValueError(f"tau (the decay factor) must be a number in [0, 1], got {tau!r}")
    return float(tau)


def check_estimator(estimator: str) -> str:
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {list(ESTIMATORS)}")
    return estimator


def check_refine_steps(refine_steps: int) -> int:
    if isinstance(refine_steps, bool) or not isinstance(refine_steps, int) or refine_steps < 0:
        raise ValueError(f"refine_steps must be a non-negative int, got {refine_steps!r}")
    return refine_steps


def check_threshold(threshold: "float | torch.Tensor") -> None:
    if isinstance(threshold, torch.Tensor):
        if not threshold.is_floating_point():
            raise TypeError(f"threshold must be a floating tensor, got {threshold.dtype}")
    elif not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number or a tensor, got {threshold!r}")


def check_noise(noise: torch.Tensor, x: torch.Tensor) -> None:
    """External uniform noise: same shape as ``x``, floating, every value in [0, 1)."""
    if not isinstance(noise, torch.Tensor):
        raise TypeError(f"noise must be a tensor shaped like x, got {type(noise).__name__}")
    if noise.shape != x.shape:
        raise ValueError(f"noise must have the shape of x {tuple(x.shape)}, got {tuple(noise.shape)}")
    if not noise.is_floating_point():
        raise TypeError(f"noise must be a floating tensor of uniform [0, 1) numbers, got {noise.dtype}")
    if noise.numel() and not bool(((noise >= 0) & (noise < 1)).all()):
        raise ValueError("noise must hold uniform numbers in [0, 1); found values outside that range (or NaN)")
