"""The fused MPE-PSN layer as Triton kernels (GPU; the CPU under ``TRITON_INTERPRET=1``).

One program owns ``BLOCK`` neurons of ``x`` viewed as [T, N] and loops over the T steps, so
the one-step shift of the estimate is a register carried to the next step, and each step's
Bernoulli sample is drawn once (from the counter hash of ``noise.py``) in the forward and
regenerated once in the backward. The math is the numba kernel's (``cpu_kernels.py``), line
for line: see its docstrings and docs/kernels.md.

Indices are 64-bit (``_block_offsets``, ``_flat_index``), so ``T * N`` may exceed 2**31; the
neuron count ``N`` itself stays below 2**31 (the host checks). The surrogate (``surr``) and
whether the spikes' gradient is one broadcast value (``gs_step = 0``) are runtime scalars,
uniform across a launch, which keeps the number of compiled specialisations small (every one
of them is compiled for sm_80 and sm_90 in the tests, see ``triton_host.specializations``).

* ``forward_kernel``: one correction pass. The last pass stores the spikes (in x's dtype) and
  ``sum over the block of (vhat - V)**2`` per step into ``part[pid, t]`` (no atomics).
* ``backward_kernel``: the backward of one pass (dx, the estimate's gradient, the threshold's
  per-block partial sums), ascending in time with a one-step pending gradient.

Kernels are compiled with ``enable_fp_fusion=False`` (no mul+add -> FMA contraction) so the
potentials round exactly like the eager reference's separate multiply and add.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

from mpe_psn.ops.mpe import codes

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"

EST_HASH = tl.constexpr(codes.EST_HASH)
EST_NOISE = tl.constexpr(codes.EST_NOISE)
EST_EXPECTED = tl.constexpr(codes.EST_EXPECTED)
SURR_TRIANGULAR = tl.constexpr(codes.SURROGATE_CODES["triangular"])
SURR_SIGMOID = tl.constexpr(codes.SURROGATE_CODES["sigmoid"])
#: the per-block hash key step of ``noise.hash_uniform`` for flat indices >= 2**32
KEY_STEP = tl.constexpr(0x9E3779B9)
#: integer arguments never specialised on their value (Triton would otherwise compile a
#: variant for ``== 1`` and one for ``% 16 == 0``) and pointers never on their alignment (a
#: sliced tensor may start anywhere): one compiled kernel per constexpr set and dtype, exactly
#: what the compile check compiles
FORWARD_INTS = ["T", "N", "k1", "k2"]
FORWARD_POINTERS = ["x_ptr", "noise_ptr", "est_ptr", "s_ptr", "vhat_ptr", "v_ptr", "part_ptr", "theta_ptr"]
BACKWARD_INTS = FORWARD_INTS + ["surr", "gs_step"]
BACKWARD_POINTERS = ["x_ptr", "noise_ptr", "est_ptr", "gs_ptr", "coef_ptr", "gv_ptr", "acc_ptr", "gx_ptr", "gest_ptr",
                     "gth_ptr", "theta_ptr"]


@triton.jit
def _block_offsets(pid, BLOCK: tl.constexpr):
    """The neuron indices of program ``pid``, as int64 (``pid * BLOCK`` may pass 2**31)."""
    return pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)


@triton.jit
def _flat_index(t, N, offs):
    """Flat index of ``[t, offs]`` in a C-contiguous [T, N] tensor, in int64 arithmetic."""
    return N.to(tl.int64) * t + offs


@triton.jit
def _uniform(idx, k1, k2):
    """``noise.hash_uniform`` for int64 flat indices ``idx`` (uint32 arithmetic)."""
    hi = (idx >> 32).to(tl.uint32)
    key = k1.to(tl.uint32) + hi * tl.full([], KEY_STEP, tl.uint32)
    h = idx.to(tl.uint32) ^ key
    h = h ^ (h >> 16)
    h = h * tl.full([], 0x7FEB352D, tl.uint32)
    h = h ^ (h >> 15)
    h = h ^ k2.to(tl.uint32)
    h = h * tl.full([], 0x846CA68B, tl.uint32)
    h = h ^ (h >> 16)
    return (h >> 8).to(tl.float32) * 5.9604644775390625e-08  # 2**-24


@triton.jit
def _vhat(EST: tl.constexpr, x, nv, idx, k1, k2):
    """``(vhat, dvhat/dx)`` for the estimator EST (0 hash-Bernoulli, 1 noise-Bernoulli, 2 expected)."""
    p = 1.0 / (1.0 + tl.exp(-x))
    if EST == EST_EXPECTED:
        vhat = (1.0 - p) * x
        fac = (1.0 - p) - x * p * (1.0 - p)
    else:
        if EST == EST_HASH:
            u = _uniform(idx, k1, k2)
        else:
            u = nv
        keep = tl.where(u < p, 0.0, 1.0)
        vhat = keep * x
        fac = keep
    return vhat, fac


@triton.jit
def _surrogate_grad(surr, w, alpha):
    """dS/du: 0 triangular, 1 sigmoid, 2 arctan (``functional.surrogate``); ``surr`` is a runtime scalar."""
    if surr == SURR_TRIANGULAR:
        g = tl.maximum(alpha - tl.abs(w), 0.0) / (alpha * alpha)
    elif surr == SURR_SIGMOID:
        sgm = 1.0 / (1.0 + tl.exp(-(alpha * w)))
        g = alpha * sgm * (1.0 - sgm)
    else:
        z = 1.5707963267948966 * alpha * w
        g = (alpha / 2.0) / (1.0 + z * z)
    return g


@triton.jit(do_not_specialize=FORWARD_INTS, do_not_specialize_on_alignment=FORWARD_POINTERS)
def forward_kernel(
    x_ptr, noise_ptr, est_ptr, s_ptr, vhat_ptr, v_ptr, part_ptr, theta_ptr,
    T, N, k1, k2, tau,
    EST: tl.constexpr, FROM_BUF: tl.constexpr, FINAL: tl.constexpr, STORE: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = _block_offsets(pid, BLOCK)
    mask = offs < N
    theta = tl.load(theta_ptr).to(tl.float32)
    prev = tl.zeros([BLOCK], dtype=tl.float32)
    for t in range(T):
        idx = _flat_index(t, N, offs)
        x = tl.load(x_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        if EST == EST_NOISE:
            nv = tl.load(noise_ptr + idx, mask=mask, other=1.0)
        else:
            nv = x
        vhat, fac = _vhat(EST, x, nv, idx, k1, k2)
        h = x + tau * prev
        w = h - theta
        s = tl.where(w > 0.0, 1.0, 0.0) + w * 0.0
        v = (1.0 - s) * h
        if FINAL:
            tl.store(s_ptr + idx, s.to(s_ptr.dtype.element_ty), mask=mask)
            d = vhat - v
            tl.store(part_ptr + pid.to(tl.int64) * T + t, tl.sum(tl.where(mask, d * d, 0.0), axis=0))
            if STORE:
                tl.store(vhat_ptr + idx, vhat, mask=mask)
                tl.store(v_ptr + idx, v, mask=mask)
        else:
            tl.store(v_ptr + idx, v, mask=mask)
        if FROM_BUF:
            prev = tl.load(est_ptr + idx, mask=mask, other=0.0)
        else:
            prev = vhat


@triton.jit(do_not_specialize=BACKWARD_INTS, do_not_specialize_on_alignment=BACKWARD_POINTERS)
def backward_kernel(
    x_ptr, noise_ptr, est_ptr, gs_ptr, coef_ptr, gv_ptr, acc_ptr, gx_ptr, gest_ptr, gth_ptr, theta_ptr,
    T, N, k1, k2, tau, alpha, surr, gs_step,
    EST: tl.constexpr, FROM_BUF: tl.constexpr, FINAL: tl.constexpr, FIRST: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = _block_offsets(pid, BLOCK)
    mask = offs < N
    theta = tl.load(theta_ptr).to(tl.float32)
    prev = tl.zeros([BLOCK], dtype=tl.float32)
    pgh = tl.zeros([BLOCK], dtype=tl.float32)
    pfac = tl.zeros([BLOCK], dtype=tl.float32)
    plv = tl.zeros([BLOCK], dtype=tl.float32)
    gth = tl.zeros([BLOCK], dtype=tl.float32)
    for t in range(T):
        idx = _flat_index(t, N, offs)
        x = tl.load(x_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        if EST == EST_NOISE:
            nv = tl.load(noise_ptr + idx, mask=mask, other=1.0)
        else:
            nv = x
        vhat, fac = _vhat(EST, x, nv, idx, k1, k2)
        h = x + tau * prev
        w = h - theta
        s = tl.where(w > 0.0, 1.0, 0.0) + w * 0.0
        sg = _surrogate_grad(surr, w, alpha)
        if FINAL:
            c = tl.load(coef_ptr + t)
            d = vhat - (1.0 - s) * h
            gv = -c * d
            # gs_step = 0: the gradient of spikes.sum(), one value read by every element
            gs = tl.load(gs_ptr + idx * gs_step, mask=mask, other=0.0).to(tl.float32)
            lv = c * d
        else:
            gv = tl.load(gv_ptr + idx, mask=mask, other=0.0)
            gs = tl.zeros([BLOCK], dtype=tl.float32)
            lv = tl.zeros([BLOCK], dtype=tl.float32)
        gu = sg * (gs - gv * h)
        gth -= tl.where(mask, gu, 0.0)
        gh = gu + gv * (1.0 - s)
        if FIRST:
            out = pgh + pfac * (tau * gh + plv)
            tl.store(gx_ptr + idx - N, out.to(gx_ptr.dtype.element_ty), mask=mask & (t > 0))
            if FINAL:
                pgh = gh
            else:
                pgh = gh + tl.load(acc_ptr + idx, mask=mask, other=0.0)
            pfac = fac
            plv = lv
        else:
            tl.store(gest_ptr + idx - N, tau * gh, mask=mask & (t > 0))
            a = tl.load(acc_ptr + idx, mask=mask, other=0.0)
            if FINAL:
                a += gh + fac * lv
            else:
                a += gh
            tl.store(acc_ptr + idx, a, mask=mask)
        if FROM_BUF:
            prev = tl.load(est_ptr + idx, mask=mask, other=0.0)
        else:
            prev = vhat
    last = _flat_index(T - 1, N, offs)
    if FIRST:
        tl.store(gx_ptr + last, (pgh + pfac * plv).to(gx_ptr.dtype.element_ty), mask=mask)
    else:
        tl.store(gest_ptr + last, tl.zeros([BLOCK], dtype=tl.float32), mask=mask)
    tl.store(gth_ptr + pid, tl.sum(gth, axis=0))


#: (BLOCK, num_warps) settings the autotuner times on the first launch of each (T, N); the
#: compile check in the tests compiles every kernel specialisation with each of them
TUNING_CONFIGS = ((128, 4), (256, 4), (512, 4))

#: Buffers the autotuner must restore after timing each config, because a kernel reads them
#: or writes only part of them: ``acc`` is read-modify-write; ``part`` and ``gth`` hold one row
#: per program, so a config with larger blocks leaves the rows of a smaller one's extra
#: programs behind, and the host's sum over rows would count them (measured on an H200: the
#: first call of each (T, N) returned up to 3x the membrane loss and threshold gradient).
RESTORED = {"forward_kernel": ["part_ptr"], "backward_kernel": ["acc_ptr", "gth_ptr"]}


def _tuned(kernel, restore_value):
    return triton.autotune(
        configs=[triton.Config({"BLOCK": block}, num_warps=warps) for block, warps in TUNING_CONFIGS],
        key=["T", "N"],
        restore_value=restore_value,
    )(kernel)


#: the autotuned launchers (GPU only: under the interpreter the host calls the kernels directly)
forward_tuned = _tuned(forward_kernel, RESTORED["forward_kernel"])
backward_tuned = _tuned(backward_kernel, RESTORED["backward_kernel"])
