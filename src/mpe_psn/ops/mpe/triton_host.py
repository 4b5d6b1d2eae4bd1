"""Launch the Triton kernels (``triton_kernels``) on torch tensors seen as [T, N].

The host functions of ``passes.py`` for CUDA tensors (and CPU tensors under the interpreter).
No value is read on the host: the seed, the threshold, kappa and the gradient of L_mem go to
the kernels as pointers. A training call dispatches, besides the two launches: the spikes and
the per-program partial sums (allocations), their sum (and, with kappa, one ``dot``); in the
backward dx and the threshold's partials, their sum (and ``g * step_err`` for kappa).

Block size and warps: on the GPU, ``triton.autotune`` times the settings of
``triton_kernels.TUNING_CONFIGS`` on the first launch of each (kernel specialisation, T, N) and
keeps the fastest (around the first kernel's best setting, 256 neurons and 4 warps, see
docs/design.md "Speed measurements that set the targets"). ``MPE_PSN_TRITON_BLOCK`` (a power of
two, 32 to 4096, read at that first launch) skips the tuning and uses that block (4 warps up to
512, else 8). Under the interpreter, one large block (up to 1024) keeps the Python-level loop
short.

Direct launches: the first launch of a (kernel, dtype, flags, T, N) on a device goes through
Triton's launcher (the autotuner, or ``kernel[grid]``), which returns the compiled kernel; every
later launch is one dict lookup (``_LAUNCHES``) and ``CompiledKernel.run`` with the cached grid
and constexprs: no autotuner, no binder, no specialisation key (Triton's ``kernel[grid]``
costs 6-13 us per launch, the autotuner about 0.1 ms on an H200; ``run`` 3-4 us).

Traced launches: inside a traced ``mpe_psn::triton_layer`` (``triton_op.py``: torch.compile,
fake tensors) the tensors are not plain ``torch.Tensor``s, and a launch goes through
``torch.library.wrap_triton`` instead: the graph holds the kernel call, and Inductor compiles and
launches it (inside a CUDA graph with ``mode="reduce-overhead"``). Its block is fixed
(:func:`traced_setting`), not tuned: the graph holds the grid and the partial sums' size.

Every launch records its :class:`Spec` (kernel, input dtype, constexpr flags) in ``LAUNCHED``;
:func:`specializations` lists every spec the host can launch, and the tests compile each of
them for sm_80 and sm_90 and check ``LAUNCHED`` against the list. Unused pointer arguments get
a stand-in of the dtype the spec's signature names (the threshold for float32 pointers, ``x``
for pointers in x's dtype), so a spec fixes the kernel's signature.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from typing import Any, NamedTuple

import torch
import triton

from mpe_psn.ops.common.tensors import is_constant
from mpe_psn.ops.mpe import codes
from mpe_psn.ops.mpe import triton_kernels as K
from mpe_psn.ops.mpe.passes import PassConfig, loss_scale

BLOCK_ENV = "MPE_PSN_TRITON_BLOCK"
#: the kernels take fewer than this many neurons per step (int32 ``N``); larger layers use the reference
MAX_NEURONS = 2**31 - 1
#: the forward recomputes the sample in the backward (no one-byte record: on a GPU the hash is free)
KEEPS_SAMPLES = False
DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
ESTIMATOR_CODES = (codes.EST_HASH, codes.EST_NOISE, codes.EST_EXPECTED)
#: (FROM_BUF, FINAL, STORE) of every forward launch in ``passes.run_forward`` / ``run_backward``
FORWARD_FLAGS = ((False, False, False), (True, False, False), (False, True, False), (True, True, False),
                 (False, True, True), (True, True, True))
#: (FROM_BUF, FINAL, FIRST) of every backward launch in ``passes.run_backward``
BACKWARD_FLAGS = ((False, True, True), (True, True, False), (True, False, False), (False, False, True))
#: the constexpr names of each kernel after EST, in its parameter order (then BLOCK)
FLAG_NAMES = {"forward_kernel": ("EST", "FROM_BUF", "FINAL", "STORE"), "backward_kernel": ("EST", "FROM_BUF", "FINAL", "FIRST")}


class Spec(NamedTuple):
    """One compiled specialisation: kernel name, x's dtype and the constexpr flags (sorted)."""

    kernel: str
    dtype: str
    constexprs: tuple[tuple[str, object], ...]


class Launch(NamedTuple):
    """How a (kernel, dtype, flags, T, N) launches once its block is known."""

    spec: Spec
    block: int
    warps: int
    grid: tuple[int, int, int]
    #: the compiled kernel (GPU), launched directly; None under the interpreter
    compiled: Any
    #: the constexpr values in parameter order (the flags, then BLOCK): a compiled kernel's
    #: launcher takes every parameter
    constexprs: tuple


LAUNCHED: set[Spec] = set()
#: (kernel name, x dtype, flags, T, N, device index) -> its Launch, from the first launch on
_LAUNCHES: dict[tuple, Launch] = {}


def specializations() -> list[Spec]:
    """Every (kernel, dtype, constexprs) the host may launch (times each of ``K.TUNING_CONFIGS``)."""
    specs = []
    for dtype, est in itertools.product(DTYPES.values(), ESTIMATOR_CODES):
        for from_buf, final, store in FORWARD_FLAGS:
            specs.append(_spec("forward_kernel", dtype, (est, from_buf, final, store)))
        for from_buf, final, first in BACKWARD_FLAGS:
            specs.append(_spec("backward_kernel", dtype, (est, from_buf, final, first)))
    return specs


def _spec(kernel: str, dtype: str, flags: tuple) -> Spec:
    return Spec(kernel, dtype, tuple(sorted(zip(FLAG_NAMES[kernel], flags))))


def signature(spec: Spec) -> dict[str, str]:
    """The Triton signature of ``spec``'s kernel (pointer dtypes as the host passes them)."""
    flags = dict(spec.constexprs)
    x = "*" + spec.dtype
    seed = "*i64" if flags["EST"] == codes.EST_HASH else "*fp32"
    if spec.kernel == "forward_kernel":
        pointers = dict.fromkeys(K.FORWARD_POINTERS, "*fp32")
        pointers.update(x_ptr=x, s_ptr=x if flags["FINAL"] else "*fp32", seed_ptr=seed)
        scalars = {"T": "i32", "N": "i32", "tau": "fp32", "err_scale": "fp32"}
    else:
        pointers = dict.fromkeys(K.BACKWARD_POINTERS, "*fp32")
        pointers.update(x_ptr=x, gs_ptr=x if flags["FINAL"] else "*fp32", gx_ptr=x if flags["FIRST"] else "*fp32",
                        seed_ptr=seed)
        scalars = {"T": "i32", "N": "i32", "tau": "fp32", "alpha": "fp32", "err_scale": "fp32", "surr": "i32",
                   "gs_step": "i32", "has_gs": "i32", "has_kappa": "i32", "has_gloss": "i32"}
    return {**pointers, **scalars, **dict.fromkeys(FLAG_NAMES[spec.kernel] + ("BLOCK",), "constexpr")}


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


#: ``(BLOCK, num_warps)`` of a launch traced into a compiled graph (the first kernel's best
#: setting, docs/design.md "Speed measurements that set the targets")
TRACED_SETTING = (256, 4)


def traced_setting() -> tuple[int, int]:
    """``(BLOCK, num_warps)`` of a launch traced into a compiled graph: ``MPE_PSN_TRITON_BLOCK``,
    else :data:`TRACED_SETTING`."""
    return block_override() or TRACED_SETTING


def launch_setting(N: int) -> tuple[int, int] | None:
    """The fixed ``(BLOCK, num_warps)`` for N neurons, or None when the autotuner picks one."""
    if K.INTERPRETED:
        return min(1024, triton.next_power_of_2(max(N, 16))), 4
    return block_override()


def _device_index() -> int:
    """The device Triton launches on (the current CUDA device); -1 under the interpreter."""
    return -1 if K.INTERPRETED else triton.runtime.driver.active.get_current_device()


def _stream(device: int):
    """The current stream of ``device`` (torch's), as Triton's own launcher takes it."""
    return triton.runtime.driver.active.get_current_stream(device)


def _known(kernel_name: str, x: torch.Tensor, flags: tuple, T: int, N: int) -> "tuple[tuple, Launch | None]":
    """``(key, Launch)`` of this launch; the Launch is None before the first launch of the key
    when the autotuner still has to choose (or under the interpreter, a fixed block: made here)."""
    key = (kernel_name, x.dtype, flags, T, N, _device_index())
    launch = _LAUNCHES.get(key)
    if launch is None:
        fixed = launch_setting(N)
        if fixed is not None and K.INTERPRETED:
            launch = _LAUNCHES[key] = _new_launch(kernel_name, x, flags, N, fixed, None)
    return key, launch


def _new_launch(kernel_name: str, x: torch.Tensor, flags: tuple, N: int, setting: tuple[int, int], compiled) -> Launch:
    block, warps = setting
    spec = _spec(kernel_name, DTYPES[x.dtype], flags)
    return Launch(spec, block, warps, (triton.cdiv(N, block), 1, 1), compiled, (*flags, block))


def _launch(kernel_name: str, x: torch.Tensor, T: int, N: int, args: tuple, flags: tuple) -> None:
    """Launch ``kernel_name`` over the neuron blocks: the first time through Triton's launcher
    (autotuned on a GPU unless ``MPE_PSN_TRITON_BLOCK``), then the cached compiled kernel; on
    traced tensors a node of the graph (``wrap_triton``)."""
    if type(x) is not torch.Tensor:  # traced: a functional or fake tensor (inline: the eager hot path)
        _traced_launch(kernel_name, x, N, args, flags)
        return
    key, launch = _known(kernel_name, x, flags, T, N)
    if launch is not None and launch.compiled is not None:
        LAUNCHED.add(launch.spec)
        _run_compiled(launch, args)
        return
    kwargs = dict(zip(FLAG_NAMES[kernel_name], flags))
    with _interpreter_scope():
        if launch is not None:  # the interpreter: Triton's launcher every time
            LAUNCHED.add(launch.spec)
            getattr(K, kernel_name)[launch.grid](*args, **kwargs, BLOCK=launch.block, num_warps=launch.warps,
                                                 enable_fp_fusion=False)
            return
        LAUNCHED.add(_spec(kernel_name, DTYPES[x.dtype], flags))
        fixed = launch_setting(N)
        if fixed is not None:
            block, warps = fixed
            compiled = getattr(K, kernel_name)[(triton.cdiv(N, block),)](
                *args, **kwargs, BLOCK=block, num_warps=warps, enable_fp_fusion=False)
        else:
            tuned = K.forward_tuned if kernel_name == "forward_kernel" else K.backward_tuned
            compiled = tuned[lambda meta: (triton.cdiv(N, meta["BLOCK"]),)](*args, **kwargs, enable_fp_fusion=False)
            best = getattr(tuned, "best_config", None)  # set by Triton's Autotuner.run
            fixed = (int(best.kwargs["BLOCK"]), int(best.num_warps)) if best is not None and "BLOCK" in best.kwargs else None
        if fixed is not None and compiled is not None:
            _LAUNCHES[key] = _new_launch(kernel_name, x, flags, N, fixed, compiled)


def _traced_launch(kernel_name: str, x: torch.Tensor, N, args: tuple, flags: tuple) -> None:
    """The launch as a kernel call of a traced graph (``N`` may be symbolic): Inductor compiles
    and launches it, with :func:`traced_setting`'s block."""
    from torch.library import wrap_triton  # only under torch.compile: eager launches never need it

    block, warps = traced_setting()
    LAUNCHED.add(_spec(kernel_name, DTYPES[x.dtype], flags))
    wrap_triton(getattr(K, kernel_name))[(triton.cdiv(N, block), 1, 1)](
        *args, **dict(zip(FLAG_NAMES[kernel_name], flags)), BLOCK=block, num_warps=warps, enable_fp_fusion=False)


def _run_compiled(launch: Launch, args: tuple) -> None:
    """``CompiledKernel.run`` as Triton's own launcher calls it (every parameter, constexprs too)."""
    compiled = launch.compiled
    knobs = triton.knobs.runtime
    stream = _stream(_device_index())
    full = (*args, *launch.constexprs)
    grid = launch.grid
    compiled.run(grid[0], grid[1], grid[2], stream, compiled.function, compiled.packed_metadata,
                 compiled.launch_metadata(grid, stream, *full), knobs.launch_enter_hook, knobs.launch_exit_hook, *full)


def _partial_rows(kernel_name: str, x: torch.Tensor, flags: tuple, T: int, N: int, rows_of_T: bool) -> torch.Tensor:
    """Per-program partial sums ([programs, T], or [programs] when not ``rows_of_T``), float32.

    When the launch's block is known every row is written, so the buffer needs no zeroing;
    before the autotuner's first choice it is sized for the smallest block and zeroed (a
    larger block leaves rows unwritten).
    """
    tail = (T,) if rows_of_T else ()
    if type(x) is not torch.Tensor:  # traced
        block = traced_setting()[0]
    else:
        _, launch = _known(kernel_name, x, flags, T, N)
        block = launch.block if launch is not None else (launch_setting(N) or (None,))[0]
    if block is not None:
        return torch.empty((triton.cdiv(N, block), *tail), dtype=torch.float32, device=x.device)
    rows = triton.cdiv(N, min(block for block, _ in K.TUNING_CONFIGS))
    return torch.zeros((rows, *tail), dtype=torch.float32, device=x.device)


def threshold(theta: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The 0-dim float32 threshold on the data's device (the kernels load it)."""
    return theta


def seed(seed_tensor: torch.Tensor | None) -> torch.Tensor | None:
    """The int64 seed on the data's device (None: nothing is sampled)."""
    return seed_tensor


def kappa(weights: torch.Tensor | None, softmax: bool) -> tuple[torch.Tensor | None, bool]:
    """``(w, softmax)``: the float32 step weights [T] the kernels read (the softmax of ``weights``
    when they are logits: one op), None when uniform."""
    if weights is None or not softmax:
        return weights, softmax
    return torch.softmax(weights, dim=0), True


def forward_pass(x, T, N, noise, est, seed_t, theta, cfg: PassConfig, out) -> None:
    """A pass before the last: its corrected potential V into ``out`` (float32)."""
    flags = (cfg.est_mode, est is not None, False, False)
    args = (x, theta if noise is None else noise, theta if est is None else est, theta, theta, out, theta,
            theta, theta if seed_t is None else seed_t, T, N, cfg.tau, 0.0)
    _launch("forward_kernel", x, T, N, args, flags)


def final_forward(x, T, N, noise, est, seed_t, theta, kappa, cfg: PassConfig, spikes, vhat, v, mask):
    """The last pass; returns ``(L_mem, step_err)``: one sum of the partials (uniform kappa,
    step_err None), or the per-step sums and their dot with kappa."""
    store = vhat is not None
    flags = (cfg.est_mode, est is not None, True, store)
    part = _partial_rows("forward_kernel", x, flags, T, N, True)
    args = (x, theta if noise is None else noise, theta if est is None else est, spikes, vhat if store else theta,
            v if store else theta, part, theta, theta if seed_t is None else seed_t, T, N, cfg.tau,
            loss_scale(N, T, kappa[0] is not None))
    _launch("forward_kernel", x, T, N, args, flags)
    if kappa[0] is None:
        return part.sum(), None
    step_err = part.sum(dim=0)
    return torch.dot(step_err, kappa[0]), step_err


def _spikes_gradient(g_spikes: torch.Tensor | None, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """``(tensor, gs_step, has_gs)``: an expanded scalar (the gradient of ``spikes.sum()``) is
    passed as is and read once per element (``gs_step = 0``); absent: ``x`` as a stand-in."""
    if g_spikes is None:
        return x, 0, 0
    if is_constant(g_spikes):  # its data_ptr is the one value; a dtype cast must not materialise it
        return (g_spikes if g_spikes.dtype == x.dtype else g_spikes.as_strided((1,), (1,)).to(x.dtype)), 0, 1
    return g_spikes.to(x.dtype).contiguous(), 1, 1


def backward_pass(x, T, N, noise, est, seed_t, theta, kappa, cfg: PassConfig, final, first, g_spikes, g_loss,
                  g_v, acc, gx, g_est, mask, finish=None):
    """The backward of one pass; writes ``gx`` on the first; returns its threshold partials
    [programs], or with ``finish`` (``passes.py``) the reduced gradients."""
    flags = (cfg.est_mode, est is not None, final, first)
    kappa_t = kappa[0]
    g_theta = _partial_rows("backward_kernel", x, flags, T, N, False)
    gs, gs_step, has_gs = _spikes_gradient(g_spikes, x) if final else (theta, 0, 0)
    args = (
        x, theta if noise is None else noise, theta if est is None else est, gs, theta if g_v is None else g_v,
        theta if acc is None else acc, gx if first else theta, theta if g_est is None else g_est, g_theta, theta,
        theta if seed_t is None else seed_t, theta if kappa_t is None else kappa_t, theta if g_loss is None else g_loss,
        T, N, cfg.tau, cfg.alpha, loss_scale(N, T, kappa_t is not None), cfg.surrogate, gs_step, has_gs,
        int(kappa_t is not None), int(final and g_loss is not None),
    )
    _launch("backward_kernel", x, T, N, args, flags)
    if finish is None:
        return g_theta
    want_theta, step_err, want_kappa = finish
    return finish_backward([g_theta], want_theta, step_err, g_loss, kappa, want_kappa)


def finish_backward(parts, want_theta: bool, step_err, g_loss, kappa, want_kappa: bool):
    """``(dL/dtheta 0-dim, dL/dkappa [T])`` (None where not wanted): one sum; one product, and
    softmax's backward for logits."""
    g_theta = None
    if want_theta:
        g_theta = (parts[0] if len(parts) == 1 else torch.cat(parts)).sum()
    g_kappa = None
    if want_kappa:
        g_kappa = torch.zeros_like(step_err) if g_loss is None else step_err * g_loss
        weights, softmax = kappa
        if softmax:
            g_kappa = torch._softmax_backward_data(g_kappa, weights, 0, torch.float32)
    return g_theta, g_kappa


from mpe_psn.ops.mpe import triton_op  # noqa: E402,F401  (the layer as a triton_op, for compiled graphs)
