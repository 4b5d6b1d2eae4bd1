"""The fused exact LIF on the CPU: numba kernels over blocks of neurons of ``x`` [T, N].

A call handles the neuron blocks ``b0 .. b1-1`` (``BLOCK`` neurons each; ``BLOCK`` and the
surrogate's gradient come from ``ops/common/numba_math.py``, and ``ops/common/threads.py``
splits every op's blocks over threads); the kernels release the GIL. Within a block the neuron loop
is innermost (contiguous, SIMD-vectorisable) and the membrane potential of each neuron is
carried from step to step in a block-sized row::

    H[t] = tau * V[t-1] + x[t]          V[-1] = 0
    S[t] = 1[H[t] - theta > 0] + 0 * (H[t] - theta)    (NaN stays NaN, as functional.lif)
    V[t] = (1 - S[t]) * H[t]

:func:`backward` keeps nothing from the forward but ``x``: per sub-block of ``width`` neurons
it recomputes ``H`` forward into a [T, width] scratch (sized to stay in cache), then walks
time in reverse with ``gV`` (the gradient on ``V[t]``, from step t+1) in a row::

    gu[t] = sg(H[t] - theta) * (gS[t] - gV[t] * H[t])      dL/du; dL/dtheta_n -= gu[t]
    gH[t] = gu[t] + gV[t] * (1 - S[t])                      = dL/dx[t]
    gV[t-1] = tau * gH[t]

All arithmetic is float32 with separate multiplies and adds (no fastmath, so no FMA), which
rounds exactly like the eager reference. Each kernel has one specialisation, cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mpe_psn.ops.common.numba_math import BLOCK, ONE, ZERO, surrogate_grad

__all__ = ["BLOCK", "forward", "backward"]

#: the stamp of the project modules compiled into these kernels (``ops/common/numba_math.py``,
#: ``codes.py``; see numba_math's docstring): this line changes with them, so numba's disk
#: cache recompiles the kernels of this file
COMMON_SOURCE_STAMP = "fe0133f2c834654f"


@njit(inline="always")
def _theta_row(theta, per_neuron, lo, n, out):
    """The thresholds of neurons ``lo .. lo+n-1`` (one value for all when not ``per_neuron``)."""
    for i in range(n):
        out[i] = theta[lo + i] if per_neuron else theta[0]


@njit(inline="always")
def _spike(w):
    """``1[w > 0] + 0 * w``: the reference's Heaviside (NaN for a non-finite ``w``)."""
    return (ONE if w > ZERO else ZERO) + w * ZERO


@njit(cache=True, nogil=True, error_model="numpy")
def forward(b0, b1, x, theta, per_neuron, tau, spikes):
    """Spikes of neuron blocks ``b0 .. b1-1``: ``x``, ``spikes`` float32 [T, N]; ``theta``
    float32 [N] (``per_neuron``) or [1]."""
    T, N = x.shape
    v = np.zeros(BLOCK, dtype=np.float32)
    th = np.empty(BLOCK, dtype=np.float32)
    for blk in range(b0, b1):
        lo = blk * BLOCK
        n = min(N, lo + BLOCK) - lo
        _theta_row(theta, per_neuron, lo, n, th)
        v[:n] = ZERO
        for t in range(T):
            xr = x[t, lo:lo + n]
            sr = spikes[t, lo:lo + n]
            for i in range(n):
                h = tau * v[i] + xr[i]
                s = _spike(h - th[i])
                sr[i] = s
                v[i] = (ONE - s) * h


@njit(inline="always")
def _reverse_rows(surr, T, n, lo, hbuf, th, gs, gs_const, gs_row, tau, alpha, gx, gv, gth):
    """The reverse walk of one sub-block (``surr`` a literal at each call site, so the
    surrogate's branch folds away and the loop vectorises)."""
    for k in range(T):
        t = T - 1 - k
        hr = hbuf[t]
        gsr = gs_row if gs_const else gs[t, lo:lo + n]
        gxr = gx[t, lo:lo + n]
        for i in range(n):
            h = hr[i]
            w = h - th[i]
            s = _spike(w)
            g_v = gv[i]
            gu = surrogate_grad(w, surr, alpha) * (gsr[i] - g_v * h)
            gth[i] -= gu
            gh = gu + g_v * (ONE - s)
            gxr[i] = gh
            gv[i] = tau * gh


@njit(cache=True, nogil=True, error_model="numpy")
def backward(b0, b1, x, theta, per_neuron, tau, surr, alpha, g_spikes, gs_const, width, gx, g_theta):
    """``dL/dx`` (``gx`` float32 [T, N]) and the per-neuron ``dL/dtheta`` (``g_theta`` float32 [N])
    of neuron blocks ``b0 .. b1-1``, from ``dL/dspikes`` (``g_spikes`` [T, N], or [1, 1] read by
    every element when ``gs_const``). ``width`` neurons are recomputed and walked at a time."""
    T, N = x.shape
    hbuf = np.empty((T, width), dtype=np.float32)
    v = np.empty(width, dtype=np.float32)
    gv = np.empty(width, dtype=np.float32)
    gth = np.empty(width, dtype=np.float32)
    th = np.empty(width, dtype=np.float32)
    gs_row = np.full(width, g_spikes[0, 0], dtype=np.float32)
    for blk in range(b0, b1):
        block_end = min(N, blk * BLOCK + BLOCK)
        for lo in range(blk * BLOCK, block_end, width):
            n = min(block_end, lo + width) - lo
            _theta_row(theta, per_neuron, lo, n, th)
            v[:n] = ZERO
            for t in range(T):  # recompute H, exactly as the forward did
                xr = x[t, lo:lo + n]
                hr = hbuf[t]
                for i in range(n):
                    h = tau * v[i] + xr[i]
                    hr[i] = h
                    v[i] = (ONE - _spike(h - th[i])) * h
            gv[:n] = ZERO
            gth[:n] = ZERO
            if surr == 0:
                _reverse_rows(0, T, n, lo, hbuf, th, g_spikes, gs_const, gs_row, tau, alpha, gx, gv, gth)
            elif surr == 1:
                _reverse_rows(1, T, n, lo, hbuf, th, g_spikes, gs_const, gs_row, tau, alpha, gx, gv, gth)
            else:
                _reverse_rows(2, T, n, lo, hbuf, th, g_spikes, gs_const, gs_row, tau, alpha, gx, gv, gth)
            g_theta[lo:lo + n] = gth[:n]
