"""MPE-PSN's fused backends in the shared registry (``ops.registry``), op ``"mpe"``: ``"cpu"``
(numba) and ``"triton"``, in that order of preference under ``"auto"``.

Each says why it cannot run on a device and dtype. ``"cpu"`` runs CPU tensors of any floating
dtype (computing in float32) and needs numba; ``"triton"`` runs CUDA tensors (CPU tensors only
under ``TRITON_INTERPRET=1``, for tests) of float32, float16 or bfloat16 and needs Triton. A
host module (``cpu_host``, ``triton_host``: the functions of ``passes.py``) is imported on the
first question about it, once per process.
"""

from __future__ import annotations

import torch

from mpe_psn.ops.registry import Backend, register

OP = "mpe"
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _load_cpu():
    from mpe_psn.ops.mpe import cpu_host  # on first use: importing it loads numba (seconds)

    return cpu_host


def _load_triton():
    from mpe_psn.ops.mpe import triton_host  # on first use: it needs triton, an optional dependency

    return triton_host


def _cpu_unavailable(device: torch.device, dtype: torch.dtype) -> "str | None":
    if device.type != "cpu":
        return f"the 'cpu' kernel runs on CPU tensors, got a {device.type} tensor; use 'triton' or 'auto'"
    if not dtype.is_floating_point:
        return f"the MPE-PSN kernels take floating-point input, got {dtype}"
    return CPU.import_error("the CPU kernel needs numba; pip install numba")


def _triton_unavailable(device: torch.device, dtype: torch.dtype) -> "str | None":
    if device.type not in ("cpu", "cuda"):
        return f"the Triton kernels do not run on {device.type} tensors"
    if dtype not in TRITON_DTYPES:
        return f"the Triton kernels take float32, float16 or bfloat16 input (they compute in float32), got {dtype}"
    reason = TRITON.import_error("Triton is not importable")
    if reason is None and device.type == "cpu" and not TRITON.host().K.INTERPRETED:
        return "the Triton kernels need a CUDA tensor (or TRITON_INTERPRET=1 set before import, for tests)"
    return reason


CPU = register(Backend(OP, "cpu", _cpu_unavailable, _load_cpu, "numba kernels on CPU tensors"))
TRITON = register(Backend(OP, "triton", _triton_unavailable, _load_triton, "Triton kernels on CUDA tensors"))
