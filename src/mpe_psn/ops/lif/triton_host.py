"""Launch the Triton LIF kernels (``triton_kernels``) on torch tensors [T, N].

Block: ``BLOCK`` neurons and ``WARPS`` warps per program on the GPU (not tuned on a GPU yet);
under the interpreter one large block (up to 1024) keeps the Python-level loop short.

On traced tensors (``mpe_psn::triton_lif`` traced inside ``torch.compile``, ``triton_op.py``)
a kernel goes through ``torch.library.wrap_triton``: the graph holds the call, and Inductor
compiles and launches it.
"""

from __future__ import annotations

import torch
import triton

from mpe_psn.ops.lif import triton_kernels as K
from mpe_psn.ops.common.tensors import is_constant

INTERPRETED = K.INTERPRETED
BLOCK, WARPS = 256, 4
#: the kernels' neuron count per step is an int32
MAX_NEURONS = 2**31 - 1


def signature(kernel: str, dtype: str) -> dict[str, str]:
    """The Triton signature of ``kernel`` as the host launches it on x of ``dtype`` ("fp32",
    "fp16", "bf16"): what the offline compile check (tests/ops/test_lif_triton_compile.py) compiles."""
    x = "*" + dtype
    if kernel == "forward_kernel":
        pointers = {"x_ptr": x, "theta_ptr": "*fp32", "s_ptr": x}
        scalars = {"T": "i32", "N": "i32", "theta_step": "i32", "tau": "fp32"}
    else:
        pointers = {"x_ptr": x, "theta_ptr": "*fp32", "gs_ptr": x, "h_ptr": "*fp32", "gx_ptr": x, "gth_ptr": "*fp32"}
        scalars = {"T": "i32", "N": "i32", "theta_step": "i32", "gs_step": "i32", "surr": "i32", "tau": "fp32",
                   "alpha": "fp32"}
    return {**pointers, **scalars, "BLOCK": "constexpr"}


def _setting(N: int) -> tuple[int, int]:
    if K.INTERPRETED:
        return min(1024, triton.next_power_of_2(max(N, 16))), 4
    return BLOCK, WARPS


def _launcher(kernel, x: torch.Tensor, theta: torch.Tensor):
    """``(kernel, theta)`` as launched on ``x``: as they are; when ``x`` is traced (a functional or
    fake tensor, not a plain one) the kernel through ``wrap_triton`` and a copy of ``theta``.
    torch's analysis of what a kernel writes counts ``theta_ptr`` (the offsets that address the
    stores come out of ``_neurons(theta_ptr, ...)``), and ``theta`` may be a view of the op's
    threshold: written through a view, the op would mutate its input."""
    if type(x) is torch.Tensor:
        return kernel, theta
    from torch.library import wrap_triton  # only under torch.compile: eager launches never need it

    return wrap_triton(kernel), theta.clone()


def forward(x: torch.Tensor, theta: torch.Tensor, tau: float, spikes: torch.Tensor) -> None:
    """Write the spikes of ``x`` [T, N] into ``spikes`` (x's dtype); ``theta`` float32 [N] or [1]."""
    T, N = x.shape
    block, warps = _setting(N)
    kernel, theta = _launcher(K.forward_kernel, x, theta)
    kernel[(triton.cdiv(N, block),)](
        x, theta, spikes, T, N, int(theta.numel() > 1), float(tau),
        BLOCK=block, num_warps=warps, enable_fp_fusion=False,
    )


def backward(x: torch.Tensor, theta: torch.Tensor, tau: float, surrogate: int, alpha: float,
             g_spikes: torch.Tensor, gx: torch.Tensor) -> torch.Tensor:
    """Write ``dL/dx`` into ``gx`` (x's dtype); returns the per-neuron ``dL/dtheta`` (float32 [N]).

    Allocates the recomputed ``H`` (float32 [T, N]) for the duration of the call."""
    T, N = x.shape
    block, warps = _setting(N)
    gs_step = 1
    if is_constant(g_spikes):  # the gradient of spikes.sum(): one value, read by every element
        g_spikes, gs_step = g_spikes.reshape(-1)[:1], 0
    else:
        g_spikes = g_spikes.contiguous()
    h = torch.empty((T, N), dtype=torch.float32, device=x.device)
    g_theta = torch.empty(N, dtype=torch.float32, device=x.device)
    kernel, theta = _launcher(K.backward_kernel, x, theta)
    kernel[(triton.cdiv(N, block),)](
        x, theta, g_spikes, h, gx, g_theta, T, N, int(theta.numel() > 1), gs_step, int(surrogate), float(tau),
        float(alpha), BLOCK=block, num_warps=warps, enable_fp_fusion=False,
    )
    return g_theta


from mpe_psn.ops.lif import triton_op  # noqa: E402,F401  (the op as a triton_op, for compiled graphs)
