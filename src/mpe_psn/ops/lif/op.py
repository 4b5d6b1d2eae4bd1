"""The fused exact LIF as PyTorch custom ops (``torch.library``) with a hand-written backward.

``mpe_psn::lif(x, threshold, tau, surrogate, alpha, backend) -> spikes``
    ``x`` [T, ...] float32/float16/bfloat16; ``threshold`` float32, broadcastable to
    ``x.shape[1:]`` (one value, or one per channel / per neuron); spikes in x's dtype.
    Saved for backward: ``x`` and ``threshold``, nothing else (2 or 4 bytes per element).

``mpe_psn::lif_backward``: ``(dL/dx, dL/dthreshold)`` from ``dL/dspikes``; recomputes ``H``
    from ``x`` and walks time in reverse (see ``cpu_kernels``), then sums the per-neuron
    threshold gradient down to the threshold's shape.

Both ops have fake (meta) implementations, so ``torch.compile(fullgraph=True)`` traces them
and ``torch.library.opcheck`` passes. Eager calls go through the twin ``_EagerLIF`` (the same
implementation without the custom-op dispatch, as ``ops/mpe/op.py`` does). ``surrogate`` is a
code of ``ops.mpe.codes.SURROGATE_CODES``; ``backend`` a name registered for op ``"lif"``.

A backend may give the op as one whose kernels a compiled graph sees (:data:`GRAPH_LIFS`;
``triton_op.py``: ``mpe_psn::triton_lif``, the same schema, body and autograd registered with
``torch.library.triton_op``): ``torch.compile`` calls it instead of ``mpe_psn::lif``, while
``torch.export`` keeps ``mpe_psn::lif``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from mpe_psn.ops import registry


#: backend -> the op whose kernels compiled graphs see (the schema of ``mpe_psn::lif``), set by
#: the backend's module when it can be traced (``triton_op.py``)
GRAPH_LIFS: dict[str, Callable] = {}


def _host(backend: str):
    return registry.backends("lif")[backend].host()


def _thresholds(threshold: Tensor, x: Tensor) -> Tensor:
    """The kernels' threshold: float32 [1] (one value) or [N] (``threshold`` broadcast to ``x.shape[1:]``)."""
    if threshold.numel() == 1:
        return threshold.detach().reshape(1).contiguous()
    return threshold.detach().expand(x.shape[1:]).reshape(-1).contiguous()


def lif_outputs(x: Tensor, threshold: Tensor, tau: float, surrogate: int, alpha: float, backend: str) -> Tensor:
    """The body of ``mpe_psn::lif`` (and of a backend's graph op, :data:`GRAPH_LIFS`)."""
    T = x.shape[0]
    x2 = x.detach().reshape(T, -1).contiguous()
    spikes = torch.empty_like(x2)
    _host(backend).forward(x2, _thresholds(threshold, x), tau, spikes)
    return spikes.reshape(x.shape)


lif = torch.library.custom_op("mpe_psn::lif", lif_outputs, mutates_args=())


@lif.register_fake
def _lif_fake(x, threshold, tau, surrogate, alpha, backend):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def lif_gradients(x: Tensor, threshold: Tensor, g_spikes: Tensor, tau: float, surrogate: int, alpha: float,
                  backend: str) -> tuple[Tensor, Tensor]:
    """The body of ``mpe_psn::lif_backward`` (and of a graph op's backward)."""
    T = x.shape[0]
    x2 = x.detach().reshape(T, -1).contiguous()
    gx = torch.empty_like(x2)
    g_theta = _host(backend).backward(x2, _thresholds(threshold, x), tau, surrogate, alpha,
                                      g_spikes.detach().reshape(T, -1), gx)
    if threshold.numel() == 1:
        g_theta = g_theta.sum()
    else:
        g_theta = g_theta.reshape(x.shape[1:]).sum_to_size(threshold.shape)
    return gx.reshape(x.shape), g_theta.to(device=threshold.device, dtype=threshold.dtype).reshape(threshold.shape)


lif_backward = torch.library.custom_op("mpe_psn::lif_backward", lif_gradients, mutates_args=())


@lif_backward.register_fake
def _lif_backward_fake(x, threshold, g_spikes, tau, surrogate, alpha, backend):
    return torch.empty_like(x, memory_format=torch.contiguous_format), torch.empty_like(threshold)


def _setup(ctx, inputs, output) -> None:
    x, threshold, tau, surrogate, alpha, backend = inputs
    ctx.save_for_backward(x, threshold)
    ctx.args = (tau, surrogate, alpha, backend)


def _gradients(ctx, g_spikes, backward) -> tuple:
    x, threshold = ctx.saved_tensors
    gx, g_theta = backward(x, threshold, g_spikes, *ctx.args)
    return gx, g_theta, None, None, None, None


def register_lif_autograd(name: str, backward_op: Callable) -> None:
    """The autograd of a LIF op ``name`` (the schema of ``mpe_psn::lif``): its backward is
    ``backward_op`` (the schema of ``mpe_psn::lif_backward``)."""

    def grad(ctx, g_spikes):
        return _gradients(ctx, g_spikes, backward_op)

    torch.library.register_autograd(name, grad, setup_context=_setup)


register_lif_autograd("mpe_psn::lif", lif_backward)


class _EagerLIF(torch.autograd.Function):
    """``mpe_psn::lif``'s forward and backward without the custom-op dispatch (used outside
    ``torch.compile`` / export; the op is what compiled graphs and ``opcheck`` see)."""

    @staticmethod
    def forward(ctx, x, threshold, tau, surrogate, alpha, backend):
        # ctx in forward (no separate setup_context): apply() then skips an inspect.signature bind per call
        _setup(ctx, (x, threshold, tau, surrogate, alpha, backend), None)
        return lif_outputs(x, threshold, tau, surrogate, alpha, backend)

    @staticmethod
    def backward(ctx, g_spikes):
        return _gradients(ctx, g_spikes, lif_gradients)


def run_lif(x: Tensor, threshold: Tensor, tau: float, surrogate: int, alpha: float, backend: str) -> Tensor:
    """``mpe_psn::lif`` when traced (``torch.compile``, ``torch.export``, fake tensors; under
    ``torch.compile`` the backend's graph op if it has one), else ``_EagerLIF``."""
    if torch.compiler.is_compiling() or torch.compiler.is_exporting() or type(x) is not torch.Tensor:
        op = lif
        if torch.compiler.is_compiling() and not torch.compiler.is_exporting():
            op = GRAPH_LIFS.get(backend, lif)
        return op(x, threshold, tau, surrogate, alpha, backend)
    return _EagerLIF.apply(x, threshold, tau, surrogate, alpha, backend)
