"""The fused LIF's backends in the shared registry (``ops.registry``), op ``"lif"``: ``"cpu"``
(numba) and ``"triton"``, in that order of preference under ``"auto"``.

Each says why it cannot run on a device and dtype: the kernels take float32, float16 and
bfloat16 (computing in float32; float64 runs the loop, exactly); ``"cpu"`` runs CPU tensors
and needs numba; ``"triton"`` runs CUDA tensors (CPU tensors only under ``TRITON_INTERPRET=1``,
for tests) and needs Triton. A host module is imported on the first question about it, once
per process; ``"auto"`` on a CPU tensor never imports Triton.
"""

from __future__ import annotations

import os
from functools import partial
from importlib import import_module

import torch

from mpe_psn.ops.registry import Backend, register

OP = "lif"
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
NOT_ON_CPU = "the Triton kernels need a CUDA tensor (or TRITON_INTERPRET=1 set before import, for tests)"


def _dtype_reason(dtype: torch.dtype) -> "str | None":
    if dtype in DTYPES:
        return None
    return f"the fused LIF takes float32, float16 or bfloat16 input (it computes in float32), got {dtype}"


def _cpu_unavailable(device: torch.device, dtype: torch.dtype) -> "str | None":
    if device.type != "cpu":
        return f"the 'cpu' kernel runs on CPU tensors, got a {device.type} tensor; use 'triton' or 'auto'"
    return _dtype_reason(dtype) or CPU.import_error("the CPU kernel needs numba; pip install numba")


def _triton_unavailable(device: torch.device, dtype: torch.dtype) -> "str | None":
    if device.type not in ("cpu", "cuda"):
        return f"the Triton kernels do not run on {device.type} tensors"
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        return NOT_ON_CPU  # decided without importing Triton
    reason = _dtype_reason(dtype) or TRITON.import_error("Triton is not importable")
    if reason is None and device.type == "cpu" and not TRITON.host().INTERPRETED:
        return NOT_ON_CPU
    return reason


CPU = register(Backend(OP, "cpu", _cpu_unavailable, partial(import_module, "mpe_psn.ops.lif.cpu_host"),
                       "numba kernels on CPU tensors"))
TRITON = register(Backend(OP, "triton", _triton_unavailable, partial(import_module, "mpe_psn.ops.lif.triton_host"),
                          "Triton kernels on CUDA tensors"))
