"""Host side of the fused layer: runs the correction passes of one backend's kernels.

A backend provides two functions working on [T, N] views (see ``cpu_host`` and
``triton_host``)::

    forward_pass(x, noise, est, cfg, final, store_pot, spikes, vhat_out, v_out, mask_out=None) -> step_sq_sum[T] | None
    backward_pass(x, noise, est, cfg, final, first, g_spikes, coef, g_v, acc, gx, g_est, mask=None) -> g_theta (0-dim fp32)

``mask_out``/``mask``: a one-byte record of each Bernoulli sample, written by the forward and
read by the backward instead of re-hashing (the CPU kernel only: there the hash and the
sigmoid's exp are the cost; on a GPU recomputing them is free and the byte is not).

With ``refine_steps = k`` the layer is k + 1 passes; pass ``j >= 1`` reads the previous pass's
V as its estimate. The forward keeps only the two latest V buffers; the backward recomputes
V of every pass but the last (k buffers, freed on return) and walks the passes backwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mpe_psn.ops.mpe.codes import EST_EXPECTED, EST_HASH, EST_MASK, EST_NOISE, SURROGATE_CODES  # noqa: F401


def is_constant(t: torch.Tensor) -> bool:
    """An expanded scalar (every stride 0), as autograd passes the gradient of ``spikes.sum()``."""
    return t.numel() > 1 and all(stride == 0 for stride in t.stride())


@dataclass(frozen=True)
class PassConfig:
    """Everything a kernel needs besides the tensors."""

    est_mode: int
    k1: int
    k2: int
    tau: float
    theta: torch.Tensor  # 0-dim float32 on the data's device
    surrogate: int
    alpha: float


def run_forward(
    kernels, x: torch.Tensor, noise: torch.Tensor | None, cfg: PassConfig, passes: int, store_pot: bool,
    want_mask: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """``(spikes, step_err, vhat, v, mask)`` for ``x`` [T, N]; ``step_err[t] = mean_n (vhat - V)**2``.

    ``want_mask`` (one pass, hash sampling only): also return the samples as uint8 [T, N].
    """
    T, N = x.shape
    spikes = torch.empty_like(x)
    vhat = torch.empty((T, N), dtype=torch.float32, device=x.device) if store_pot else None
    v = torch.empty((T, N), dtype=torch.float32, device=x.device) if store_pot else None
    est = None
    if passes > 1:
        bufs = [torch.empty((T, N), dtype=torch.float32, device=x.device) for _ in range(2)]
        for j in range(passes - 1):
            out = bufs[j % 2]
            kernels.forward_pass(x, noise, est, cfg, False, False, None, None, out)
            est = out
    mask = torch.empty((T, N), dtype=torch.uint8, device=x.device) if want_mask else None
    sums = kernels.forward_pass(x, noise, est, cfg, True, store_pot, spikes, vhat, v, mask)
    return spikes, sums / max(N, 1), vhat, v, mask


def run_backward(
    kernels,
    x: torch.Tensor,
    noise: torch.Tensor | None,
    cfg: PassConfig,
    passes: int,
    g_spikes: torch.Tensor,
    g_err: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dL/dx, dL/dtheta)`` given the gradients of the spikes and of ``step_err``."""
    T, N = x.shape
    coef = (g_err.to(torch.float32) * (2.0 / max(N, 1))).contiguous()
    gx = torch.empty_like(x)
    if passes == 1:
        g_theta = kernels.backward_pass(x, noise, None, cfg, True, True, g_spikes, coef, None, None, gx, None, mask)
        return gx, g_theta
    # Recompute the V of passes 0 .. k-1: the estimates of passes 1 .. k.
    estimates: list[torch.Tensor | None] = [None]
    for j in range(passes - 1):
        out = torch.empty((T, N), dtype=torch.float32, device=x.device)
        kernels.forward_pass(x, noise, estimates[-1], cfg, False, False, None, None, out)
        estimates.append(out)
    acc = torch.zeros((T, N), dtype=torch.float32, device=x.device)
    g_in = torch.empty((T, N), dtype=torch.float32, device=x.device)
    g_out = torch.empty((T, N), dtype=torch.float32, device=x.device)
    g_theta = torch.zeros((), dtype=torch.float32, device=x.device)
    for j in range(passes - 1, -1, -1):
        final, first = j == passes - 1, j == 0
        g_theta = g_theta + kernels.backward_pass(
            x, noise, estimates[j], cfg, final, first, g_spikes, coef, None if final else g_in, acc,
            gx if first else None, None if first else g_out,
        )
        estimates[j] = None  # free as we go
        g_in, g_out = g_out, g_in
    return gx, g_theta

