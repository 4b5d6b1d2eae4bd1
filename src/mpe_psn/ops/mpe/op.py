"""The fused MPE-PSN layer as PyTorch custom ops (``torch.library``) with a hand-written backward.

``mpe_psn::layer(x, threshold, seed, noise, ...) -> (spikes, step_err, mask)``
    ``x`` [T, ...] any float dtype, ``threshold`` 0-dim float32, ``seed`` 0-dim int64 (CPU),
    ``noise`` optional uniform float32 shaped like ``x`` (replaces the in-kernel hash).
    ``step_err[t] = mean over neurons of (vhat[t] - V[t])**2`` (float32 [T]); the membrane
    loss ``mean_t kappa[t] * step_err[t]`` is formed outside, so kappa's gradient is autograd's.
    ``mask``: the CPU kernel's one byte per element recording the sample (uint8, shaped like
    ``x``; empty on the GPU and when nothing is sampled), so its backward needs no hash or exp.
    Saved for backward: ``x``, ``threshold``, ``seed``, ``mask`` (and ``noise`` if given).

``mpe_psn::layer_backward``: ``(dL/dx, dL/dthreshold)`` from ``dL/dspikes`` and ``dL/dstep_err``,
    recomputing the sample from the seed (one fused pass when ``passes == 1``).

``mpe_psn::potentials``: spikes, vhat and V (the functional API); its backward re-runs the
    reference in float32 on the same noise (it serves analyses, not training; eager only).

Each op has a fake (meta) implementation, so ``torch.compile(fullgraph=True)`` traces through
it, and ``torch.library.opcheck`` passes. Integer codes: estimator 0 hash-Bernoulli,
1 external-noise Bernoulli, 2 expected; surrogate 0 triangular, 1 sigmoid, 2 arctan.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mpe_psn.ops.mpe import passes as P
from mpe_psn.ops.mpe.noise import hash_uniform, seed_keys

SURROGATE_NAMES = {code: name for name, code in P.SURROGATE_CODES.items()}


def kernels_for(backend: str):
    """The host module of a fused backend."""
    if backend == "cpu":
        from mpe_psn.ops.mpe import cpu_host

        return cpu_host
    if backend == "triton":
        from mpe_psn.ops.mpe import triton_host

        return triton_host
    raise ValueError(f"no fused kernels for backend {backend!r}")


def _config(x: Tensor, threshold: Tensor, seed: Tensor, estimator: int, tau: float, surrogate: int, alpha: float) -> P.PassConfig:
    k1, k2 = seed_keys(int(seed)) if estimator == P.EST_HASH else (0, 0)
    theta = threshold.detach().to(device=x.device, dtype=torch.float32).reshape(())
    return P.PassConfig(estimator, k1, k2, float(tau), theta, int(surrogate), float(alpha))


def _as_2d(t: Optional[Tensor], T: int) -> Optional[Tensor]:
    return None if t is None else t.detach().reshape(T, -1).contiguous()


def _noise_2d(noise: Optional[Tensor], T: int) -> Optional[Tensor]:
    return None if noise is None else noise.detach().to(torch.float32).reshape(T, -1).contiguous()


def uses_mask(x: Tensor, estimator: int, passes: int, backend: str) -> bool:
    """Whether the forward records the samples (the CPU kernel, hash sampling, no refinement)."""
    return backend == "cpu" and estimator == P.EST_HASH and passes == 1 and x.numel() > 0


def _layer_impl(
    x: Tensor, threshold: Tensor, seed: Tensor, noise: Optional[Tensor], tau: float, estimator: int,
    passes: int, surrogate: int, alpha: float, backend: str,
) -> tuple[Tensor, Tensor, Tensor]:
    T = x.shape[0]
    cfg = _config(x, threshold, seed, estimator, tau, surrogate, alpha)
    want_mask = uses_mask(x, estimator, passes, backend)
    spikes2, step_err, _, _, mask = P.run_forward(
        kernels_for(backend), _as_2d(x, T), _noise_2d(noise, T), cfg, passes, False, want_mask
    )
    mask = mask.reshape(x.shape) if want_mask else x.new_empty((0,), dtype=torch.uint8)
    return spikes2.reshape(x.shape), step_err.to(x.device), mask


layer = torch.library.custom_op("mpe_psn::layer", _layer_impl, mutates_args=())


@layer.register_fake
def _layer_fake(x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend):
    mask_shape = x.shape if uses_mask(x, estimator, passes, backend) else (0,)
    return (
        torch.empty_like(x, memory_format=torch.contiguous_format),
        x.new_empty((x.shape[0],), dtype=torch.float32),
        x.new_empty(mask_shape, dtype=torch.uint8),
    )


def _layer_backward_impl(
    x: Tensor, threshold: Tensor, seed: Tensor, noise: Optional[Tensor], mask: Tensor, g_spikes: Tensor, g_err: Tensor,
    tau: float, estimator: int, passes: int, surrogate: int, alpha: float, backend: str,
) -> tuple[Tensor, Tensor]:
    T = x.shape[0]
    cfg = _config(x, threshold, seed, estimator, tau, surrogate, alpha)
    # an expanded scalar gradient (from spikes.sum()) stays a stride-0 view: the kernels read one value
    g_s = g_spikes.detach().reshape(T, -1) if P.is_constant(g_spikes) else _as_2d(g_spikes, T)
    gx2, g_theta = P.run_backward(
        kernels_for(backend), _as_2d(x, T), _noise_2d(noise, T), cfg, passes,
        g_s, g_err.detach().to(device=x.device, dtype=torch.float32),
        _as_2d(mask, T) if mask.numel() > 0 else None,
    )
    return gx2.reshape(x.shape), g_theta.to(device=threshold.device, dtype=threshold.dtype).reshape(threshold.shape)


layer_backward = torch.library.custom_op("mpe_psn::layer_backward", _layer_backward_impl, mutates_args=())


@layer_backward.register_fake
def _layer_backward_fake(x, threshold, seed, noise, mask, g_spikes, g_err, tau, estimator, passes, surrogate, alpha, backend):
    return torch.empty_like(x, memory_format=torch.contiguous_format), torch.empty_like(threshold)


def _layer_setup(ctx, inputs, output):
    x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend = inputs
    ctx.has_noise = noise is not None  # None is not saved (torch.compile drops it)
    ctx.save_for_backward(x, threshold, seed, output[2], *([noise] if noise is not None else []))
    ctx.args = (tau, estimator, passes, surrogate, alpha, backend)


def _gradients(ctx, g_spikes, g_err, backward):
    """The inputs' gradients from what ``_layer_setup`` saved, through ``backward``."""
    x, threshold, seed, mask, *rest = ctx.saved_tensors
    noise = rest[0] if ctx.has_noise else None
    if g_spikes is None:
        g_spikes = torch.zeros_like(x)
    if g_err is None:
        g_err = x.new_zeros((x.shape[0],), dtype=torch.float32)
    gx, g_theta = backward(x, threshold, seed, noise, mask, g_spikes, g_err, *ctx.args)
    return gx, g_theta, None, None, None, None, None, None, None, None


def _layer_grad(ctx, g_spikes, g_err, g_mask):
    return _gradients(ctx, g_spikes, g_err, layer_backward)


torch.library.register_autograd("mpe_psn::layer", _layer_grad, setup_context=_layer_setup)


class _EagerLayer(torch.autograd.Function):
    """The same forward and backward as ``mpe_psn::layer`` without the custom-op dispatch
    (about 0.1 ms per call in eager mode, most of a small layer's time). Used outside
    ``torch.compile``; the op is what compiled graphs, export and ``opcheck`` see."""

    @staticmethod
    def forward(ctx, x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend):
        output = _layer_impl(x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend)
        _layer_setup(ctx, (x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend), output)
        return output

    @staticmethod
    def backward(ctx, g_spikes, g_err, g_mask):
        return _gradients(ctx, g_spikes, g_err, _layer_backward_impl)


def run_layer(*args) -> tuple[Tensor, Tensor, Tensor]:
    """``mpe_psn::layer`` when traced (``torch.compile``, ``torch.export``, or any tensor
    subclass such as fake tensors), else its eager twin ``_EagerLayer``."""
    x = args[0]
    if torch.compiler.is_compiling() or torch.compiler.is_exporting() or type(x) is not torch.Tensor:
        return layer(*args)
    return _EagerLayer.apply(*args)


@torch.library.custom_op("mpe_psn::potentials", mutates_args=())
def potentials(
    x: Tensor, threshold: Tensor, seed: Tensor, noise: Optional[Tensor], tau: float, estimator: int,
    passes: int, surrogate: int, alpha: float, backend: str,
) -> tuple[Tensor, Tensor, Tensor]:
    T = x.shape[0]
    cfg = _config(x, threshold, seed, estimator, tau, surrogate, alpha)
    spikes2, _, vhat2, v2, _ = P.run_forward(kernels_for(backend), _as_2d(x, T), _noise_2d(noise, T), cfg, passes, True)
    return spikes2.reshape(x.shape), vhat2.to(x.dtype).reshape(x.shape), v2.to(x.dtype).reshape(x.shape)


@potentials.register_fake
def _potentials_fake(x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend):
    return tuple(torch.empty_like(x, memory_format=torch.contiguous_format) for _ in range(3))


def reference_on_same_noise(x: Tensor, threshold: Tensor, seed: Tensor, noise: Optional[Tensor], tau: float,
                            estimator: int, passes: int, surrogate: int, alpha: float):
    """The reference (``functional.mpe_psn``) in float32 on exactly the fused path's noise."""
    from mpe_psn.functional.mpe import mpe_psn_unchecked
    from mpe_psn.functional.surrogate import get_surrogate

    x32 = x.to(torch.float32)
    if estimator == P.EST_HASH:
        noise = hash_uniform(int(seed), x.shape, x.device)
    elif noise is not None:
        noise = noise.to(torch.float32)
    name = "expected" if estimator == P.EST_EXPECTED else "bernoulli"
    return x32, mpe_psn_unchecked(
        x32, threshold.to(torch.float32), tau, name, passes - 1, noise, get_surrogate(SURROGATE_NAMES[surrogate], alpha)
    )


def _potentials_setup(ctx, inputs, output):
    x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend = inputs
    ctx.has_noise = noise is not None
    ctx.save_for_backward(x, threshold, seed, *([noise] if noise is not None else []))
    ctx.args = (tau, estimator, passes, surrogate, alpha)


def _potentials_grad(ctx, g_spikes, g_vhat, g_v):
    """Re-run the reference in float32 on the same noise and let autograd differentiate it.

    Runs at the autograd level (not inside an op), so this output's gradient is eager-only:
    ``torch.compile`` users train through ``mpe_psn::layer`` (``mpe_psn_layer``/``MPEPSN``).
    """
    x, threshold, seed, *rest = ctx.saved_tensors
    noise = rest[0] if ctx.has_noise else None
    with torch.enable_grad():
        x32 = x.detach().to(torch.float32).requires_grad_(True)
        th = threshold.detach().to(torch.float32).requires_grad_(True)
        _, out = reference_on_same_noise(x32, th, seed, noise, *ctx.args)
        total = x32.new_zeros(())
        for value, grad in zip(out, (g_spikes, g_vhat, g_v)):
            if grad is not None:
                total = total + (value * grad.to(torch.float32)).sum()
        gx, g_theta = torch.autograd.grad(total, [x32, th], allow_unused=True)
    gx = torch.zeros_like(x) if gx is None else gx.to(x.dtype)
    g_theta = torch.zeros_like(threshold) if g_theta is None else g_theta.to(threshold.dtype).reshape(threshold.shape)
    return gx, g_theta, None, None, None, None, None, None, None, None


torch.library.register_autograd("mpe_psn::potentials", _potentials_grad, setup_context=_potentials_setup)
