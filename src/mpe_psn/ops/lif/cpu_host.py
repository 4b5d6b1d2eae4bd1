"""Launch the numba LIF kernels (``cpu_kernels``) on torch tensors [T, N].

The neuron blocks are split across threads by the pool every fused op shares
(``ops/common/threads.py``: up to ``torch.get_num_threads()`` threads, one contiguous range of
blocks each, one thread below ``MIN_WORK`` elements per thread). float16/bfloat16 inputs are
widened to float32 for the kernel (numba has no bfloat16) and the outputs narrowed back; the
math is float32 either way.
"""

from __future__ import annotations

import numpy as np
import torch

from mpe_psn.ops.common.tensors import is_constant
from mpe_psn.ops.common.threads import run_blocks
from mpe_psn.ops.lif import cpu_kernels as K

#: the backward's recomputed H of one sub-block, ``T * width`` float32, stays below this (an L2's share)
SCRATCH_BYTES = 1 << 18


def _width(T: int) -> int:
    """Neurons per backward sub-block: a power of two from 16 to ``K.BLOCK``, ``T * width * 4 <= SCRATCH_BYTES``."""
    width = K.BLOCK
    while width > 16 and T * width * 4 > SCRATCH_BYTES:
        width //= 2
    return width


def _f32(t: torch.Tensor) -> np.ndarray:
    """A float32 C-contiguous numpy view of ``t`` (a copy when it is another dtype or strided)."""
    return t.detach().to(torch.float32).contiguous().numpy()


def _out(like: torch.Tensor) -> tuple[np.ndarray, bool]:
    """A float32 numpy array the kernel writes, and whether it is ``like``'s own memory."""
    if like.dtype == torch.float32:
        return like.numpy(), True
    return np.empty(tuple(like.shape), dtype=np.float32), False


def forward(x: torch.Tensor, theta: torch.Tensor, tau: float, spikes: torch.Tensor) -> None:
    """Write the spikes of ``x`` [T, N] into ``spikes`` (x's dtype); ``theta`` float32 [N] or [1]."""
    T, N = x.shape
    spk, direct = _out(spikes)
    run_blocks(K.forward, T, N, _f32(x), _f32(theta), theta.numel() > 1, np.float32(tau), spk)
    if not direct:
        spikes.copy_(torch.from_numpy(spk))


def backward(x: torch.Tensor, theta: torch.Tensor, tau: float, surrogate: int, alpha: float,
             g_spikes: torch.Tensor, gx: torch.Tensor) -> torch.Tensor:
    """Write ``dL/dx`` into ``gx`` (x's dtype); returns the per-neuron ``dL/dtheta`` (float32 [N])."""
    T, N = x.shape
    gx_np, direct = _out(gx)
    g_theta = np.empty(N, dtype=np.float32)
    gs_const = is_constant(g_spikes)
    gs = np.full((1, 1), float(g_spikes.reshape(-1)[0]), dtype=np.float32) if gs_const else _f32(g_spikes)
    run_blocks(
        K.backward, T, N, _f32(x), _f32(theta), theta.numel() > 1, np.float32(tau), surrogate, np.float32(alpha),
        gs, gs_const, _width(T), gx_np, g_theta,
    )
    if not direct:
        gx.copy_(torch.from_numpy(gx_np))
    return torch.from_numpy(g_theta)
