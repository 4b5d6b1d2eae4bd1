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
is a single specialisation of each kernel, compiled once and cached on disk. The surrogate's
gradient, ``sigmoid`` and ``BLOCK`` come from ``ops/common/numba_math.py`` (shared with the
fused LIF), the hash constants from ``noise.py``; ``COMMON_SOURCE_STAMP`` below keeps the disk
cache in step with them.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.extending import intrinsic

from mpe_psn.ops.common.numba_math import BLOCK, ONE, TWO, ZERO, sigmoid, surrogate_grad
from mpe_psn.ops.mpe import noise as _noise
from mpe_psn.ops.mpe.codes import EST_EXPECTED, EST_HASH, EST_MASK, EST_NOISE

#: the stamp of the project modules compiled into these kernels (``ops/common/numba_math.py``,
#: ``codes.py``, ``mpe/codes.py``, ``mpe/noise.py``; see numba_math's docstring): this line
#: changes with them, so numba's disk cache recompiles the kernels of this file
COMMON_SOURCE_STAMP = "c9b3b187f3f561e6"

SPLIT_ADD, SPLIT_M1, SPLIT_M2 = (np.uint64(c) for c in _noise.SPLITMIX)
KEY_MASK = np.uint64(0x7FFFFFFF)


@intrinsic
def _uniform_at(typingctx, base, j, k1, k2):
    """``noise.hash_index`` of the flat index ``base + j`` (``0 <= j < 2**32``), in 32-bit
    arithmetic: ``lo = low32(base) + j`` (wrapping), ``hi = high32(base)`` plus the carry, so a
    loop over ``j`` vectorises 8 lanes wide on AVX2 (numba widens integer arithmetic to 64 bits,
    which halved the lanes: the hash cost as much as a sigmoid pass).
    """
    sig = types.float32(base, j, k1, k2)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)

        def const(value):
            return ir.Constant(i32, value)

        base, j, k1, k2 = (builder.sext(a, i64) if a.type.width < 64 else a for a in args)
        lo0 = builder.trunc(base, i32)
        lo = builder.add(lo0, builder.trunc(j, i32))
        hi = builder.add(builder.trunc(builder.lshr(base, ir.Constant(i64, 32)), i32),
                         builder.zext(builder.icmp_unsigned("<", lo, lo0), i32))
        h = builder.xor(lo, builder.add(builder.trunc(k1, i32), builder.mul(hi, const(_noise.KEY_STEP))))
        h = builder.xor(h, builder.lshr(h, const(16)))
        h = builder.mul(h, const(_noise.M1))
        h = builder.xor(h, builder.lshr(h, const(15)))
        h = builder.xor(h, builder.trunc(k2, i32))
        h = builder.mul(h, const(_noise.M2))
        h = builder.xor(h, builder.lshr(h, const(16)))
        u = builder.uitofp(builder.lshr(h, const(8)), ir.FloatType())
        return builder.fmul(u, ir.Constant(ir.FloatType(), 2.0**-24))

    return sig, codegen


@njit(inline="always")
def _uniform(i, k1, k2):
    """``noise.hash_index`` for one int64 flat index ``i``."""
    return _uniform_at(i, 0, k1, k2)


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
VH = 5 * BLOCK     # backward: vhat of this step, computed in a loop of its own
FAC = 6 * BLOCK    # backward: dvhat/dx of this step, with it
STATE_ROWS = 7
FORWARD_ROWS = 2   # the forward uses PREV and SQ only: a smaller scratch stays in the L1 cache


@njit(inline="always")
def _vhat(est_mode, xv, nv, mv, base, j, k1, k2):
    """``(vhat, dvhat/dx, fired)`` of element ``base + j`` for the estimator ``est_mode`` (``mv``: the mask byte)."""
    if est_mode == EST_MASK:
        fired = mv != 0
        keep = ZERO if fired else ONE
        return keep * xv, keep, fired
    return _vhat_given_p(est_mode, xv, sigmoid(xv), nv, base, j, k1, k2)


@njit(inline="always")
def _vhat_given_p(est_mode, xv, p, nv, base, j, k1, k2):
    """:func:`_vhat` with ``p = sigmoid(xv)`` already computed (not for ``EST_MASK``)."""
    if est_mode == EST_EXPECTED:
        return (ONE - p) * xv, (ONE - p) - xv * p * (ONE - p), False
    if est_mode == EST_HASH:
        u = _uniform_at(base, j, k1, k2)
    else:
        u = nv
    fired = u < p
    keep = ZERO if fired else ONE
    return keep * xv, keep, fired


@njit(inline="always")
def _forward_row(est_mode, final, from_buf, store, write_mask, n, xr, nr, er, base, k1, k2, tau, theta, st, sr, vhr, vr, mr):
    """One time step of one block. Each kernel calls it with its flags as compile-time constants
    (:func:`forward_kernel`), so LLVM folds the branches away and vectorises the loop."""
    for i in range(n):
        xv = xr[i]
        vhat = ZERO
        if final or not from_buf:
            vhat, fac, fired = _vhat(est_mode, xv, nr[i], 0, base, i, k1, k2)
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


@njit(inline="always")
def _forward_blocks(est_mode, final, from_buf, store_pot, write_mask, b0, b1, x, noise, est, k1, k2, tau, theta,
                    spikes, vhat_out, v_out, part, mask):
    """One correction pass over neuron blocks ``b0 .. b1-1`` of ``x`` [T, N] (see the module docstring).

    ``write_mask``: also record each Bernoulli sample as one byte in ``mask`` [T, N] (uint8).
    The flags are compile-time constants of each kernel (:func:`forward_kernel`).
    """
    T, N = x.shape
    for blk in range(b0, b1):
        lo = blk * BLOCK
        hi = min(N, lo + BLOCK)
        n = hi - lo
        st = np.zeros(FORWARD_ROWS * BLOCK, dtype=np.float32)
        for t in range(T):
            xr = x[t, lo:hi]
            _forward_row(est_mode, final, from_buf, store_pot, write_mask, n, xr,
                         noise[t, lo:hi] if est_mode == EST_NOISE else xr, est[t, lo:hi] if from_buf else xr,
                         t * N + lo, k1, k2, tau, theta, st, spikes[t, lo:hi] if final else xr,
                         vhat_out[t, lo:hi] if store_pot else xr, v_out[t, lo:hi] if (store_pot or not final) else xr,
                         mask[t, lo:hi] if write_mask else mask[0, 0:0])
            if final:
                part[blk, t] = _sum(st[SQ:SQ + n])


@njit(inline="always")
def _backward_row(est_mode, final, first, from_buf, surr, n, xr, nr, mr, er, gsr, gvr, accr, outr,
                  base, k1, k2, tau, theta, alpha, c, st):
    """Backward of one time step of one block (same literal-flag scheme as ``_forward_row``).

    ``outr`` is ``dx[t-1]`` on the first pass and ``g_est[t-1]`` on later ones (a scratch row
    at ``t = 0``).

    The estimate and its derivative (a sigmoid, and a hash) are computed in a loop of their
    own first, into two state rows: inside the long loop below the sigmoid's exp stopped LLVM
    from vectorising (the expected estimator's backward took 15.9 ms instead of 0.9 ms at
    16 x 2^16 on one thread), and with only the sigmoid split off the expected estimator's
    backward still cost about 2x the sample record's (measured; the same bits either way)."""
    if (first or final) and est_mode != EST_MASK:
        for i in range(n):
            xv = xr[i]
            vh, fc, _ = _vhat_given_p(est_mode, xv, sigmoid(xv), nr[i], base, i, k1, k2)
            st[VH + i] = vh
            st[FAC + i] = fc
    for i in range(n):
        xv = xr[i]
        vhat = ZERO
        fac = ZERO
        if first or final:
            if est_mode == EST_MASK:
                vhat, fac, _ = _vhat(est_mode, xv, nr[i], mr[i], base, i, k1, k2)
            else:
                vhat = st[VH + i]
                fac = st[FAC + i]
        h = xv + tau * st[PREV + i]
        w = h - theta
        s = (ONE if w > ZERO else ZERO) + w * ZERO
        sg = surrogate_grad(w, surr, alpha)
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


@njit(inline="always")
def _backward_blocks(est_mode, final, first, from_buf, b0, b1, x, noise, est, k1, k2, tau, theta, surr, alpha,
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
    vhat (``fac * coef * (vhat - V)``) into ``acc``. The flags but ``surr`` are compile-time
    constants of each kernel (:func:`backward_kernel`).
    """
    T, N = x.shape
    for blk in range(b0, b1):
        lo = blk * BLOCK
        hi = min(N, lo + BLOCK)
        n = hi - lo
        st = np.zeros(STATE_ROWS * BLOCK, dtype=np.float32)
        sink = np.zeros(n, dtype=np.float32)
        gs_row = np.full(n, g_spikes[0, 0], dtype=np.float32)
        for t in range(T):
            xr = x[t, lo:hi]
            if not final:
                gsr = xr
            elif gs_const:
                gsr = gs_row
            else:
                gsr = g_spikes[t, lo:hi]
            if t == 0:
                outr = sink
            elif first:
                outr = gx[t - 1, lo:hi]
            else:
                outr = g_est[t - 1, lo:hi]
            _backward_row(
                est_mode, final, first, from_buf, surr, n, xr, noise[t, lo:hi] if est_mode == EST_NOISE else xr,
                mask[t, lo:hi] if est_mode == EST_MASK else mask[0, 0:0], est[t, lo:hi] if from_buf else xr, gsr,
                g_v[t, lo:hi] if not final else xr, acc[t, lo:hi] if not (first and final) else xr, outr,
                t * N + lo, k1, k2, tau, theta, alpha, coef[t] if final else ZERO, st,
            )
        if first:
            gxr = gx[T - 1, lo:hi]
            for i in range(n):
                gxr[i] = st[PGH + i] + st[PFAC + i] * st[PLV + i]
        else:
            ger = g_est[T - 1, lo:hi]
            for i in range(n):
                ger[i] = ZERO
        g_theta[blk] = _sum(st[GTH:GTH + n])


# ---- entry points on raw addresses -------------------------------------------------------
# The host passes each tensor's ``data_ptr()`` (an int; 0 for "not used"), so a call costs no
# torch op: no ``detach``, ``view`` or ``numpy()`` per tensor, and no host read of the seed or
# the threshold (the kernels read both from memory). Scratch the host keeps (the per-block
# partial sums) are numpy arrays.


@intrinsic
def _void_ptr(typingctx, address):
    """An integer address as a ``void*`` (for ``numba.carray``)."""
    sig = types.voidptr(address)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return sig, codegen


@njit(inline="always")
def _f32_at(address, rows, cols):
    """The float32 [rows, cols] C-contiguous array at ``address`` (not read when unused)."""
    return carray(_void_ptr(address), (rows, cols), np.float32)


@njit(inline="always")
def _scalar_at(address):
    """The float32 at ``address`` (a 0-dim tensor, or the first element of an expanded one)."""
    return carray(_void_ptr(address), 1, np.float32)[0]


@njit(inline="always")
def _seed_keys(seed_at):
    """``noise.seed_keys`` of the int64 seed at ``seed_at`` (splitmix64 in uint64 arithmetic)."""
    z = np.uint64(carray(_void_ptr(seed_at), 1, np.int64)[0]) + SPLIT_ADD
    z = (z ^ (z >> np.uint64(30))) * SPLIT_M1
    z = (z ^ (z >> np.uint64(27))) * SPLIT_M2
    z = z ^ (z >> np.uint64(31))
    return np.int64((z >> np.uint64(33)) & KEY_MASK), np.int64(z & KEY_MASK)


def _forward_kernel(est_mode, final, from_buf, store_pot, write_mask):
    """The forward kernel of one flag combination, on addresses (see :func:`forward_kernel`)."""

    @njit(cache=True, nogil=True, error_model="numpy")
    def kernel(b0, b1, T, N, x_at, noise_at, est_at, seed_at, theta_at, tau, spikes_at, vhat_at, v_at, part, mask_at,
               finish, scale, kappa_at, kappa_softmax, loss_at, step_err):
        k1, k2 = _seed_keys(seed_at) if est_mode == EST_HASH else (np.int64(0), np.int64(0))
        _forward_blocks(
            est_mode, final, from_buf, store_pot, write_mask, b0, b1, _f32_at(x_at, T, N), _f32_at(noise_at, T, N),
            _f32_at(est_at, T, N), k1, k2, np.float32(tau), _scalar_at(theta_at), _f32_at(spikes_at, T, N),
            _f32_at(vhat_at, T, N), _f32_at(v_at, T, N), part, carray(_void_ptr(mask_at), (T, N), np.uint8),
        )
        if finish:
            finish_forward(part, scale, kappa_at, kappa_softmax, loss_at, step_err)

    return kernel


def _backward_kernel(est_mode, final, first, from_buf):
    """The backward kernel of one flag combination, on addresses (see :func:`backward_kernel`)."""

    @njit(cache=True, nogil=True, error_model="numpy")
    def kernel(b0, b1, T, N, x_at, noise_at, est_at, seed_at, theta_at, tau, surr, alpha, gs_at, gs_mode, gloss_at,
               kappa_at, kappa_softmax, scale, gv_at, acc_at, gx_at, gest_at, g_theta, mask_at, finish, g_theta_at,
               step_err, g_kappa_at):
        coef = np.zeros(T, dtype=np.float32)
        if final and gloss_at != 0:
            w = _weights(kappa_at, T, kappa_softmax)
            g2 = TWO * _scalar_at(gloss_at) * np.float32(scale)
            for t in range(T):
                coef[t] = g2 * np.float32(w[t])
        if gs_mode == 1:
            gs = _f32_at(gs_at, T, N)
        elif gs_mode == 2:
            gs = _f32_at(gs_at, 1, 1)
        else:
            gs = np.zeros((1, 1), dtype=np.float32)
        k1, k2 = _seed_keys(seed_at) if est_mode == EST_HASH else (np.int64(0), np.int64(0))
        _backward_blocks(
            est_mode, final, first, from_buf, b0, b1, _f32_at(x_at, T, N), _f32_at(noise_at, T, N),
            _f32_at(est_at, T, N), k1, k2, np.float32(tau), _scalar_at(theta_at), surr, np.float32(alpha), gs,
            gs_mode != 1, coef, _f32_at(gv_at, T, N), _f32_at(acc_at, T, N), _f32_at(gx_at, T, N),
            _f32_at(gest_at, T, N), g_theta, carray(_void_ptr(mask_at), (T, N), np.uint8),
        )
        if finish:
            finish_backward(g_theta, gloss_at, kappa_at, kappa_softmax, g_theta_at, step_err, g_kappa_at)

    return kernel


#: the compiled kernels, one per flag combination (made on first use; numba caches each on disk)
_FORWARD: dict[tuple, object] = {}
_BACKWARD: dict[tuple, object] = {}


def forward_kernel(est_mode: int, final: bool, from_buf: bool, store_pot: bool, write_mask: bool):
    """The forward pass kernel of these flags, each a compile-time constant of its own function.

    Call: ``kernel(b0, b1, T, N, x_at, noise_at, est_at, seed_at, theta_at, tau, spikes_at,
    vhat_at, v_at, part, mask_at, finish, scale, kappa_at, kappa_softmax, loss_at, step_err)``
    over blocks ``b0 .. b1-1``; ``seed_at``: the int64 seed (read only for ``EST_HASH``),
    ``theta_at``: the float32 threshold, ``part`` [blocks, T] float32 (written by the last
    pass), ``mask_at`` the uint8 sample record (``write_mask``). ``finish``: the call covers
    every block, so it also reduces the loss (:func:`finish_forward`, the arguments after it)
    and the host makes one numba call, not two.

    One function per combination, not one with every combination inlined: in a function that
    also held the runtime-flag variant LLVM stopped vectorising the fast loops (the expected
    estimator's backward took 9-13 ms instead of about 2 ms at 16 x 2^16 on one thread).
    """
    kernel = _FORWARD.get((est_mode, final, from_buf, store_pot, write_mask))  # 1 and True are one key
    if kernel is None:
        key = (est_mode, bool(final), bool(from_buf), bool(store_pot), bool(write_mask))
        kernel = _FORWARD[key] = _forward_kernel(*key)
    return kernel


def backward_kernel(est_mode: int, final: bool, first: bool, from_buf: bool):
    """The backward kernel of these flags (the surrogate stays a runtime argument).

    Call: ``kernel(b0, b1, T, N, x_at, noise_at, est_at, seed_at, theta_at, tau, surr, alpha,
    gs_at, gs_mode, gloss_at, kappa_at, kappa_softmax, scale, gv_at, acc_at, gx_at, gest_at,
    g_theta, mask_at)``. ``gs_mode``: the spikes' gradient is absent (0), dense [T, N] (1) or one
    value for every element (2: an expanded scalar, read at ``gs_at``). The loss coefficient of
    each step, ``coef[t] = 2 * dL/dL_mem * scale * w[t]`` (``gloss_at`` 0: no gradient reached
    L_mem; ``w``: :func:`_weights`), is formed from memory. ``est_mode == EST_MASK``: the
    samples come from the forward's one-byte record at ``mask_at``. ``finish``: the call covers
    every block of the only pass, so it also reduces the gradients (:func:`finish_backward`,
    with ``g_theta_at``, ``step_err``, ``g_kappa_at``).
    """
    kernel = _BACKWARD.get((est_mode, final, first, from_buf))  # 1 and True are one key
    if kernel is None:
        key = (est_mode, bool(final), bool(first), bool(from_buf))
        kernel = _BACKWARD[key] = _backward_kernel(*key)
    return kernel


@njit(cache=True, nogil=True)
def _weights(kappa_at, T, softmax):
    """The step weights [T] (float64): kappa at ``kappa_at`` (float32), its softmax when
    ``softmax`` (kappa holds logits), or ones when ``kappa_at`` is 0 (uniform)."""
    w = np.ones(T, dtype=np.float64)
    if kappa_at == 0:
        return w
    kappa = carray(_void_ptr(kappa_at), T, np.float32)
    for t in range(T):
        w[t] = np.float64(kappa[t])
    if softmax:
        w = np.exp(w - w.max())
        w /= w.sum()
    return w


@njit(cache=True, nogil=True)
def finish_forward(part, scale, kappa_at, kappa_softmax, loss_at, step_err):
    """The membrane loss from the per-block sums ``part`` [blocks, T] of ``(vhat - V)**2``.

    ``step_err[t] = scale * sum_blocks part[:, t]`` (``scale = 1 / (N T)`` with kappa, so
    ``step_err[t] = mean_n (vhat - V)**2 / T``; ``1 / (N T**2)`` without) and
    ``L = sum_t w[t] * step_err[t]`` (:func:`_weights`), written as a float32 at ``loss_at``.
    Sums in float64.
    """
    T = part.shape[1]
    w = _weights(kappa_at, T, kappa_softmax)
    total = 0.0
    for t in range(T):
        acc = 0.0
        for b in range(part.shape[0]):
            acc += np.float64(part[b, t])
        err = np.float32(acc * scale)
        step_err[t] = err
        total += np.float64(err) * w[t]
    carray(_void_ptr(loss_at), 1, np.float32)[0] = np.float32(total)


@njit(cache=True, nogil=True)
def finish_backward(g_theta_parts, gloss_at, kappa_at, kappa_softmax, g_theta_at, step_err, g_kappa_at):
    """``dL/dtheta = sum of g_theta_parts`` (float64 sum) at ``g_theta_at`` and the gradient of
    kappa at ``g_kappa_at`` (each skipped when its address is 0): ``g * step_err[t]`` for
    weights, ``g * w[t] * (step_err[t] - sum_s w[s] step_err[s])`` for logits (``w`` their
    softmax), ``g = dL/dL_mem``."""
    if g_theta_at != 0:
        total = 0.0
        for value in g_theta_parts.ravel():
            total += np.float64(value)
        carray(_void_ptr(g_theta_at), 1, np.float32)[0] = np.float32(total)
    if g_kappa_at != 0:
        T = step_err.shape[0]
        g_kappa = carray(_void_ptr(g_kappa_at), T, np.float32)
        g = np.float64(_scalar_at(gloss_at)) if gloss_at != 0 else 0.0
        if kappa_softmax:
            w = _weights(kappa_at, T, True)
            mean = 0.0
            for t in range(T):
                mean += w[t] * np.float64(step_err[t])
            for t in range(T):
                g_kappa[t] = np.float32(g * w[t] * (np.float64(step_err[t]) - mean))
        else:
            for t in range(T):
                g_kappa[t] = np.float32(g) * step_err[t]
