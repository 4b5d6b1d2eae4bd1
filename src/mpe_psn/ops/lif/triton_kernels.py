"""The fused exact LIF as Triton kernels (GPU; the CPU under ``TRITON_INTERPRET=1``).

One program owns ``BLOCK`` neurons of ``x`` viewed as [T, N] and loops over the T steps with
the membrane potential in registers; the math is ``cpu_kernels``' line for line (see its
docstring). Loads widen float16/bfloat16 to float32; spikes and ``dx`` are stored in x's dtype.
Compiled with ``enable_fp_fusion=False`` (no multiply-add contraction), so ``H`` rounds like
the eager reference's separate multiply and add and every threshold decision is the same.

* ``forward_kernel``: the spikes.
* ``backward_kernel``: recomputes ``H`` forward into a float32 scratch [T, N] (each program
  reads back only what it wrote), then walks time in reverse: ``dx`` and the per-neuron
  threshold gradient (summed over time; the host reduces it to the threshold's shape).

The threshold is read per neuron (``theta_step = 1``) or once for all (``theta_step = 0``),
the gradient of ``spikes`` likewise (``gs_step = 0``: the gradient of ``spikes.sum()``, one
broadcast value). These, the surrogate (``surr``) and the sizes are runtime scalars, never
specialised on their value, so a dtype is the only thing that compiles a new kernel.
Offsets are int64, so ``T * N`` may pass 2**31.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

from mpe_psn.ops.common.triton_math import block_offsets, flat_index, surrogate_grad

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"

FORWARD_INTS = ["T", "N", "theta_step"]
BACKWARD_INTS = FORWARD_INTS + ["gs_step", "surr"]


@triton.jit
def _neurons(theta_ptr, N, theta_step, BLOCK: tl.constexpr):
    """``(offsets, mask, thresholds)`` of this program's ``BLOCK`` neurons."""
    offs = block_offsets(tl.program_id(0), BLOCK)
    mask = offs < N
    return offs, mask, tl.load(theta_ptr + offs * theta_step, mask=mask, other=0.0)


@triton.jit
def _walk_forward(x_ptr, out_ptr, T, N, offs, mask, theta, tau, STORE_H: tl.constexpr):
    """Steps 0 .. T-1 with V in registers; stores S (in ``out``'s dtype) or, ``STORE_H``, H (float32)."""
    v = tl.zeros_like(theta)
    for t in range(T):
        idx = flat_index(t, N, offs)
        x = tl.load(x_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        h = tau * v + x
        w = h - theta
        s = tl.where(w > 0.0, 1.0, 0.0) + w * 0.0
        if STORE_H:
            tl.store(out_ptr + idx, h, mask=mask)
        else:
            tl.store(out_ptr + idx, s.to(out_ptr.dtype.element_ty), mask=mask)
        v = (1.0 - s) * h


@triton.jit(do_not_specialize=FORWARD_INTS, do_not_specialize_on_alignment=["x_ptr", "theta_ptr", "s_ptr"])
def forward_kernel(x_ptr, theta_ptr, s_ptr, T, N, theta_step, tau, BLOCK: tl.constexpr):
    offs, mask, theta = _neurons(theta_ptr, N, theta_step, BLOCK)
    _walk_forward(x_ptr, s_ptr, T, N, offs, mask, theta, tau, False)


@triton.jit(do_not_specialize=BACKWARD_INTS,
            do_not_specialize_on_alignment=["x_ptr", "theta_ptr", "gs_ptr", "h_ptr", "gx_ptr", "gth_ptr"])
def backward_kernel(x_ptr, theta_ptr, gs_ptr, h_ptr, gx_ptr, gth_ptr, T, N, theta_step, gs_step, surr, tau, alpha,
                    BLOCK: tl.constexpr):
    offs, mask, theta = _neurons(theta_ptr, N, theta_step, BLOCK)
    _walk_forward(x_ptr, h_ptr, T, N, offs, mask, theta, tau, True)
    gv = tl.zeros([BLOCK], dtype=tl.float32)
    gth = tl.zeros([BLOCK], dtype=tl.float32)
    for k in range(T):
        idx = flat_index(T - 1 - k, N, offs)
        h = tl.load(h_ptr + idx, mask=mask, other=0.0)
        w = h - theta
        s = tl.where(w > 0.0, 1.0, 0.0) + w * 0.0
        gs = tl.load(gs_ptr + idx * gs_step, mask=mask, other=0.0).to(tl.float32)
        gu = surrogate_grad(surr, w, alpha) * (gs - gv * h)
        gth -= gu
        gh = gu + gv * (1.0 - s)
        tl.store(gx_ptr + idx, gh.to(gx_ptr.dtype.element_ty), mask=mask)
        gv = tau * gh
    tl.store(gth_ptr + offs, gth, mask=mask)
