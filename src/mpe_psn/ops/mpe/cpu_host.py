"""Launch the numba CPU kernels (``cpu_kernels``) on torch tensors [T, N].

Blocks of neurons are split into one contiguous range per thread (``torch.get_num_threads()``
threads, at most one range per ``MIN_WORK`` elements) and run on a small thread pool; the
kernels release the GIL. float16/bfloat16 inputs are widened to float32 for the kernel (numba
has no bfloat16) and the outputs narrowed back; math is float32 either way.
"""

from __future__ import annotations

import atexit
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from mpe_psn.ops.mpe import cpu_kernels as K
from mpe_psn.ops.mpe.passes import PassConfig, is_constant

#: below this many elements per thread a pass runs on the calling thread alone
MIN_WORK = 1 << 16

_DUMMY = np.zeros((1, 1), dtype=np.float32)
_DUMMY1 = np.zeros(1, dtype=np.float32)
_DUMMY_U8 = np.zeros((1, 1), dtype=np.uint8)
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = -1
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads (rebuilt after a fork: threads do not survive it)."""
    global _pool, _pool_size, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_size < workers or _pool_pid != os.getpid():
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mpe_psn_cpu")
            _pool_size, _pool_pid = workers, os.getpid()
            atexit.register(_pool.shutdown, wait=False)
        return _pool


def _run_blocks(kernel, T: int, N: int, *args) -> None:
    """Run ``kernel(b0, b1, *args)`` over all neuron blocks, split across threads."""
    nblocks = _nblocks(N)
    workers = max(1, min(torch.get_num_threads(), nblocks, (T * N) // MIN_WORK))
    if workers == 1:
        kernel(0, nblocks, *args)
        return
    edges = [nblocks * w // workers for w in range(workers + 1)]
    pool = _executor(workers)
    futures = [pool.submit(kernel, edges[w], edges[w + 1], *args) for w in range(1, workers)]
    kernel(edges[0], edges[1], *args)  # the calling thread does the first share
    for future in futures:
        future.result()


def _f32(t: torch.Tensor | None) -> np.ndarray:
    """A float32 C-contiguous numpy view (or copy) of ``t``; a dummy for None."""
    if t is None:
        return _DUMMY
    return t.detach().to(torch.float32).contiguous().numpy()


def _nblocks(N: int) -> int:
    return max(1, (N + K.BLOCK - 1) // K.BLOCK)


def _theta(cfg: PassConfig) -> np.float32:
    return np.float32(float(cfg.theta))


def forward_pass(x, noise, est, cfg: PassConfig, final, store_pot, spikes, vhat_out, v_out, mask_out=None):
    T, N = x.shape
    direct = final and spikes.dtype == torch.float32
    spk = spikes.numpy() if direct else (np.empty((T, N), dtype=np.float32) if final else _DUMMY)
    part = np.zeros((_nblocks(N), T), dtype=np.float32)
    vh = vhat_out.numpy() if store_pot else _DUMMY
    vo = v_out.numpy() if v_out is not None else _DUMMY
    _run_blocks(
        K.forward_pass, T, N,
        _f32(x), _f32(noise), _f32(est), cfg.est_mode, est is not None, final, store_pot, cfg.k1, cfg.k2,
        np.float32(cfg.tau), _theta(cfg), spk, vh, vo, part,
        _DUMMY_U8 if mask_out is None else mask_out.numpy(), mask_out is not None,
    )
    if not final:
        return None
    if not direct:
        spikes.copy_(torch.from_numpy(spk))
    return torch.from_numpy(part.astype(np.float64).sum(axis=0).astype(np.float32))


def backward_pass(x, noise, est, cfg: PassConfig, final, first, g_spikes, coef, g_v, acc, gx, g_est, mask=None):
    T, N = x.shape
    direct = first and gx.dtype == torch.float32
    gx_np = gx.numpy() if direct else (np.empty((T, N), dtype=np.float32) if first else _DUMMY)
    g_theta = np.zeros(_nblocks(N), dtype=np.float32)
    gs_const = final and is_constant(g_spikes)
    if not final:
        gs = _DUMMY
    elif gs_const:
        gs = np.full((1, 1), float(g_spikes.reshape(-1)[0]), dtype=np.float32)
    else:
        gs = _f32(g_spikes)
    _run_blocks(
        K.backward_pass, T, N,
        _f32(x), _f32(noise), _f32(est), K.EST_MASK if mask is not None else cfg.est_mode, est is not None,
        final, first, cfg.k1, cfg.k2, np.float32(cfg.tau), _theta(cfg), cfg.surrogate, np.float32(cfg.alpha),
        gs, gs_const, coef.numpy() if final else _DUMMY1,
        _f32(g_v), acc.numpy() if acc is not None else _DUMMY, gx_np,
        g_est.numpy() if g_est is not None else _DUMMY, g_theta,
        _DUMMY_U8 if mask is None else mask.contiguous().numpy(),
    )
    if first and not direct:
        gx.copy_(torch.from_numpy(gx_np))
    return torch.tensor(float(g_theta.astype(np.float64).sum()), dtype=torch.float32)
