"""Launch the Triton kernels (``triton_kernels``) on torch tensors [T, N].

Block size and warps: on the GPU, ``triton.autotune`` times the settings of
``triton_kernels.TUNING_CONFIGS`` on the first launch of each (T, N) and keeps the fastest
(around the first kernel's best setting, 256 neurons and 4 warps, see docs/design.md "Speed
measurements that set the targets"). ``MPE_PSN_TRITON_BLOCK`` (a power of two, 32 to 4096)
skips the tuning and uses that block (4 warps up to 512, else 8). Under the interpreter, one
large block (up to 1024) keeps the Python-level loop short. Once the autotuner has chosen for a
(kernel, dtype, flags, T, N), later launches of it go straight to the kernel with that setting
(``_TUNED``): the autotuner's own Python costs about 0.1 ms per launch, measured on an H200,
which is most of a small layer's time.

Every launch goes through :func:`_launch`, which records its :class:`Spec` (kernel, input
dtype, constexpr flags) in ``LAUNCHED``; :func:`specializations` lists every spec the host can
launch, and the tests compile each of them for sm_80 and sm_90 and check ``LAUNCHED`` against
the list. Unused pointer arguments always get the 0-dim float32 threshold as a stand-in, so a
spec fixes the kernel's signature.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from typing import NamedTuple

import torch
import triton

from mpe_psn.ops.mpe import codes
from mpe_psn.ops.mpe import triton_kernels as K
from mpe_psn.ops.mpe.passes import PassConfig, is_constant

BLOCK_ENV = "MPE_PSN_TRITON_BLOCK"
#: the kernels take fewer than this many neurons per step (int32 ``N``); larger layers use the reference
MAX_NEURONS = 2**31 - 1
DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
ESTIMATOR_CODES = (codes.EST_HASH, codes.EST_NOISE, codes.EST_EXPECTED)
#: (FROM_BUF, FINAL, STORE) of every forward launch in ``passes.run_forward`` / ``run_backward``
FORWARD_FLAGS = ((False, False, False), (True, False, False), (False, True, False), (True, True, False),
                 (False, True, True), (True, True, True))
#: (FROM_BUF, FINAL, FIRST) of every backward launch in ``passes.run_backward``
BACKWARD_FLAGS = ((False, True, True), (True, True, False), (True, False, False), (False, False, True))


class Spec(NamedTuple):
    """One compiled specialisation: kernel name, x's dtype and the constexpr flags (sorted)."""

    kernel: str
    dtype: str
    constexprs: tuple[tuple[str, object], ...]


LAUNCHED: set[Spec] = set()
#: (spec, T, N) -> the (BLOCK, num_warps) the autotuner chose on its first launch
_TUNED: dict[tuple[Spec, int, int], tuple[int, int]] = {}


def specializations() -> list[Spec]:
    """Every (kernel, dtype, constexprs) the host may launch (times each of ``K.TUNING_CONFIGS``)."""
    specs = []
    for dtype, est in itertools.product(DTYPES.values(), ESTIMATOR_CODES):
        for from_buf, final, store in FORWARD_FLAGS:
            specs.append(_spec("forward_kernel", dtype, EST=est, FROM_BUF=from_buf, FINAL=final, STORE=store))
        for from_buf, final, first in BACKWARD_FLAGS:
            specs.append(_spec("backward_kernel", dtype, EST=est, FROM_BUF=from_buf, FINAL=final, FIRST=first))
    return specs


def _spec(kernel: str, dtype: str, **constexprs) -> Spec:
    return Spec(kernel, dtype, tuple(sorted(constexprs.items())))


def signature(spec: Spec) -> dict[str, str]:
    """The Triton signature of ``spec``'s kernel (pointer dtypes as the host passes them)."""
    flags = dict(spec.constexprs)
    x = "*" + spec.dtype
    if spec.kernel == "forward_kernel":
        pointers = dict.fromkeys(("x_ptr", "noise_ptr", "est_ptr", "s_ptr", "vhat_ptr", "v_ptr", "part_ptr", "theta_ptr"), "*fp32")
        pointers.update(x_ptr=x, s_ptr=x if flags["FINAL"] else "*fp32")
        scalars = {"T": "i32", "N": "i32", "k1": "i32", "k2": "i32", "tau": "fp32"}
        names = ("EST", "FROM_BUF", "FINAL", "STORE", "BLOCK")
    else:
        pointers = dict.fromkeys(("x_ptr", "noise_ptr", "est_ptr", "gs_ptr", "coef_ptr", "gv_ptr", "acc_ptr", "gx_ptr",
                                  "gest_ptr", "gth_ptr", "theta_ptr"), "*fp32")
        pointers.update(x_ptr=x, gs_ptr=x if flags["FINAL"] else "*fp32", gx_ptr=x if flags["FIRST"] else "*fp32")
        scalars = {"T": "i32", "N": "i32", "k1": "i32", "k2": "i32", "tau": "fp32", "alpha": "fp32", "surr": "i32",
                   "gs_step": "i32"}
        names = ("EST", "FROM_BUF", "FINAL", "FIRST", "BLOCK")
    return {**pointers, **scalars, **dict.fromkeys(names, "constexpr")}


@contextlib.contextmanager
def _interpreter_scope():
    """Under the interpreter, Triton also reads TRITON_INTERPRET while a kernel runs (it
    imports parts of itself lazily); the test set-up sets it only around the import, so it
    is set again around each launch here."""
    if not K.INTERPRETED or os.environ.get("TRITON_INTERPRET") == "1":
        yield
        return
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        yield
    finally:
        os.environ.pop("TRITON_INTERPRET", None)


def block_override() -> tuple[int, int] | None:
    """``(BLOCK, num_warps)`` from ``MPE_PSN_TRITON_BLOCK``, or None (autotune)."""
    value = os.environ.get(BLOCK_ENV, "").strip()
    if not value:
        return None
    try:
        block = int(value)
    except ValueError:
        block = -1
    if block < 32 or block > 4096 or block & (block - 1):
        raise ValueError(f"{BLOCK_ENV}={value!r} must be a power of two from 32 to 4096 (or unset to autotune)")
    return block, 4 if block <= 512 else 8


def launch_setting(N: int) -> tuple[int, int] | None:
    """The fixed ``(BLOCK, num_warps)`` for N neurons, or None when the autotuner picks one."""
    if K.INTERPRETED:
        return min(1024, triton.next_power_of_2(max(N, 16))), 4
    return block_override()


def _known_setting(kernel_name: str, x: torch.Tensor, N: int, flags: dict) -> tuple[int, int] | None:
    """The ``(BLOCK, num_warps)`` this launch will use, if known before it (fixed or tuned)."""
    fixed = launch_setting(N)
    if fixed is not None:
        return fixed
    return _TUNED.get((_spec(kernel_name, DTYPES[x.dtype], **flags), x.shape[0], N))


def _launch(kernel_name: str, x: torch.Tensor, N: int, args: tuple, flags: dict) -> None:
    """Launch ``kernel_name`` over the neuron blocks (autotuned once per shape, then direct)."""
    spec = _spec(kernel_name, DTYPES[x.dtype], **flags)
    LAUNCHED.add(spec)
    setting = _known_setting(kernel_name, x, N, flags)
    with _interpreter_scope():
        if setting is None:
            tuned = K.forward_tuned if kernel_name == "forward_kernel" else K.backward_tuned
            tuned[lambda meta: (triton.cdiv(N, meta["BLOCK"]),)](*args, **flags, enable_fp_fusion=False)
            best = getattr(tuned, "best_config", None)  # set by Triton's Autotuner.run
            if best is not None and "BLOCK" in best.kwargs:
                _TUNED[(spec, x.shape[0], N)] = (int(best.kwargs["BLOCK"]), int(best.num_warps))
        else:
            block, warps = setting
            kernel = getattr(K, kernel_name)
            kernel[(triton.cdiv(N, block),)](*args, **flags, BLOCK=block, num_warps=warps, enable_fp_fusion=False)


def _partial_rows(kernel_name: str, x: torch.Tensor, N: int, flags: dict, T: int | None) -> torch.Tensor:
    """Per-program partial sums ([programs, T], or [programs] when T is None), float32.

    When the launch's block is known every row is written, so the buffer needs no zeroing;
    before the autotuner's first choice it is sized for the smallest block and zeroed (a
    larger block leaves rows unwritten).
    """
    setting = _known_setting(kernel_name, x, N, flags)
    if setting is not None:
        shape = (triton.cdiv(N, setting[0]),) + (() if T is None else (T,))
        return torch.empty(shape, dtype=torch.float32, device=x.device)
    rows = triton.cdiv(N, min(block for block, _ in K.TUNING_CONFIGS))
    return torch.zeros((rows,) + (() if T is None else (T,)), dtype=torch.float32, device=x.device)


def forward_pass(x, noise, est, cfg: PassConfig, final, store_pot, spikes, vhat_out, v_out, mask_out=None):
    """One pass (``mask_out`` is not used: the GPU re-hashes, which costs no memory traffic)."""
    T, N = x.shape
    unused = cfg.theta
    flags = dict(EST=cfg.est_mode, FROM_BUF=est is not None, FINAL=final, STORE=store_pot)
    part = _partial_rows("forward_kernel", x, N, flags, T) if final else unused
    args = (
        x, unused if noise is None else noise, unused if est is None else est,
        spikes if final else unused, vhat_out if store_pot else unused, v_out if v_out is not None else unused,
        part, cfg.theta, T, N, cfg.k1, cfg.k2, cfg.tau,
    )
    _launch("forward_kernel", x, N, args, flags)
    return part.sum(dim=0) if final else None


def backward_pass(x, noise, est, cfg: PassConfig, final, first, g_spikes, coef, g_v, acc, gx, g_est, mask=None):
    T, N = x.shape
    unused = cfg.theta
    flags = dict(EST=cfg.est_mode, FROM_BUF=est is not None, FINAL=final, FIRST=first)
    g_theta = _partial_rows("backward_kernel", x, N, flags, None)
    gs_step = 1
    if final:
        if is_constant(g_spikes):  # the gradient of spikes.sum(): one value, read by every element
            g_spikes, gs_step = g_spikes[:1, :1].reshape(1), 0
        g_spikes = g_spikes.to(x.dtype)
    args = (
        x, unused if noise is None else noise, unused if est is None else est,
        g_spikes if final else unused, coef.to(x.device), unused if g_v is None else g_v, unused if acc is None else acc,
        gx if first else unused, unused if g_est is None else g_est, g_theta, cfg.theta,
        T, N, cfg.k1, cfg.k2, cfg.tau, cfg.alpha, cfg.surrogate, gs_step,
    )
    _launch("backward_kernel", x, N, args, flags)
    return g_theta.sum()
