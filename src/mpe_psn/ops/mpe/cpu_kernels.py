"""The fused MPE-PSN layer on the CPU: numba kernels over blocks of neurons.

Layout: ``x`` is viewed as [T, N] (float32, C-contiguous). A call handles the neuron blocks
``b0 .. b1-1`` (``BLOCK`` neurons each); the kernels release the GIL, so ``cpu_host`` runs
contiguous ranges of blocks on a few Python threads (numba's own OpenMP layer cost ~8 ms
per launch on a busy 2-core machine, see docs/kernels.md). Each block walks the time steps in order; the neuron loop is innermost, so it is
contiguous in memory and SIMD-vectorisable, and the one-step shift of the estimate along
time is a carried register-like array (``prev``), never a shifted copy.

One call of :func:`forward_pass` is one correction pass (see ``kernels.md``)::

    H[t] = x[t] + tau * e[t-1]        e = vhat (first pass) or the previous pass's V
    S[t] = 1[H[t] > theta] + 0*H[t]   (NaN stays NaN)
    V[t] = (1 - S[t]) * H[t]

The last pass writes the spikes and the per-block sums of ``(vhat - V)**2`` for every step.
The Bernoulli sample ``b = u < sigmoid(x)`` uses the counter hash of ``noise.py``; the
backward regenerates it from the same seed, so only ``x`` (and the seed) is kept.

:func:`backward_pass` walks the same steps (ascending) and turns the incoming gradients into
``dx`` (and the threshold's partial sums); the gradient that step ``t`` sends to the
estimate of step ``t-1`` is added when the walk reaches ``t`` (a one-step "pending" value),
so each sample is hashed once per pass.

All arithmetic is float32 (constants are float32 so numba does not widen to float64); there
is a single specialisation of each kernel, compiled once and cached on disk.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from mpe_psn.ops.mpe.codes import EST_EXPECTED, EST_HASH, EST_MASK, EST_NOISE

BLOCK = 1024

ONE = np.float32(1.0)
ZERO = np.float32(0.0)
TWO = np.float32(2.0)
INV24 = np.float32(2.0**-24)
PI_HALF = np.float32(math.pi / 2.0)
HALF = np.float32(0.5)
MASK32 = np.int64(0xFFFFFFFF)
M1 = np.int64(0x7FEB352D)
M2 = np.int64(0x846CA68B)
KEY_STEP = np.int64(0x9E3779B9)



@njit(inline="always")
def _uniform(i, k1, k2):
    """``noise.hash_index`` for one int64 flat index ``i`` (int64 arithmetic masked to 32 bits)."""
    h = (i & MASK32) ^ ((k1 + (i >> 32) * KEY_STEP) & MASK32)
    h = h ^ (h >> 16)
    h = (h * M1) & MASK32
    h = h ^ (h >> 15)
    h = h ^ k2
    h = (h * M2) & MASK32
    h = h ^ (h >> 16)
    return np.float32(h >> 8) * INV24


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an int32's bits as a float32 (an LLVM bitcast, so loops stay vectorisable)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


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


@njit(inline="always")
def _exp(z):
    """float32 ``exp(z)`` for z clamped to [-87, 88] (Cephes' expf polynomial, ~1 ulp).

    Written out because numba's ``math.exp`` is a libm call that stops the loop from
    being vectorised (15 ms instead of 1 ms per 2**20 elements on the reference machine).
    """
    z = min(max(z, EXP_LO), EXP_HI)
    n = np.floor(z * LOG2E + HALF)
    r = (z - n * LN2_HI) - n * LN2_LO
    r2 = r * r
    p = (((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5) * r2 + r + ONE
    return p * _bits_to_float((np.int32(n) + np.int32(127)) << np.int32(23))


@njit(inline="always")
def _sigmoid(x):
    return ONE / (ONE + _exp(-x))


@njit(inline="always")
def _surrogate_grad(u, kind, alpha):
    """dS/du: 0 triangular, 1 sigmoid, 2 arctan (``functional.surrogate``)."""
    if kind == 0:
        return max(alpha - abs(u), ZERO) / (alpha * alpha)
    if kind == 1:
        s = _sigmoid(alpha * u)
        return alpha * s * (ONE - s)
    w = PI_HALF * alpha * u
    return (alpha / TWO) / (ONE + w * w)


@njit(cache=True, fastmath={"reassoc", "nsz"})
def _sum(a):
    """Sum of a float32 vector (reassociation allowed, so it vectorises)."""
    total = ZERO
    for i in range(a.shape[0]):
        total += a[i]
    return total


# Offsets of the per-block state rows inside one flat float32 array of STATE_ROWS * BLOCK. As
# compile-time constants they tell LLVM the rows never overlap, so the loops need no runtime
# alias checks (too many of those and LLVM gives up on vectorising).
PREV = 0 * BLOCK   # the estimate of the previous step, e[t-1]
SQ = 1 * BLOCK     # forward: (vhat - V)**2 of this step
PGH = 1 * BLOCK    # backward: dL/dH[t-1] (+ acc[t-1]) waiting for step t
PFAC = 2 * BLOCK   # backward: dvhat[t-1]/dx[t-1]
PLV = 3 * BLOCK    # backward: loss gradient on vhat[t-1]
GTH = 4 * BLOCK    # backward: running -sum of dL/du (the threshold's gradient)
STATE_ROWS = 5


@njit(inline="always")
def _vhat(est_mode, xv, nv, mv, idx, k1, k2):
    """``(vhat, dvhat/dx, fired)`` of one element for the estimator ``est_mode`` (``mv``: the mask byte)."""
    if est_mode == EST_MASK:
        fired = mv != 0
        keep = ZERO if fired else ONE
        return keep * xv, keep, fired
    return _vhat_given_p(est_mode, xv, _sigmoid(xv), nv, idx, k1, k2)


@njit(inline="always")
def _vhat_given_p(est_mode, xv, p, nv, idx, k1, k2):
    """:func:`_vhat` with ``p = sigmoid(xv)`` already computed (not for ``EST_MASK``)."""
    if est_mode == EST_EXPECTED:
        return (ONE - p) * xv, (ONE - p) - xv * p * (ONE - p), False
    if est_mode == EST_HASH:
        u = _uniform(idx, k1, k2)
    else:
        u = nv
    fired = u < p
    keep = ZERO if fired else ONE
    return keep * xv, keep, fired


@njit(inline="always")
def _forward_row(est_mode, final, from_buf, store, write_mask, n, xr, nr, er, base, k1, k2, tau, theta, st, sr, vhr, vr, mr):
    """One time step of one block. Called with literal flags for the hot cases, so that LLVM
    folds the branches away and vectorises the loop; the same code with runtime flags
    serves every other case (bit-identical results)."""
    for i in range(n):
        xv = xr[i]
        vhat = ZERO
        if final or not from_buf:
            vhat, fac, fired = _vhat(est_mode, xv, nr[i], 0, np.int64(base + i), k1, k2)
            if write_mask:
                mr[i] = fired
        h = xv + tau * st[PREV + i]
        w = h - theta
        s = (ONE if w > ZERO else ZERO) + w * ZERO
        v = (ONE - s) * h
        if final:
            sr[i] = s
            d = vhat - v
            st[SQ + i] = d * d
            if store:
                vhr[i] = vhat
                vr[i] = v
        else:
            vr[i] = v
        if from_buf:
            st[PREV + i] = er[i]
        else:
            st[PREV + i] = vhat


@njit(cache=True, nogil=True, error_model="numpy")
def forward_pass(b0, b1, x, noise, est, est_mode, from_buf, final, store_pot, k1, k2, tau, theta,
                 spikes, vhat_out, v_out, part, mask, write_mask):
    """One correction pass over neuron blocks ``b0 .. b1-1`` of ``x`` [T, N] (see the module docstring).

    ``write_mask``: also record each Bernoulli sample as one byte in ``mask`` [T, N] (uint8).
    """
    T, N = x.shape
    fast = final and not from_buf and not store_pot
    for blk in range(b0, b1):
        lo = blk * BLOCK
        hi = min(N, lo + BLOCK)
        n = hi - lo
        st = np.zeros(STATE_ROWS * BLOCK, dtype=np.float32)
        for t in range(T):
            base = t * N + lo
            xr = x[t, lo:hi]
            nr = noise[t, lo:hi] if est_mode == EST_NOISE else xr
            er = est[t, lo:hi] if from_buf else xr
            sr = spikes[t, lo:hi] if final else xr
            vhr = vhat_out[t, lo:hi] if store_pot else xr
            vr = v_out[t, lo:hi] if (store_pot or not final) else xr
            mr = mask[t, lo:hi] if write_mask else mask[0, 0:0]
            if fast and write_mask and est_mode == EST_HASH:
                _forward_row(EST_HASH, True, False, False, True, n, xr, xr, xr, base, k1, k2, tau, theta,
                             st, sr, xr, xr, mr)
            elif fast and not write_mask and est_mode == EST_EXPECTED:
                _forward_row(EST_EXPECTED, True, False, False, False, n, xr, xr, xr, base, k1, k2, tau, theta,
                             st, sr, xr, xr, mr)
            # refinement (passes >= 2): the first pass, the middle ones, the last
            elif not final and not from_buf and not write_mask and est_mode == EST_HASH:
                _forward_row(EST_HASH, False, False, False, False, n, xr, xr, xr, base, k1, k2, tau, theta,
                             st, xr, xr, vr, mr)
            elif not final and not from_buf and not write_mask and est_mode == EST_EXPECTED:
                _forward_row(EST_EXPECTED, False, False, False, False, n, xr, xr, xr, base, k1, k2, tau, theta,
                             st, xr, xr, vr, mr)
            elif not final and from_buf and not write_mask:  # no estimate is computed: any est code
                _forward_row(EST_HASH, False, True, False, False, n, xr, xr, er, base, k1, k2, tau, theta,
                             st, xr, xr, vr, mr)
            elif final and from_buf and not store_pot and not write_mask and est_mode == EST_HASH:
                _forward_row(EST_HASH, True, True, False, False, n, xr, xr, er, base, k1, k2, tau, theta,
                             st, sr, xr, xr, mr)
            elif final and from_buf and not store_pot and not write_mask and est_mode == EST_EXPECTED:
                _forward_row(EST_EXPECTED, True, True, False, False, n, xr, xr, er, base, k1, k2, tau, theta,
                             st, sr, xr, xr, mr)
            else:
                _forward_row(est_mode, final, from_buf, store_pot, write_mask, n, xr, nr, er, base, k1, k2, tau, theta,
                             st, sr, vhr, vr, mr)
            if final:
                part[blk, t] = _sum(st[SQ:SQ + n])


@njit(inline="always")
def _backward_row(est_mode, final, first, from_buf, surr, n, xr, nr, mr, er, gsr, gvr, accr, outr,
                  base, k1, k2, tau, theta, alpha, c, st, prob):
    """Backward of one time step of one block (same literal-flag scheme as ``_forward_row``).

    ``outr`` is ``dx[t-1]`` on the first pass and ``g_est[t-1]`` on later ones (a scratch row
    at ``t = 0``).

    The sigmoid of the estimate is computed in a loop of its own first: inside the long loop
    below its exp stopped LLVM from vectorising, and the expected estimator's backward took
    15.9 ms instead of 0.9 ms at 16 x 2^16 on one thread (measured; the results are the same
    bits either way)."""
    needs_p = (first or final) and est_mode != EST_MASK
    if needs_p:
        for i in range(n):
            prob[i] = _sigmoid(xr[i])
    for i in range(n):
        xv = xr[i]
        vhat = ZERO
        fac = ZERO
        if first or final:
            if est_mode == EST_MASK:
                vhat, fac, _ = _vhat(est_mode, xv, nr[i], mr[i], np.int64(base + i), k1, k2)
            else:
                vhat, fac, _ = _vhat_given_p(est_mode, xv, prob[i], nr[i], np.int64(base + i), k1, k2)
        h = xv + tau * st[PREV + i]
        w = h - theta
        s = (ONE if w > ZERO else ZERO) + w * ZERO
        sg = _surrogate_grad(w, surr, alpha)
        if final:
            d = vhat - (ONE - s) * h
            gv = -c * d
            gs = gsr[i]
            lv = c * d
        else:
            gv = gvr[i]
            gs = ZERO
            lv = ZERO
        gu = sg * (gs - gv * h)
        st[GTH + i] -= gu
        gh = gu + gv * (ONE - s)
        if first:
            outr[i] = st[PGH + i] + st[PFAC + i] * (tau * gh + st[PLV + i])
            if final:
                st[PGH + i] = gh
            else:
                st[PGH + i] = gh + accr[i]
            st[PFAC + i] = fac
            st[PLV + i] = lv
        else:
            outr[i] = tau * gh
            if final:
                accr[i] += gh + fac * lv
            else:
                accr[i] += gh
        if from_buf:
            st[PREV + i] = er[i]
        else:
            st[PREV + i] = vhat


@njit(cache=True, nogil=True, error_model="numpy")
def backward_pass(b0, b1, x, noise, est, est_mode, from_buf, final, first, k1, k2, tau, theta, surr, alpha,
                  g_spikes, gs_const, coef, g_v, acc, gx, g_est, g_theta, mask):
    """Backward of one pass. ``coef[t] = 2 * dLoss/d(step_err[t]) / N`` (last pass only).

    ``gs_const``: ``g_spikes`` is [1, 1], one value for every element (the gradient of
    ``spikes.sum()`` arrives as an expanded scalar; it is not materialised).
    ``est_mode == EST_MASK``: the samples come from the forward's ``mask`` (no hash, no exp).

    Per step and block: ``u = H - theta``, ``sg = dS/du`` (surrogate), incoming ``gS`` and
    ``gV`` (last pass: ``gV = -coef * (vhat - V)``; earlier passes: from the next pass)::

        gu = sg * (gS - gV * H)          dL/du;  dL/dtheta -= gu
        gH = gu + gV * (1 - S)           dL/dH = dL/dx[t] (direct) and tau * gH -> estimate[t-1]

    First pass (the estimate is vhat): ``dx[t-1] = gH[t-1] + acc[t-1] + fac[t-1] * (tau gH[t]
    + coef[t-1] (vhat - V)[t-1])`` with ``fac = dvhat/dx``. Later passes add ``gH`` into
    ``acc`` and write ``g_est[t-1] = tau gH[t]``; the last of them also adds the loss term on
    vhat (``fac * coef * (vhat - V)``) into ``acc``.
    """
    T, N = x.shape
    fast = first and final and not from_buf and surr == 0
    for blk in range(b0, b1):
        lo = blk * BLOCK
        hi = min(N, lo + BLOCK)
        n = hi - lo
        st = np.zeros(STATE_ROWS * BLOCK, dtype=np.float32)
        sink = np.zeros(n, dtype=np.float32)
        prob = np.empty(n, dtype=np.float32)
        gs_row = np.full(n, g_spikes[0, 0], dtype=np.float32)
        for t in range(T):
            base = t * N + lo
            xr = x[t, lo:hi]
            nr = noise[t, lo:hi] if est_mode == EST_NOISE else xr
            mr = mask[t, lo:hi] if est_mode == EST_MASK else mask[0, 0:0]
            er = est[t, lo:hi] if from_buf else xr
            if not final:
                gsr = xr
            elif gs_const:
                gsr = gs_row
            else:
                gsr = g_spikes[t, lo:hi]
            gvr = g_v[t, lo:hi] if not final else xr
            accr = acc[t, lo:hi] if not (first and final) else xr
            if t == 0:
                outr = sink
            elif first:
                outr = gx[t - 1, lo:hi]
            else:
                outr = g_est[t - 1, lo:hi]
            c = coef[t] if final else ZERO
            if fast and est_mode == EST_MASK:
                _backward_row(EST_MASK, True, True, False, 0, n, xr, xr, mr, xr, gsr, xr, xr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
            elif fast and est_mode == EST_EXPECTED:
                _backward_row(EST_EXPECTED, True, True, False, 0, n, xr, xr, mr, xr, gsr, xr, xr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
            # refinement (passes >= 2), triangular surrogate: the last pass, the middle ones, the first
            elif surr == 0 and final and not first and from_buf and est_mode == EST_HASH:
                _backward_row(EST_HASH, True, False, True, 0, n, xr, xr, mr, er, gsr, xr, accr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
            elif surr == 0 and final and not first and from_buf and est_mode == EST_EXPECTED:
                _backward_row(EST_EXPECTED, True, False, True, 0, n, xr, xr, mr, er, gsr, xr, accr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
            elif surr == 0 and not final and not first and from_buf:  # no estimate is computed
                _backward_row(EST_HASH, False, False, True, 0, n, xr, xr, mr, er, xr, gvr, accr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
            elif surr == 0 and not final and first and not from_buf and est_mode == EST_HASH:
                _backward_row(EST_HASH, False, True, False, 0, n, xr, xr, mr, xr, xr, gvr, accr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
            elif surr == 0 and not final and first and not from_buf and est_mode == EST_EXPECTED:
                _backward_row(EST_EXPECTED, False, True, False, 0, n, xr, xr, mr, xr, xr, gvr, accr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
            else:
                _backward_row(est_mode, final, first, from_buf, surr, n, xr, nr, mr, er, gsr, gvr, accr, outr,
                              base, k1, k2, tau, theta, alpha, c, st, prob)
        if first:
            gxr = gx[T - 1, lo:hi]
            for i in range(n):
                gxr[i] = st[PGH + i] + st[PFAC + i] * st[PLV + i]
        else:
            ger = g_est[T - 1, lo:hi]
            for i in range(n):
                ger[i] = ZERO
        g_theta[blk] = _sum(st[GTH:GTH + n])
