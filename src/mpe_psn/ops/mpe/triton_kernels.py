"""The fused MPE-PSN layer as Triton kernels (GPU; the CPU under ``TRITON_INTERPRET=1``).

One program owns ``BLOCK`` neurons of ``x`` viewed as [T, N] and loops over the T steps, so
the one-step shift of the estimate is a register carried to the next step, and each step's
Bernoulli sample is drawn once (from the counter hash of ``noise.py``) in the forward and
regenerated once in the backward. The math is the numba kernel's (``cpu_kernels.py``), line
for line: see its docstrings and docs/kernels.md.

Indices are 64-bit (``block_offsets``, ``flat_index`` of ``ops/common/triton_math.py``), so
``T * N`` may exceed 2**31; the neuron count ``N`` itself stays below 2**31 (the host checks).
The surrogate (``surr``), whether the spikes' gradient is one broadcast value (``gs_step = 0``)
and which optional inputs were given (``has_*``) are runtime scalars, uniform across a launch,
which keeps the number of compiled specialisations small (every one of them is compiled for
sm_80 and sm_90 in the tests, see ``triton_host.specializations``).

Nothing is read on the host: the seed's keys (``_seed_keys``), the threshold, kappa and the
gradient of L_mem are loaded from device memory, so a training step has no synchronisation.

* ``forward_kernel``: one correction pass. The last pass stores the spikes (in x's dtype) and
  ``err_scale * sum over the block of (vhat - V)**2`` per step into ``part[pid, t]`` (no
  atomics; ``passes.loss_scale``).
* ``backward_kernel``: the backward of one pass (dx, the estimate's gradient, the threshold's
  per-block partial sums), ascending in time with a one-step pending gradient; the last pass
  forms the membrane loss's coefficient ``2 dL/dL_mem err_scale kappa[t]`` itself.

Kernels are compiled with ``enable_fp_fusion=False`` (no mul+add -> FMA contraction) so the
potentials round exactly like the eager reference's separate multiply and add.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

from mpe_psn.ops.common.triton_math import block_offsets, flat_index, surrogate_grad
from mpe_psn.ops.mpe import codes, noise

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"

EST_HASH = tl.constexpr(codes.EST_HASH)
EST_NOISE = tl.constexpr(codes.EST_NOISE)
EST_EXPECTED = tl.constexpr(codes.EST_EXPECTED)
#: the constants of ``noise.py``: the hash's multipliers, the key step for flat indices >= 2**32,
#: and splitmix64 (seed -> keys)
HASH_M1 = tl.constexpr(noise.M1)
HASH_M2 = tl.constexpr(noise.M2)
KEY_STEP = tl.constexpr(noise.KEY_STEP)
SPLIT_ADD = tl.constexpr(noise.SPLITMIX[0])
SPLIT_M1 = tl.constexpr(noise.SPLITMIX[1])
SPLIT_M2 = tl.constexpr(noise.SPLITMIX[2])
#: integer arguments never specialised on their value (Triton would otherwise compile a
#: variant for ``== 1`` and one for ``% 16 == 0``) and pointers never on their alignment (a
#: sliced tensor may start anywhere): one compiled kernel per constexpr set and dtype, exactly
#: what the compile check compiles
FORWARD_INTS = ["T", "N"]
FORWARD_POINTERS = ["x_ptr", "noise_ptr", "est_ptr", "s_ptr", "vhat_ptr", "v_ptr", "part_ptr", "theta_ptr", "seed_ptr"]
BACKWARD_INTS = FORWARD_INTS + ["surr", "gs_step", "has_gs", "has_kappa", "has_gloss"]
BACKWARD_POINTERS = ["x_ptr", "noise_ptr", "est_ptr", "gs_ptr", "gv_ptr", "acc_ptr", "gx_ptr", "gest_ptr", "gth_ptr",
                     "theta_ptr", "seed_ptr", "kappa_ptr", "gloss_ptr"]


@triton.jit
def _uniform(idx, k1, k2):
    """``noise.hash_uniform`` for int64 flat indices ``idx`` (uint32 arithmetic)."""
    hi = (idx >> 32).to(tl.uint32)
    key = k1.to(tl.uint32) + hi * tl.full([], KEY_STEP, tl.uint32)
    h = idx.to(tl.uint32) ^ key
    h = h ^ (h >> 16)
    h = h * tl.full([], HASH_M1, tl.uint32)
    h = h ^ (h >> 15)
    h = h ^ k2.to(tl.uint32)
    h = h * tl.full([], HASH_M2, tl.uint32)
    h = h ^ (h >> 16)
    return (h >> 8).to(tl.float32) * 5.9604644775390625e-08  # 2**-24


@triton.jit
def _seed_keys(seed_ptr, EST: tl.constexpr):
    """``noise.seed_keys`` of the int64 seed at ``seed_ptr`` (splitmix64 in uint64), read on the
    device so the host never reads it; (0, 0) when nothing is sampled."""
    if EST == EST_HASH:
        z = tl.load(seed_ptr).to(tl.uint64) + tl.full([], SPLIT_ADD, tl.uint64)
        z = (z ^ (z >> 30)) * tl.full([], SPLIT_M1, tl.uint64)
        z = (z ^ (z >> 27)) * tl.full([], SPLIT_M2, tl.uint64)
        z = z ^ (z >> 31)
        k1 = ((z >> 33) & 0x7FFFFFFF).to(tl.uint32)
        k2 = (z & 0x7FFFFFFF).to(tl.uint32)
    else:
        k1 = tl.zeros([], dtype=tl.uint32)
        k2 = tl.zeros([], dtype=tl.uint32)
    return k1, k2


@triton.jit
def _vhat(EST: tl.constexpr, x, nv, idx, k1, k2):
    """``(vhat, dvhat/dx)`` for the estimator code EST (``codes.py``)."""
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


@triton.jit(do_not_specialize=FORWARD_INTS, do_not_specialize_on_alignment=FORWARD_POINTERS)
def forward_kernel(
    x_ptr, noise_ptr, est_ptr, s_ptr, vhat_ptr, v_ptr, part_ptr, theta_ptr, seed_ptr,
    T, N, tau, err_scale,
    EST: tl.constexpr, FROM_BUF: tl.constexpr, FINAL: tl.constexpr, STORE: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = block_offsets(pid, BLOCK)
    mask = offs < N
    theta = tl.load(theta_ptr).to(tl.float32)
    k1, k2 = _seed_keys(seed_ptr, EST)
    prev = tl.zeros([BLOCK], dtype=tl.float32)
    for t in range(T):
        idx = flat_index(t, N, offs)
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
            tl.store(part_ptr + pid.to(tl.int64) * T + t, err_scale * tl.sum(tl.where(mask, d * d, 0.0), axis=0))
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
    x_ptr, noise_ptr, est_ptr, gs_ptr, gv_ptr, acc_ptr, gx_ptr, gest_ptr, gth_ptr, theta_ptr, seed_ptr, kappa_ptr,
    gloss_ptr, T, N, tau, alpha, err_scale, surr, gs_step, has_gs, has_kappa, has_gloss,
    EST: tl.constexpr, FROM_BUF: tl.constexpr, FINAL: tl.constexpr, FIRST: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = block_offsets(pid, BLOCK)
    mask = offs < N
    theta = tl.load(theta_ptr).to(tl.float32)
    k1, k2 = _seed_keys(seed_ptr, EST)
    # dL/d(vhat - V)[t] = coef[t] (vhat - V), coef[t] = 2 dL/dL_mem err_scale kappa[t]; the
    # has_* flags say which of L_mem's gradient, kappa and the spikes' gradient were given
    g2 = 2.0 * tl.where(has_gloss != 0, tl.load(gloss_ptr).to(tl.float32), 0.0) * err_scale
    prev = tl.zeros([BLOCK], dtype=tl.float32)
    pgh = tl.zeros([BLOCK], dtype=tl.float32)
    pfac = tl.zeros([BLOCK], dtype=tl.float32)
    plv = tl.zeros([BLOCK], dtype=tl.float32)
    gth = tl.zeros([BLOCK], dtype=tl.float32)
    for t in range(T):
        idx = flat_index(t, N, offs)
        x = tl.load(x_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        if EST == EST_NOISE:
            nv = tl.load(noise_ptr + idx, mask=mask, other=1.0)
        else:
            nv = x
        vhat, fac = _vhat(EST, x, nv, idx, k1, k2)
        h = x + tau * prev
        w = h - theta
        s = tl.where(w > 0.0, 1.0, 0.0) + w * 0.0
        sg = surrogate_grad(surr, w, alpha)
        if FINAL:
            c = g2 * tl.where(has_kappa != 0, tl.load(kappa_ptr + t * has_kappa).to(tl.float32), 1.0)
            d = vhat - (1.0 - s) * h
            gv = -c * d
            # gs_step = 0: the gradient of spikes.sum(), one value read by every element
            gs = tl.load(gs_ptr + idx * gs_step, mask=mask, other=0.0).to(tl.float32)
            gs = tl.where(has_gs != 0, gs, 0.0)
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
    last = flat_index(T - 1, N, offs)
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
