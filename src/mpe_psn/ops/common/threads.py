"""The thread pool that runs a CPU kernel over the neuron blocks of x [T, N], for every fused op.

A kernel ``kernel(b0, b1, *args)`` handles the neuron blocks ``b0 .. b1-1`` (``BLOCK`` neurons
each) and releases the GIL. :func:`run_blocks` splits the blocks into one contiguous range per
thread: ``torch.get_num_threads()`` threads, at most one per ``MIN_WORK`` elements (below that a
pass runs on the calling thread alone), on one small process-wide pool (numba's own OpenMP
layer cost ~8 ms per launch on a busy 2-core machine, see docs/kernels.md).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

from mpe_psn.ops.common.numba_math import BLOCK

__all__ = ["MIN_WORK", "block_count", "run_blocks", "workers"]

#: below this many elements per thread a pass runs on the calling thread alone
MIN_WORK = 1 << 16

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = -1
_pool_lock = threading.Lock()


def _executor(count: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``count`` threads (rebuilt after a fork: threads do not survive it)."""
    global _pool, _pool_size, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_size < count or _pool_pid != os.getpid():
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="mpe_psn_cpu")
            _pool_size, _pool_pid = count, os.getpid()
            atexit.register(_pool.shutdown, wait=False)
        return _pool


def block_count(N: int) -> int:
    """Neuron blocks of ``N`` neurons (at least one)."""
    return max(1, (N + BLOCK - 1) // BLOCK)


def workers(T: int, N: int) -> int:
    """Threads for a pass over ``T x N`` elements: one per ``MIN_WORK`` elements, at most torch's
    (not asked when the pass is too small to split: a small layer's call is all host cost)."""
    by_size = (T * N) // MIN_WORK
    if by_size < 2:
        return 1
    return max(1, min(torch.get_num_threads(), block_count(N), by_size))


def run_blocks(kernel: Callable[..., None], T: int, N: int, *args) -> None:
    """Run ``kernel(b0, b1, *args)`` over all neuron blocks, split across threads."""
    nblocks = block_count(N)
    count = workers(T, N)
    if count == 1:
        kernel(0, nblocks, *args)
        return
    edges = [nblocks * w // count for w in range(count + 1)]
    pool = _executor(count)
    futures = [pool.submit(kernel, edges[w], edges[w + 1], *args) for w in range(1, count)]
    kernel(edges[0], edges[1], *args)  # the calling thread does the first share
    for future in futures:
        future.result()
