"""The machine a run uses: which device, its name, waiting for it, its autocast dtype.

One of each, shared by training, evaluation, the analyses and the benchmarks.
"""

from __future__ import annotations

import os
import platform

import torch

from mpe_psn.errors import UsageError

__all__ = ["DeviceError", "resolve_device", "device_name", "synchronize", "amp_dtype", "AMP_MODES"]

#: The values of ``--amp`` / the config key ``amp``.
AMP_MODES = ("off", "auto", "bf16", "fp16")


class DeviceError(UsageError):
    """A device that this machine does not have; the message says what to ask for instead."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"``: this process's GPU if there is one, else the CPU; ``"cuda"``: GPU ``local_rank``
    (modulo the GPU count). Asking for a GPU that is missing raises :class:`DeviceError`."""
    if not isinstance(name, str) or not name:
        raise DeviceError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"{name!r} was requested but no CUDA GPU is available; use --device cpu")
        if name == "cuda":
            name = f"cuda:{local_rank % torch.cuda.device_count()}"
        index = name.split(":")[1] if ":" in name else ""
        if not index.isdigit():
            raise DeviceError(f"device must be 'cuda' or 'cuda:N', got {name!r}")
        if int(index) >= torch.cuda.device_count():
            raise DeviceError(f"{name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise DeviceError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from error


def device_name(device: "torch.device | str") -> str:
    """A GPU's product name, or the CPU's name with its core and thread counts, for result headers."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} threads")


def synchronize(device: "torch.device | str") -> None:
    """Wait for the queued GPU work of ``device`` (nothing to wait for on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def amp_dtype(mode: str, device: "torch.device | str") -> torch.dtype | None:
    """Autocast dtype of ``--amp mode``: None for ``off``; ``auto`` is bf16 on the CPU and on
    GPUs that support it, else fp16."""
    if mode not in AMP_MODES:
        raise ValueError(f"amp must be one of {list(AMP_MODES)}, got {mode!r}")
    if mode == "off":
        return None
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16":
        return torch.float16
    if torch.device(device).type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
