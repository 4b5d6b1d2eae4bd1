"""Timing and memory measurement for one callable on one device.

Time: median of ``repeats`` samples after ``warmup`` calls; CUDA events on the GPU (one call
per sample, synchronised), ``time.perf_counter`` on the CPU around enough back-to-back calls
that a sample lasts at least 2 ms (``timeit``'s autorange). Memory: the CUDA allocator's peak above the
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

__all__ = ["calls_per_sample", "median_ms", "paired_difference_ms", "peak_memory_bytes", "saved_bytes", "run_meta"]


#: on the CPU a timed sample repeats a call until it lasts at least this long (seconds), as
#: ``timeit.Timer.autorange`` does: one call of a small layer (tens of microseconds) is too short
#: for one clock reading to time it against the machine's noise
MIN_SAMPLE_S = 2e-3


def calls_per_sample(fn: Callable[[], object], min_seconds: float = MIN_SAMPLE_S) -> int:
    """How many back-to-back calls of ``fn`` one CPU sample needs to last ``min_seconds`` (1, 2, 5, 10, ...)."""
    for number in (1, 2, 5, 10, 20, 50, 100, 200, 500):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= min_seconds:
            return number
    return 1000


def median_ms(fn: Callable[[], object], device: torch.device, repeats: int = 10, warmup: int = 2) -> float:
    """Median wall time of one ``fn()`` in milliseconds over ``repeats`` samples (on the CPU each
    sample is the mean of :func:`calls_per_sample` back-to-back calls)."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    number = calls_per_sample(fn) if device.type != "cuda" else 1
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
            times.append(_cpu_sample_ms(fn, number))
    return statistics.median(times)


def _cpu_sample_ms(fn: Callable[[], object], number: int) -> float:
    """One CPU sample: the mean time of ``number`` back-to-back calls of ``fn``, milliseconds."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) * 1e3 / number


def paired_difference_ms(fn_a: Callable[[], object], fn_b: Callable[[], object], rounds: int = 20,
                         warmup: int = 2) -> float:
    """Median over ``rounds`` of ``time(fn_a()) - time(fn_b())`` in milliseconds (CPU): each round
    takes one sample of each, back to back (as :func:`median_ms` samples), so both see the same
    moment of a shared machine's load and a small difference is not lost in it."""
    for _ in range(warmup):
        fn_a(), fn_b()
    numbers = calls_per_sample(fn_a), calls_per_sample(fn_b)
    differences = [_cpu_sample_ms(fn_a, numbers[0]) - _cpu_sample_ms(fn_b, numbers[1]) for _ in range(rounds)]
    return statistics.median(differences)


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
