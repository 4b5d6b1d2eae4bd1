"""Host side of the fused layer, whatever the backend: the correction passes and the membrane loss.

A backend's host module (``cpu_host``, ``triton_host``) provides, on a contiguous ``x`` seen as
[T, N]::

    threshold(threshold, device)   -> its handle of the float32 threshold (no host read)
    seed(seed)                     -> its handle of the int64 seed tensor (None: not sampled)
    kappa(kappa, softmax)          -> its handle of the step weights: float32 kappa [T], their
                                      softmax when ``softmax`` (kappa holds logits), None: uniform
    forward_pass(x, T, N, noise, est, seed, theta, cfg, out)       one pass before the last: V -> out
    final_forward(x, T, N, noise, est, seed, theta, kappa, cfg, spikes, vhat, v, mask) -> (L_mem, step_err)
    backward_pass(x, T, N, noise, est, seed, theta, kappa, cfg, final, first, g_spikes, g_loss,
                  g_v, acc, gx, g_est, mask, finish=None) -> partial dL/dtheta (the host's own type),
                  or with ``finish = (want_theta, step_err, want_kappa)`` (a layer of one pass)
                  the reduced ``(dL/dtheta, dL/dkappa)`` as ``finish_backward`` gives them
    finish_backward(partials, want_theta, step_err, g_loss, kappa, want_kappa) -> (dL/dtheta, dL/dkappa)

The membrane loss is reduced by the host, from the per-step sums of ``(vhat - V)**2`` its last
pass leaves, with one scale (:func:`loss_scale`)::

    step_err[t] = scale * sum_n (vhat[t, n] - V[t, n])**2
    L_mem       = sum_t w[t] * step_err[t]              (w = kappa, softmax(kappa), or 1 when uniform)

``scale = 1 / (N T)`` with kappa (so L_mem = mean_t kappa[t] * mean_n (vhat - V)**2, as
:func:`mpe_psn.functional.kappa_weighted_mean`) and ``1 / (N T**2)`` without (uniform 1/T).
Its gradients: ``dL/d(vhat - V)[t, n] = 2 g scale w[t] (vhat - V)`` (the kernels form the
coefficient from ``g = dL/dL_mem`` in memory), ``dL/dkappa[t] = g step_err[t]`` for weights
and ``g w[t] (step_err[t] - L_mem / g)`` (softmax's Jacobian) for logits. A learned kappa's
softmax is part of the layer, so it costs no op of its own and no autograd node.

With ``refine_steps = k`` the layer is k + 1 passes; pass ``j >= 1`` reads the previous pass's
V as its estimate. The forward keeps only the two latest V buffers; the backward recomputes
V of every pass but the last (k buffers, freed on return) and walks the passes backwards.

``mask``: a one-byte record of each Bernoulli sample, written by the forward and read by the
backward instead of re-hashing (the CPU kernel only: there the hash and the sigmoid's exp are
the cost; on a GPU recomputing them is free and the byte is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from mpe_psn.ops.mpe.codes import EST_HASH


def loss_scale(N: int, T: int, has_kappa: bool) -> float:
    """The factor from a step's sum of squared errors to its share of L_mem (see the module docstring)."""
    return 1.0 / (max(N, 1) * T) if has_kappa else 1.0 / (max(N, 1) * T * T)


@dataclass(frozen=True)
class PassConfig:
    """Everything the kernels need besides tensors: codes (``codes.py``) and two numbers."""

    est_mode: int
    tau: float
    surrogate: int
    alpha: float


class Forward(NamedTuple):
    """What the forward returns: spikes [x's shape and dtype], L_mem (0-dim float32), the scaled
    per-step errors and the step weights (the host's handles, for the backward), the sample
    record (or None) and, on request, vhat and V."""

    spikes: torch.Tensor
    mem_loss: torch.Tensor
    step_err: Any
    weights: Any
    mask: torch.Tensor | None
    vhat: torch.Tensor | None
    v: torch.Tensor | None


def uses_mask(host, cfg: PassConfig, passes: int) -> bool:
    """Whether the forward records the samples (a host that keeps them, hash sampling, one pass)."""
    return getattr(host, "KEEPS_SAMPLES", False) and cfg.est_mode == EST_HASH and passes == 1


def _buffer(x: torch.Tensor) -> torch.Tensor:
    return torch.empty(x.shape, dtype=torch.float32, device=x.device)


def run_forward(host, x: torch.Tensor, theta, kappa, noise, seed, cfg: PassConfig, passes: int,
                store_pot: bool = False, for_backward: bool = True) -> Forward:
    """Every pass of the layer on contiguous ``x`` [T, ...]; handles from the host's
    ``threshold``/``kappa``/``seed``, ``noise`` float32 like ``x`` or None. ``for_backward``
    False (no backward will run): no sample record is kept."""
    T = x.shape[0]
    N = x.numel() // T
    spikes = torch.empty_like(x)
    vhat = v = None
    if store_pot:
        vhat, v = _buffer(x), _buffer(x)
    est = None
    if passes > 1:
        buffers = [_buffer(x), _buffer(x)]
        for j in range(passes - 1):
            host.forward_pass(x, T, N, noise, est, seed, theta, cfg, buffers[j % 2])
            est = buffers[j % 2]
    mask = torch.empty_like(x, dtype=torch.uint8) if for_backward and uses_mask(host, cfg, passes) else None
    mem_loss, step_err = host.final_forward(x, T, N, noise, est, seed, theta, kappa, cfg, spikes, vhat, v, mask)
    return Forward(spikes, mem_loss, step_err, kappa, mask, vhat, v)


def run_backward(host, x: torch.Tensor, theta, kappa, noise, seed, mask, step_err, cfg: PassConfig, passes: int,
                 g_spikes: torch.Tensor | None, g_loss: torch.Tensor | None, needs: tuple[bool, bool, bool]):
    """``(dL/dx, dL/dtheta, dL/dkappa)`` (each None unless ``needs`` asks for it) from the
    gradients of the spikes and of L_mem (either may be None: no gradient reached it)."""
    T = x.shape[0]
    N = x.numel() // T
    gx = torch.empty_like(x)  # the first pass writes it whether or not x needs it
    if passes == 1:
        g_theta, g_kappa = host.backward_pass(x, T, N, noise, None, seed, theta, kappa, cfg, True, True, g_spikes,
                                              g_loss, None, None, gx, None, mask, (needs[1], step_err, needs[2]))
    else:
        # Recompute the V of passes 0 .. k-1: the estimates of passes 1 .. k.
        estimates: list[torch.Tensor | None] = [None]
        for _ in range(passes - 1):
            out = _buffer(x)
            host.forward_pass(x, T, N, noise, estimates[-1], seed, theta, cfg, out)
            estimates.append(out)
        acc = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
        g_in, g_out = _buffer(x), _buffer(x)
        parts = []
        for j in range(passes - 1, -1, -1):
            final, first = j == passes - 1, j == 0
            parts.append(host.backward_pass(
                x, T, N, noise, estimates[j], seed, theta, kappa, cfg, final, first, g_spikes, g_loss,
                None if final else g_in, acc, gx if first else None, None if first else g_out, None,
            ))
            estimates[j] = None  # free as we go
            g_in, g_out = g_out, g_in
        g_theta, g_kappa = host.finish_backward(parts, needs[1], step_err, g_loss, kappa, needs[2])
    return gx if needs[0] else None, g_theta, g_kappa
