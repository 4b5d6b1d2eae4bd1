"""Trace the triton_ops (``ops/*/triton_op.py``) on a machine without a GPU, and run what was traced.

Under Triton's interpreter (this machine's tests) a kernel is a plain Python function: ``wrap_triton``
cannot trace it, and Triton cannot lower it to the TTIR from which torch reads which arguments a
launch writes. So, in one test process:

* :func:`jit_kernels` imports a second copy of a kernels module with the interpreter off: real
  ``JITFunction``s, which trace (and which no CPU can launch);
* :func:`expected_writes` is what each launch writes (one table, checked against torch's own TTIR
  analysis in a process without the interpreter: ``python -m tests.ops.traced_triton``);
* :func:`replay_backend` is an AOTAutograd backend that runs the traced graphs with each kernel
  call launched on the interpreted kernel of the same name.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys

import torch

TRITON_MATH = "mpe_psn.ops.common.triton_math"
MPE_KERNELS = "mpe_psn.ops.mpe.triton_kernels"
LIF_KERNELS = "mpe_psn.ops.lif.triton_kernels"


def jit_kernels(module_name: str):
    """A second import of ``module_name`` and of the Triton helpers it calls, with
    ``TRITON_INTERPRET`` unset; the modules already imported stay as they are."""
    names = (TRITON_MATH, module_name)
    for name in names:
        importlib.import_module(name)
    saved = {name: sys.modules.pop(name) for name in names}
    env = os.environ.pop("TRITON_INTERPRET", None)
    try:
        return importlib.import_module(module_name)
    finally:
        if env is not None:
            os.environ["TRITON_INTERPRET"] = env
        for name, module in saved.items():
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            setattr(sys.modules[parent], child, module)


def expected_writes(kernel: str, flags: dict) -> set[str]:
    """The pointer arguments a launch of ``kernel`` (``module:name``) writes, given its constexprs."""
    if kernel == "mpe:forward_kernel":
        if not flags["FINAL"]:
            return {"v_ptr"}  # a pass before the last: its V
        return {"s_ptr", "part_ptr"} | ({"vhat_ptr", "v_ptr"} if flags["STORE"] else set())
    if kernel == "mpe:backward_kernel":
        return {"gth_ptr"} | ({"gx_ptr"} if flags["FIRST"] else {"acc_ptr", "gest_ptr"})
    # torch also counts the LIF's theta_ptr, which no LIF kernel writes: the neuron offsets that
    # address every store come out of ``_neurons(theta_ptr, ...)``, and torch's analysis takes a
    # call's results to depend on all its arguments
    if kernel == "lif:forward_kernel":
        return {"s_ptr", "theta_ptr"}
    if kernel == "lif:backward_kernel":
        return {"h_ptr", "gx_ptr", "gth_ptr", "theta_ptr"}
    raise KeyError(kernel)


def jit_function(kernel):
    """The ``JITFunction`` inside a side-table kernel (``num_warps`` wraps it in an autotuner)."""
    from triton.runtime.jit import JITFunction

    while not isinstance(kernel, JITFunction):
        kernel = kernel.fn
    return kernel


class _Kernels:
    """The JIT copies of both kernels modules, and which interpreted kernel each stands for."""

    def __init__(self) -> None:
        from mpe_psn.ops.lif import triton_kernels as lif_interpreted
        from mpe_psn.ops.mpe import triton_kernels as mpe_interpreted

        self.mpe, self.lif = jit_kernels(MPE_KERNELS), jit_kernels(LIF_KERNELS)
        self.names: dict[int, str] = {}
        self.interpreted: dict[int, object] = {}
        for short, jit, interpreted in (("mpe", self.mpe, mpe_interpreted), ("lif", self.lif, lif_interpreted)):
            for name in ("forward_kernel", "backward_kernel"):
                self.names[id(getattr(jit, name))] = f"{short}:{name}"
                self.interpreted[id(getattr(jit, name))] = getattr(interpreted, name)

    def name(self, side_table_kernel) -> str:
        return self.names[id(jit_function(side_table_kernel))]


def replay_backend(kernels: _Kernels, graphs: list):
    """AOTAutograd with compilers that keep each graph (in ``graphs``) and run it node by node,
    a kernel call (``triton_kernel_wrapper_functional``) as a launch of the interpreted kernel
    on clones of the tensors it writes."""
    from torch._dynamo.backends.common import aot_autograd
    from torch._functorch.aot_autograd import make_boxed_func
    from torch._higher_order_ops.triton_kernel_wrap import kernel_side_table, triton_kernel_wrapper_functional

    class Replay(torch.fx.Interpreter):
        def call_function(self, target, args, kwargs):
            if target is not triton_kernel_wrapper_functional:
                return super().call_function(target, args, kwargs)
            jit = jit_function(kernel_side_table.get_kernel(kwargs["kernel_idx"]))
            constants = kernel_side_table.get_constant_args(kwargs["constant_args_idx"])
            call = {k: v.clone() if k in kwargs["tensors_to_clone"] else v for k, v in kwargs["kwargs"].items()}
            kernels.interpreted[id(jit)][kwargs["grid"][0]](**call, **constants)
            return {k: call[k] for k in kwargs["tensors_to_clone"]}

    def compiler(gm, example_inputs):
        graphs.append(gm)
        return make_boxed_func(lambda *args: Replay(gm).run(*args))

    return aot_autograd(fw_compiler=compiler, bw_compiler=compiler)


@contextlib.contextmanager
def traced_on_cpu(monkeypatch):
    """Inside: ``torch.compile`` of a triton-backend layer traces its triton_op from the JIT kernels
    (the hosts' ``K``), with the writes of :func:`expected_writes`; yields ``(backend, graphs)``.
    The eager layers must run (and choose their backend) before: their launches need ``K``
    interpreted."""
    import torch._higher_order_ops.triton_kernel_wrap as wrap

    from mpe_psn.ops.lif import op as lif_op
    from mpe_psn.ops.lif import triton_host as lif_host
    from mpe_psn.ops.lif.triton_op import triton_lif
    from mpe_psn.ops.mpe import op as mpe_op
    from mpe_psn.ops.mpe import triton_host as mpe_host
    from mpe_psn.ops.mpe.triton_op import triton_layer

    kernels = _Kernels()

    def writes(kernel_idx, constant_args_idx, kwargs, tma_descriptor_metadata):
        name = kernels.name(wrap.kernel_side_table.get_kernel(kernel_idx))
        flags = {**wrap.kernel_side_table.get_constant_args(constant_args_idx), **kwargs}
        return sorted(expected_writes(name, flags))

    graphs: list = []
    with monkeypatch.context() as patch:
        patch.setattr(mpe_host, "K", kernels.mpe)
        patch.setattr(lif_host, "K", kernels.lif)
        patch.setitem(mpe_op.GRAPH_LAYERS, "triton", triton_layer)
        patch.setitem(lif_op.GRAPH_LIFS, "triton", triton_lif)
        patch.setattr(wrap, "get_mutated_tensors", writes)
        torch._dynamo.reset()
        try:
            yield replay_backend(kernels, graphs), graphs
        finally:
            torch._dynamo.reset()


def torch_writes() -> dict[str, list[str]]:
    """Every specialisation both hosts launch -> the pointers torch's TTIR analysis (the one
    functionalization and Inductor use) finds written. Needs a process without the interpreter;
    the GPU target is given, so no GPU is needed."""
    import types

    import triton
    from torch._higher_order_ops.triton_kernel_wrap import identify_accessed_tensors
    from triton.backends.compiler import GPUTarget

    from mpe_psn.ops.lif import triton_host as lif_host
    from mpe_psn.ops.mpe import triton_host as mpe_host

    triton.runtime.driver.set_active(types.SimpleNamespace(get_current_target=lambda: GPUTarget("cuda", 90, 32)))
    dtypes = {"*fp32": torch.float32, "*fp16": torch.float16, "*bf16": torch.bfloat16, "*i64": torch.int64}

    def written(kernel, signature: dict, constexprs: dict) -> list[str]:
        args = {}
        for name, kind in signature.items():
            if kind.startswith("*"):
                args[name] = torch.empty(2, dtype=dtypes[kind])
            elif kind != "constexpr":
                args[name] = 3 if kind == "i32" else 0.5
        accesses = identify_accessed_tensors(kernel, {**args, **constexprs}, {})
        return sorted(dep.name for dep in accesses.read_writes.writes)

    found = {}
    for spec in mpe_host.specializations():
        flags = dict(spec.constexprs)
        key = json.dumps(["mpe:" + spec.kernel, spec.dtype, flags], sort_keys=True)
        found[key] = written(getattr(mpe_host.K, spec.kernel), mpe_host.signature(spec), {**flags, "BLOCK": 256})
    for kernel in ("forward_kernel", "backward_kernel"):
        for dtype in ("fp32", "fp16", "bf16"):
            key = json.dumps(["lif:" + kernel, dtype, {}])
            found[key] = written(getattr(lif_host.K, kernel), lif_host.signature(kernel, dtype), {"BLOCK": 256})
    return found


def named_kernels() -> dict[str, list[str]]:
    """The kernels torch's compile cache keys each graph op on (compiled kernels only)."""
    from torch._library.triton import get_triton_kernels_for_op

    import mpe_psn.ops.lif.triton_host  # noqa: F401  (the hosts register the graph ops)
    import mpe_psn.ops.mpe.triton_host  # noqa: F401

    ops = ("triton_layer", "triton_layer_backward", "triton_lif", "triton_lif_backward")
    return {op: [f"{k.fn.__module__.split('.')[2]}:{k.fn.__name__}"
                 for k in get_triton_kernels_for_op(f"mpe_psn::{op}")] for op in ops}


if __name__ == "__main__":  # python -m tests.ops.traced_triton: what torch finds, as JSON
    if os.environ.get("TRITON_INTERPRET") == "1":
        sys.exit("run without TRITON_INTERPRET: Triton makes no TTIR under its interpreter")
    print(json.dumps({"writes": torch_writes(), "kernels": named_kernels()}))
