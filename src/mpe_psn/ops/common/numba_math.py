"""numba device functions and float32 constants shared by the CPU kernels of every fused op.

All arithmetic is float32 (the constants are float32 so numba does not widen to float64).
The functions are ``inline="always"``: each kernel compiles its own copy, specialised on the
call site (a literal surrogate code folds its branch away, so the loop vectorises).

* :func:`surrogate_grad`: dS/du of the surrogates of ``functional.surrogate``;
* :func:`sigmoid`, :func:`exp`: float32 and vectorisable (no libm call);
* ``BLOCK``: the neurons per block of every CPU kernel (``threads.run_blocks`` splits blocks).

**numba's disk cache and this file.** numba invalidates a kernel cached with ``cache=True``
only when the text of the kernel's *own* file changes; functions and constants imported from
another file are compiled into the kernel and not tracked (numba's documentation, "Cache
invalidation fails to recognize changes in functions defined in a different file"). So every
module whose cached kernels use this file carries ``COMMON_SOURCE_STAMP``: the first 16 hex
digits of the sha256 of the text of every project module it imports, transitively, in path
order (this file and ``codes.py``, the surrogate codes compiled in as constants; for MPE-PSN's
kernels also its ``codes.py`` and ``noise.py``, whose hash constants they bake in). A change
there changes the stamp, the stamp's line changes the kernel module's text, and numba
recompiles its kernels: nothing stale is loaded from ``__pycache__``. tests/ops/test_numba_cache.py fails, printing the new stamp, until every such
module carries it. (Clearing ``__pycache__`` by hand would work too, but is easy to forget;
numba has no supported way to declare a dependency on another file.)
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from mpe_psn.ops.common.codes import SURR_SIGMOID, SURR_TRIANGULAR

#: neurons per block of the CPU kernels
BLOCK = 1024

ONE = np.float32(1.0)
ZERO = np.float32(0.0)
TWO = np.float32(2.0)
HALF = np.float32(0.5)
PI_HALF = np.float32(math.pi / 2.0)

LOG2E = np.float32(1.4426950408889634)
LN2_HI = np.float32(0.693359375)
LN2_LO = np.float32(-2.12194440e-4)
EXP_LO = np.float32(-87.0)
EXP_HI = np.float32(88.0)
P0 = np.float32(1.9875691500e-4)
P1 = np.float32(1.3981999507e-3)
P2 = np.float32(8.3334519073e-3)
P3 = np.float32(4.1665795894e-2)
P4 = np.float32(1.6666665459e-1)
P5 = np.float32(5.0000001201e-1)


@intrinsic
def bits_to_float(typingctx, bits):
    """Reinterpret an int32's bits as a float32 (an LLVM bitcast, so loops stay vectorisable)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def muladd(typingctx, a, b, c):
    """float32 ``a * b + c``, fused into one FMA where the CPU has one (LLVM's ``fmuladd``: one
    rounding there, two elsewhere). Only for math that no threshold decision reads: the
    exponential's polynomial (so the sigmoid, which a sample compares with a uniform number
    and which already differs from ``torch.sigmoid`` in the last bit) and gradients."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f32, [f32, f32, f32]), "llvm.fmuladd.f32")
        return builder.call(fn, args)

    return sig, codegen


@njit(inline="always")
def exp(z):
    """float32 ``exp(z)`` for z clamped to [-87, 88] (Cephes' expf polynomial, ~1 ulp).

    Written out because numba's ``math.exp`` is a libm call that stops the loop from
    being vectorised (15 ms instead of 1 ms per 2**20 elements on the reference machine).
    """
    z = min(max(z, EXP_LO), EXP_HI)
    n = np.floor(z * LOG2E + HALF)
    r = (z - n * LN2_HI) - n * LN2_LO
    r2 = r * r
    p = muladd(muladd(muladd(muladd(muladd(muladd(P0, r, P1), r, P2), r, P3), r, P4), r, P5), r2, r + ONE)
    return p * bits_to_float((np.int32(n) + np.int32(127)) << np.int32(23))


@njit(inline="always")
def sigmoid(x):
    """float32 ``1 / (1 + exp(-x))``."""
    return ONE / (ONE + exp(-x))


@njit(inline="always")
def surrogate_grad(u, kind, alpha):
    """dS/du for the surrogate code ``kind`` (``codes.SURROGATE_CODES``; ``functional.surrogate``)::

        triangular: max(alpha - |u|, 0) / alpha**2
        sigmoid:    alpha s (1 - s),  s = sigmoid(alpha u)
        arctan:     (alpha / 2) / (1 + (pi/2 alpha u)**2)
    """
    if kind == SURR_TRIANGULAR:
        return max(alpha - abs(u), ZERO) / (alpha * alpha)
    if kind == SURR_SIGMOID:
        s = sigmoid(alpha * u)
        return alpha * s * (ONE - s)
    w = PI_HALF * alpha * u
    return (alpha / TWO) / (ONE + w * w)
