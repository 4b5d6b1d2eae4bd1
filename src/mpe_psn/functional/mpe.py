"""MPE-PSN, the membrane-potential-estimation parallel spiking neuron: reference in PyTorch.

For input currents ``x`` of shape [T, ...] (all time steps at once), with decay ``tau`` and
threshold ``theta`` (docs/design.md, "The neuron")::

    p[t]    = sigmoid(x[t])                     estimated firing probability
    b[t]    = 1[noise[t] < p[t]]                 Bernoulli(p) sample, no gradient
    vhat[t] = (1 - b[t]) * x[t]                  estimator "bernoulli" (the paper)
            = (1 - p[t]) * x[t]                  estimator "expected" (deterministic)
    H[0]    = x[0]
    H[t]    = tau * vhat[t-1] + x[t]             t >= 1, every t in parallel
    S[t]    = 1[H[t] > theta]                    surrogate gradient backward
    V[t]    = (1 - S[t]) * H[t]                  the corrected (post-reset) potential

Refinement (``refine_steps = k``) repeats the last three lines k times with ``vhat := V``.
After k passes the first k+1 steps are exact, so ``k >= T - 1`` is the sequential LIF.

The membrane loss (docs/design.md, "The membrane loss and kappa") trains the estimate toward the corrected potential::

    L_mem = mean over all elements of kappa[t] * (vhat[t] - V[t])**2
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from mpe_psn.functional.checks import (
    check_estimator,
    check_noise,
    check_refine_steps,
    check_tau,
    check_threshold,
    check_time_major,
)
from mpe_psn.functional.surrogate import Surrogate, get_surrogate

__all__ = [
    "MPEResult",
    "mpe_psn",
    "mpe_psn_unchecked",
    "check_mpe_args",
    "estimate_potential",
    "correct",
    "membrane_loss_terms",
    "kappa_weighted_mean",
    "shift_in_time",
]


class MPEResult(NamedTuple):
    """Output of :func:`mpe_psn`, each tensor shaped like the input."""

    spikes: torch.Tensor
    v_hat: torch.Tensor
    v: torch.Tensor


def shift_in_time(v: torch.Tensor) -> torch.Tensor:
    """``out[0] = 0``, ``out[t] = v[t-1]``: the previous step's potential for every step."""
    return torch.cat([torch.zeros_like(v[:1]), v[:-1]], dim=0)


def estimate_potential(
    x: torch.Tensor,
    estimator: str = "bernoulli",
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The estimated post-reset potential ``vhat`` of every step (see module docstring)."""
    p = torch.sigmoid(x)
    if estimator == "expected":
        return (1.0 - p) * x
    if noise is None:
        # pass a generator only when given: rand's generator overload takes no symbolic sizes (torch.compile)
        extra = {} if generator is None else {"generator": generator}
        noise = torch.rand(x.shape, dtype=x.dtype, device=x.device, **extra)
    fired = (noise < p.detach()).to(x.dtype)  # the sample carries no gradient
    return (1.0 - fired) * x


def correct(
    x: torch.Tensor,
    v_prev_estimate: torch.Tensor,
    threshold: "float | torch.Tensor",
    tau: float,
    surrogate: Surrogate,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One parallel correction pass: ``H = tau * shift(vhat) + x``; returns ``(S, V)``."""
    h = x + tau * shift_in_time(v_prev_estimate)
    s = surrogate(h - threshold)
    return s, (1.0 - s) * h


def check_mpe_args(
    x: torch.Tensor,
    threshold: "float | torch.Tensor",
    tau: float,
    estimator: str,
    refine_steps: int,
    noise: torch.Tensor | None,
    surrogate: "str | Surrogate",
    alpha: float | None = None,
) -> tuple[float, int, Surrogate]:
    """Check the arguments of :func:`mpe_psn`; returns ``(tau, refine_steps, surrogate)`` resolved."""
    check_time_major(x)
    check_threshold(threshold)
    tau = check_tau(tau)
    check_estimator(estimator)
    refine_steps = check_refine_steps(refine_steps)
    surrogate = get_surrogate(surrogate, alpha)
    if noise is not None:
        if estimator != "bernoulli":
            raise ValueError("noise is only used by the 'bernoulli' estimator")
        check_noise(noise, x)
    return tau, refine_steps, surrogate


def mpe_psn(
    x: torch.Tensor,
    threshold: "float | torch.Tensor" = 1.0,
    tau: float = 0.25,
    estimator: str = "bernoulli",
    refine_steps: int = 0,
    noise: torch.Tensor | None = None,
    surrogate: "str | Surrogate" = "triangular",
    alpha: float | None = None,
    generator: torch.Generator | None = None,
) -> MPEResult:
    """MPE-PSN over all time steps of ``x`` [T, ...] in parallel (plain PyTorch, any device).

    Args:
        x: input currents, time-major, floating point.
        threshold: firing threshold, a float or a (learnable) tensor broadcastable to ``x[t]``.
        tau: decay factor of the LIF being approximated, in [0, 1].
        estimator: ``"bernoulli"`` (sampled, the paper) or ``"expected"`` (deterministic).
        refine_steps: extra correction passes; ``>= T - 1`` gives the exact LIF.
        noise: optional uniform [0, 1) numbers shaped like ``x`` for the Bernoulli sample
            (``b = noise < sigmoid(x)``); drawn from ``generator`` (or the global RNG) if None.
        surrogate, alpha: the surrogate gradient of the spike (see ``functional.surrogate``).
        generator: the random source of the Bernoulli sample when ``noise`` is None.

    Returns:
        ``MPEResult(spikes, v_hat, v)``. Non-finite input gives NaN spikes and potentials at
        the affected steps (see ``functional.surrogate``); it never becomes a valid spike.

    This is the reference. The fused kernels (same arguments plus ``backend``) are
    :func:`mpe_psn.ops.mpe_psn`; a network layer uses :class:`mpe_psn.MPEPSN`.
    """
    tau, refine_steps, surrogate = check_mpe_args(x, threshold, tau, estimator, refine_steps, noise, surrogate, alpha)
    return mpe_psn_unchecked(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)


def mpe_psn_unchecked(
    x: torch.Tensor,
    threshold: "float | torch.Tensor",
    tau: float,
    estimator: str,
    refine_steps: int,
    noise: torch.Tensor | None,
    surrogate: Surrogate,
    generator: torch.Generator | None = None,
) -> MPEResult:
    """The reference computation of :func:`mpe_psn` without argument checks (for callers that checked)."""
    v_hat = estimate_potential(x, estimator, noise, generator)
    s, v = correct(x, v_hat, threshold, tau, surrogate)
    for _ in range(min(refine_steps, x.shape[0] - 1)):  # more passes than T - 1 change nothing
        s, v = correct(x, v, threshold, tau, surrogate)
    return MPEResult(s, v_hat, v)


def kappa_weighted_mean(per_step: torch.Tensor, kappa: torch.Tensor | None = None) -> torch.Tensor:
    """``mean_t kappa[t] * per_step[t]`` for a per-step quantity [T]; ``kappa=None`` is uniform ``1/T``.

    The one weighting of the membrane loss: :func:`membrane_loss_terms` and the fused layer
    (which gets ``per_step`` from its kernels) both call it.
    """
    T = per_step.shape[0]
    if kappa is None:
        return per_step.mean() / T
    if kappa.shape != (T,):
        raise ValueError(f"kappa must have one weight per time step, shape ({T},), got {tuple(kappa.shape)}")
    return (kappa.to(per_step.dtype) * per_step).mean()


def membrane_loss_terms(v_hat: torch.Tensor, v: torch.Tensor, kappa: torch.Tensor | None = None) -> torch.Tensor:
    """``L_mem = mean(kappa[t] * (vhat - V)**2)`` over all elements of [T, ...].

    ``kappa`` has one weight per time step (shape [T]) and weights time steps only, whatever
    the feature dims; ``None`` means uniform ``1 / T``.
    """
    T = v_hat.shape[0]
    per_step = (v_hat - v).pow(2).reshape(T, -1).mean(dim=1)  # [T]
    return kappa_weighted_mean(per_step, kappa)
