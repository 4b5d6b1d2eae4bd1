"""Triton helpers shared by the Triton kernels of every fused op (GPU; the CPU under ``TRITON_INTERPRET=1``).

One program owns ``BLOCK`` neurons of a C-contiguous [T, N] tensor. Indices are 64-bit
(:func:`block_offsets`, :func:`flat_index`), so ``T * N`` (and ``pid * BLOCK``) may pass 2**31.
Triton's own cache keys a kernel on the source of every jit function it calls, this file's
included, so no stamp is needed here (unlike ``numba_math``).
"""

from __future__ import annotations

import triton
import triton.language as tl

from mpe_psn.ops.common import codes

SURR_TRIANGULAR = tl.constexpr(codes.SURR_TRIANGULAR)
SURR_SIGMOID = tl.constexpr(codes.SURR_SIGMOID)


@triton.jit
def block_offsets(pid, BLOCK: tl.constexpr):
    """The neuron indices of program ``pid``, as int64 (``pid * BLOCK`` may pass 2**31)."""
    return pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)


@triton.jit
def flat_index(t, N, offs):
    """Flat index of ``[t, offs]`` in a C-contiguous [T, N] tensor, in int64 arithmetic."""
    return N.to(tl.int64) * t + offs


@triton.jit
def surrogate_grad(surr, w, alpha):
    """dS/du for the surrogate code ``surr`` (``codes.SURROGATE_CODES``), a runtime scalar
    (the formulas of ``numba_math.surrogate_grad``)."""
    if surr == SURR_TRIANGULAR:
        g = tl.maximum(alpha - tl.abs(w), 0.0) / (alpha * alpha)
    elif surr == SURR_SIGMOID:
        sgm = 1.0 / (1.0 + tl.exp(-(alpha * w)))
        g = alpha * sgm * (1.0 - sgm)
    else:
        z = 1.5707963267948966 * alpha * w
        g = (alpha / 2.0) / (1.0 + z * z)
    return g
