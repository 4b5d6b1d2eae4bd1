"""Timing and memory measurement for one callable on one device.

Time: median of ``repeats`` calls after ``warmup`` calls; CUDA events on the GPU (synchronised
once per call), ``time.perf_counter`` on the CPU. Memory: the CUDA allocator's peak above the
level before the call (GPU only), and the bytes autograd keeps for backward (any device,
through ``saved_tensors_hooks``): the activation memory a layer costs inside a network.
"""

from __future__ import annotations

import datetime
import statistics
import time
from typing import Any, Callable

import torch

from mpe_psn.utils.device import device_name, synchronize

__all__ = ["median_ms", "peak_memory_bytes", "saved_bytes", "run_meta"]


def median_ms(fn: Callable[[], object], device: torch.device, repeats: int = 10, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def peak_memory_bytes(fn: Callable[[], object], device: torch.device) -> int | None:
    """Peak CUDA memory allocated during ``fn()`` above what was allocated before (None on CPU)."""
    if device.type != "cuda":
        return None
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - before)


def saved_bytes(forward: Callable[[], object]) -> int:
    """Bytes of the tensors autograd saves for backward while ``forward()`` runs.

    A tensor saved twice (same storage) counts once; the input itself counts, as in a network
    where the layer's input would otherwise be freed.
    """
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor):
        try:
            key = (t.untyped_storage().data_ptr(), t.storage_offset())
            size = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):
            key, size = (id(t), 0), t.numel() * t.element_size()
        seen[key] = max(seen.get(key, 0), size)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward()
    return sum(seen.values())


def run_meta(kind: str, device: torch.device, **extra: Any) -> dict[str, Any]:
    """The header of a benchmark result: what ran, on which device and torch, when."""
    return {
        "kind": kind,
        "device": device_name(device),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **extra,
    }
