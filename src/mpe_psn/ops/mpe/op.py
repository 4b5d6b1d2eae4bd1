"""The fused MPE-PSN layer: one forward and one backward on a backend's host (``passes.py``), as
an eager autograd Function and as PyTorch custom ops (``torch.library``) for compiled graphs.

Eager calls (:func:`run_layer`) go straight to the host: under ``torch.no_grad()`` (or when
nothing needs a gradient) without any autograd Function, otherwise through ``_EagerLayer``.
Compiled graphs, ``torch.export`` and tensor subclasses see the custom ops:

``mpe_psn::layer(x, threshold, kappa, noise, seed, ..., kappa_softmax) -> (spikes, mem_loss, step_err, mask)``
    ``x`` [T, ...] any float dtype (contiguous), ``threshold`` 0-dim float32, ``kappa`` float32
    [T] (weights, or logits whose softmax weighs the steps when ``kappa_softmax``) or None
    (uniform), ``noise`` uniform float32 shaped like ``x`` or None, ``seed`` 0-dim int64 on x's
    device or None (nothing sampled). ``mem_loss = sum_t w[t] step_err[t]`` (``passes.py``);
    ``step_err`` float32 [T] when kappa is given, else empty; ``mask`` the
    CPU kernel's one byte per element recording the sample (empty elsewhere), so its backward
    needs no hash or exp. Saved for backward: ``x``, ``threshold``, ``kappa``, ``noise``,
    ``seed``, ``mask``, ``step_err``.

``mpe_psn::layer_backward``: ``(dL/dx, dL/dthreshold, dL/dkappa)`` from ``dL/dspikes`` and
    ``dL/dmem_loss`` (either may be None), recomputing the sample from the seed.

``mpe_psn::potentials``: spikes, vhat and V (the functional API); its backward re-runs the
    reference in float32 on the same noise (it serves analyses, not training; eager only).

Each op has a fake (meta) implementation, so ``torch.compile(fullgraph=True)`` traces through
it, and ``torch.library.opcheck`` passes. The integer codes are those of ``codes.py``.

A backend may also give the layer as an op whose kernels a compiled graph sees
(:data:`GRAPH_LAYERS`; ``triton_op.py``: ``mpe_psn::triton_layer``, the same schema, body and
autograd registered with ``torch.library.triton_op``). ``torch.compile`` then calls that op
instead of the opaque ``mpe_psn::layer``; ``torch.export`` keeps ``mpe_psn::layer``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np
import torch
from torch import Tensor

from mpe_psn.functional.mpe import mpe_psn_unchecked
from mpe_psn.functional.surrogate import get_surrogate
from mpe_psn.ops import registry
from mpe_psn.ops.mpe.codes import EST_EXPECTED, EST_HASH, SURROGATE_NAMES
from mpe_psn.ops.mpe.noise import hash_uniform
from mpe_psn.ops.mpe.passes import Forward, PassConfig, run_backward, run_forward, uses_mask


class Setting(NamedTuple):
    """One kernel setting of the layer: the backend and its host module, codes and numbers,
    whether kappa holds logits (a learned kappa: its softmax is taken inside the layer), and
    whether the layer reads its seed only in the forward (the CPU kernel's one-pass sampling:
    the backward reads the sample record), so a seed buffer may be reused after it."""

    backend: str
    host: object
    cfg: PassConfig
    passes: int
    kappa_softmax: bool
    seed_read_once: bool


#: (backend, estimator code, passes, surrogate code, alpha, tau, kappa_softmax) -> Setting; a
#: plain dict, so torch.compile traces through it
_settings: dict[tuple, Setting] = {}

#: backend -> the layer as an op whose kernels compiled graphs see (the schema of ``mpe_psn::layer``),
#: set by the backend's module when it can be traced (``triton_op.py``); other backends are the
#: opaque ``mpe_psn::layer`` in a compiled graph
GRAPH_LAYERS: dict[str, Callable] = {}


def _host(backend: str):
    """The host module of ``backend``, a fused backend of op "mpe" (imported on first use). By
    name, not through ``backends.py``: the Triton host imports this module (``triton_op.py``)."""
    return registry.backends("mpe")[backend].host()


def setting(backend: str, estimator: int, passes: int, surrogate: int, alpha: float, tau: float,
            kappa_softmax: bool = False, in_op: bool = False) -> Setting:
    """The (cached) :class:`Setting` of these codes on ``backend`` (a fused backend of op "mpe").

    Inside ``torch.compile`` it has no host (the traced code must not import one), unless
    ``in_op``: an op's body, which needs the host even while a graph is traced (a triton_op's
    body is traced into its kernels). Only eager calls fill the cache: the traced code's guards
    read it."""
    key = (backend, estimator, passes, surrogate, alpha, tau, kappa_softmax)
    found = _settings.get(key)
    if found is None:
        compiling = torch.compiler.is_compiling()
        cfg = PassConfig(estimator, float(tau), surrogate, float(alpha))
        if compiling and not in_op:  # a traced graph calls the ops, which make their own setting
            return Setting(backend, None, cfg, passes, bool(kappa_softmax), False)
        host = _host(backend)
        found = Setting(backend, host, cfg, passes, bool(kappa_softmax), uses_mask(host, cfg, passes))
        if not compiling:
            _settings[key] = found
    return found


def forward(x: Tensor, threshold: Tensor, kappa: Optional[Tensor], noise: Optional[Tensor], seed: Optional[Tensor],
            s: Setting, store_pot: bool = False, for_backward: bool = True) -> Forward:
    """Every pass of the layer on ``s``'s host (arguments as ``mpe_psn::layer`` takes them)."""
    host = s.host
    return run_forward(host, x, host.threshold(threshold, x.device), host.kappa(kappa, s.kappa_softmax), noise,
                       host.seed(seed), s.cfg, s.passes, store_pot, for_backward)


def backward(x, threshold, weights, noise, seed, mask, step_err, g_spikes, g_loss, s: Setting, needs):
    """``(dL/dx, dL/dthreshold, dL/dkappa)``, each None unless ``needs`` asks for it; ``weights``
    is the forward's handle of kappa (``Forward.weights``)."""
    host = s.host
    return run_backward(host, x, host.threshold(threshold, x.device), weights, noise, host.seed(seed), mask,
                        step_err, s.cfg, s.passes, g_spikes, g_loss, needs)


class _EagerLayer(torch.autograd.Function):
    """The forward and backward of ``mpe_psn::layer`` without the custom-op dispatch (about
    0.1 ms per call in eager mode, most of a small layer's time). Used outside
    ``torch.compile``; the op is what compiled graphs, export and ``opcheck`` see."""

    @staticmethod
    def forward(ctx, x, threshold, kappa, noise, seed, s):
        out = forward(x, threshold, kappa, noise, seed, s)
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None: no zeros made
        # a seed read only by the forward may be a reused buffer (``Setting.seed_read_once``): not kept
        ctx.save_for_backward(x, threshold, kappa, noise, None if s.seed_read_once else seed, out.mask)
        ctx.setting, ctx.step_err, ctx.weights = s, out.step_err, out.weights
        return out.spikes, out.mem_loss

    @staticmethod
    def backward(ctx, g_spikes, g_loss):
        x, threshold, kappa, noise, seed, mask = ctx.saved_tensors  # kappa: kept alive for the weights' handle
        gx, g_theta, g_kappa = backward(x, threshold, ctx.weights, noise, seed, mask, ctx.step_err, g_spikes, g_loss,
                                        ctx.setting, ctx.needs_input_grad[:3])
        return gx, g_theta, g_kappa, None, None, None


def run_layer(x: Tensor, threshold: Tensor, kappa: Optional[Tensor], noise: Optional[Tensor], seed: Optional[Tensor],
              s: Setting) -> tuple[Tensor, Tensor]:
    """``(spikes, mem_loss)``: ``mpe_psn::layer`` when traced (``torch.compile``, ``torch.export``,
    or any tensor subclass such as fake tensors), else the host directly (through ``_EagerLayer``
    when a gradient is needed)."""
    if torch.compiler.is_compiling() or torch.compiler.is_exporting() or type(x) is not torch.Tensor:
        op = layer
        if torch.compiler.is_compiling() and not torch.compiler.is_exporting():
            op = GRAPH_LAYERS.get(s.backend, layer)
        spikes, mem_loss, _, _ = op(x, threshold, kappa, noise, seed, s.cfg.tau, s.cfg.est_mode, s.passes,
                                    s.cfg.surrogate, s.cfg.alpha, s.backend, s.kappa_softmax)
        return spikes, mem_loss
    return run_eager(x, threshold, kappa, noise, seed, s)


def run_eager(x: Tensor, threshold: Tensor, kappa: Optional[Tensor], noise: Optional[Tensor], seed: Optional[Tensor],
              s: Setting) -> tuple[Tensor, Tensor]:
    """:func:`run_layer` on plain tensors outside a traced graph (the caller knows it is so)."""
    if torch.is_grad_enabled() and (x.requires_grad or threshold.requires_grad or (kappa is not None and kappa.requires_grad)):
        return _EagerLayer.apply(x, threshold, kappa, noise, seed, s)
    out = forward(x, threshold, kappa, noise, seed, s, for_backward=False)
    return out.spikes, out.mem_loss


def _step_err_tensor(step_err, kappa: Optional[Tensor], x: Tensor) -> Tensor:
    """The op's ``step_err`` output: [T] float32 when kappa is given (a host's numpy array
    shared, not copied), else empty."""
    if kappa is None or step_err is None:
        return x.new_empty((0,), dtype=torch.float32)
    return torch.from_numpy(step_err) if isinstance(step_err, np.ndarray) else step_err


def layer_outputs(
    x: Tensor, threshold: Tensor, kappa: Optional[Tensor], noise: Optional[Tensor], seed: Optional[Tensor], tau: float,
    estimator: int, passes: int, surrogate: int, alpha: float, backend: str, kappa_softmax: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The body of ``mpe_psn::layer`` (and of a backend's graph op, :data:`GRAPH_LAYERS`)."""
    s = setting(backend, estimator, passes, surrogate, alpha, tau, kappa_softmax, in_op=True)
    out = forward(x, threshold, kappa, noise, seed, s)
    mask = out.mask if out.mask is not None else x.new_empty((0,), dtype=torch.uint8)
    return out.spikes, out.mem_loss, _step_err_tensor(out.step_err, kappa, x), mask


layer = torch.library.custom_op("mpe_psn::layer", layer_outputs, mutates_args=())


@layer.register_fake
def _layer_fake(x, threshold, kappa, noise, seed, tau, estimator, passes, surrogate, alpha, backend, kappa_softmax):
    host = _host(backend)  # not setting(): that one knows no host while compiling
    mask = uses_mask(host, PassConfig(estimator, tau, surrogate, alpha), passes)
    return (
        torch.empty_like(x, memory_format=torch.contiguous_format),
        x.new_empty((), dtype=torch.float32),
        x.new_empty((x.shape[0] if kappa is not None else 0,), dtype=torch.float32),
        x.new_empty(x.shape if mask else (0,), dtype=torch.uint8),
    )


def layer_gradients(
    x: Tensor, threshold: Tensor, kappa: Optional[Tensor], noise: Optional[Tensor], seed: Optional[Tensor], mask: Tensor,
    step_err: Tensor, g_spikes: Optional[Tensor], g_loss: Optional[Tensor], tau: float, estimator: int, passes: int,
    surrogate: int, alpha: float, backend: str, kappa_softmax: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """The body of ``mpe_psn::layer_backward`` (and of a graph op's backward)."""
    s = setting(backend, estimator, passes, surrogate, alpha, tau, kappa_softmax, in_op=True)
    gx, g_theta, g_kappa = backward(
        x, threshold, s.host.kappa(kappa, kappa_softmax), noise, seed, mask if mask.numel() > 0 else None,
        step_err if kappa is not None else None, g_spikes, g_loss, s, (True, True, kappa is not None),
    )
    return gx, g_theta, g_kappa if g_kappa is not None else x.new_empty((0,), dtype=torch.float32)


layer_backward = torch.library.custom_op("mpe_psn::layer_backward", layer_gradients, mutates_args=())


@layer_backward.register_fake
def _layer_backward_fake(x, threshold, kappa, noise, seed, mask, step_err, g_spikes, g_loss, tau, estimator, passes,
                         surrogate, alpha, backend, kappa_softmax):
    g_kappa = torch.empty_like(kappa) if kappa is not None else x.new_empty((0,), dtype=torch.float32)
    return torch.empty_like(x, memory_format=torch.contiguous_format), torch.empty_like(threshold), g_kappa


def _layer_setup(ctx, inputs, output):
    x, threshold, kappa, noise, seed, tau, estimator, passes, surrogate, alpha, backend, kappa_softmax = inputs
    ctx.optional = (kappa is not None, noise is not None, seed is not None)  # None is not saved (torch.compile drops it)
    ctx.save_for_backward(x, threshold, output[3], output[2], *(t for t in (kappa, noise, seed) if t is not None))
    ctx.args = (tau, estimator, passes, surrogate, alpha, backend, kappa_softmax)


def register_layer_autograd(name: str, backward_op: Callable) -> None:
    """The autograd of a layer op ``name`` (the schema of ``mpe_psn::layer``): its backward is
    ``backward_op`` (the schema of ``mpe_psn::layer_backward``)."""

    def grad(ctx, g_spikes, g_loss, g_step_err, g_mask):
        x, threshold, mask, step_err, *rest = ctx.saved_tensors
        kappa, noise, seed = (rest.pop(0) if given else None for given in ctx.optional)
        gx, g_theta, g_kappa = backward_op(x, threshold, kappa, noise, seed, mask, step_err, g_spikes, g_loss,
                                           *ctx.args)
        return gx, g_theta, g_kappa if kappa is not None else None, None, None, None, None, None, None, None, None, None

    torch.library.register_autograd(name, grad, setup_context=_layer_setup)


register_layer_autograd("mpe_psn::layer", layer_backward)


@torch.library.custom_op("mpe_psn::potentials", mutates_args=())
def potentials(
    x: Tensor, threshold: Tensor, seed: Optional[Tensor], noise: Optional[Tensor], tau: float, estimator: int,
    passes: int, surrogate: int, alpha: float, backend: str,
) -> tuple[Tensor, Tensor, Tensor]:
    out = forward(x, threshold, None, noise, seed, setting(backend, estimator, passes, surrogate, alpha, tau), True)
    return out.spikes, out.vhat.to(x.dtype), out.v.to(x.dtype)


@potentials.register_fake
def _potentials_fake(x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend):
    return tuple(torch.empty_like(x, memory_format=torch.contiguous_format) for _ in range(3))


def reference_on_same_noise(x: Tensor, threshold: Tensor, seed: Optional[Tensor], noise: Optional[Tensor], tau: float,
                            estimator: int, passes: int, surrogate: int, alpha: float):
    """The reference (``functional.mpe_psn``) in float32 on exactly the fused path's noise."""

    x32 = x.to(torch.float32)
    if estimator == EST_HASH:
        noise = hash_uniform(int(seed), x.shape, x.device)  # an analysis path: one host read is fine here
    elif noise is not None:
        noise = noise.to(torch.float32)
    name = "expected" if estimator == EST_EXPECTED else "bernoulli"
    return x32, mpe_psn_unchecked(
        x32, threshold.to(torch.float32), tau, name, passes - 1, noise, get_surrogate(SURROGATE_NAMES[surrogate], alpha)
    )


def _potentials_setup(ctx, inputs, output):
    x, threshold, seed, noise, tau, estimator, passes, surrogate, alpha, backend = inputs
    ctx.optional = (seed is not None, noise is not None)
    ctx.save_for_backward(x, threshold, *(t for t in (seed, noise) if t is not None))
    ctx.args = (tau, estimator, passes, surrogate, alpha)


def _potentials_grad(ctx, g_spikes, g_vhat, g_v):
    """Re-run the reference in float32 on the same noise and let autograd differentiate it.

    Runs at the autograd level (not inside an op), so this output's gradient is eager-only:
    ``torch.compile`` users train through ``mpe_psn::layer`` (``mpe_psn_layer``/``MPEPSN``).
    """
    x, threshold, *rest = ctx.saved_tensors
    seed, noise = (rest.pop(0) if given else None for given in ctx.optional)
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
