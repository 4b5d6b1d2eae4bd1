"""Launch the numba CPU kernels (``cpu_kernels``) on torch tensors seen as [T, N].

The host functions of ``passes.py`` for CPU tensors. Tensors reach the kernels as addresses
(``data_ptr()``), so a call dispatches no torch op besides its output allocations, and nothing
is read on the host: the seed, the threshold, kappa and the incoming gradients of L_mem and
of ``spikes.sum()`` are read by the kernels from memory. The membrane loss and the threshold's
gradient are reduced by numba too (``finish_forward``, ``finish_backward``).

Blocks of neurons are split into one contiguous range per thread and run on the small thread
pool of ``ops/common/threads.py``; the kernels release the GIL. float16/bfloat16 inputs are
widened to float32 for the kernel (numba has no bfloat16) and the outputs narrowed back; math
is float32 either way.
"""

from __future__ import annotations

import numpy as np
import torch

from mpe_psn.ops.common.tensors import is_constant
from mpe_psn.ops.common.threads import run_blocks, workers
from mpe_psn.ops.mpe import cpu_kernels as K
from mpe_psn.ops.mpe.passes import PassConfig, loss_scale

#: the forward records each Bernoulli sample in one byte, so the backward needs no hash or exp
KEEPS_SAMPLES = True

_NO_PARTS = np.zeros((1, 1), dtype=np.float32)
_NO_STEPS = np.zeros(0, dtype=np.float32)


def _run_and_finish(kernel, T: int, N: int, nblocks: int, args: tuple, finish_args: tuple, finish, *more) -> None:
    """``kernel`` over all blocks, then its reduction: inside the kernel's own call (its
    ``finish`` flag, then ``finish_args``) when one thread runs every block, so a small layer is
    one numba call; else ``finish(*more, *finish_args)`` after the threads."""
    if workers(T, N) == 1:
        kernel(0, nblocks, *args, True, *finish_args)
        return
    run_blocks(kernel, T, N, *args, False, *finish_args)
    finish(*more, *finish_args)


def _at(t: torch.Tensor | None) -> int:
    """The address of a float32 (or uint8) C-contiguous tensor, 0 for None."""
    return 0 if t is None else t.data_ptr()


def _widened(t: torch.Tensor | None) -> torch.Tensor | None:
    """``t`` itself when float32, else a float32 copy (the kernels read float32)."""
    return t if t is None or t.dtype == torch.float32 else t.float()


def threshold(theta: torch.Tensor, device: torch.device) -> int:
    """The address of the 0-dim float32 threshold (the kernels read it)."""
    return theta.data_ptr()


def seed(seed_tensor: torch.Tensor | None) -> int:
    """The address of the int64 seed (0: nothing is sampled)."""
    return _at(seed_tensor)


def kappa(weights: torch.Tensor | None, softmax: bool) -> tuple[int, bool]:
    """``(address, softmax)`` of the float32 kappa [T] (address 0: uniform); the kernels take
    the softmax of logits themselves."""
    return _at(weights), softmax


def forward_pass(x, T, N, noise, est, seed_at, theta_at, cfg: PassConfig, out) -> None:
    """A pass before the last: its corrected potential V into ``out`` (float32)."""
    xf = _widened(x)
    kernel = K.forward_kernel(cfg.est_mode, False, est is not None, False, False)
    run_blocks(kernel, T, N, T, N, xf.data_ptr(), _at(noise), _at(est), seed_at, theta_at, cfg.tau, 0, 0,
                out.data_ptr(), _NO_PARTS, 0, False, 1.0, 0, False, 0, _NO_STEPS)


def final_forward(x, T, N, noise, est, seed_at, theta_at, kappa, cfg: PassConfig, spikes, vhat, v, mask):
    """The last pass: spikes (and vhat, V when given), the sample record into ``mask`` when
    given; returns ``(L_mem, step_err)``, L_mem a 0-dim float32 tensor, step_err float32 numpy [T]."""
    narrow = x.dtype != torch.float32
    xf = x.float() if narrow else x
    spk = torch.empty(x.shape, dtype=torch.float32) if narrow else spikes
    nblocks = (N + K.BLOCK - 1) // K.BLOCK
    part = np.empty((nblocks, T), dtype=np.float32)
    mem_loss = torch.empty((), dtype=torch.float32)
    step_err = np.empty(T, dtype=np.float32)
    kappa_at, softmax = kappa
    kernel = K.forward_kernel(cfg.est_mode, True, est is not None, vhat is not None, mask is not None)
    args = (T, N, xf.data_ptr(), 0 if noise is None else noise.data_ptr(), 0 if est is None else est.data_ptr(), seed_at,
            theta_at, cfg.tau, spk.data_ptr(), 0 if vhat is None else vhat.data_ptr(), 0 if v is None else v.data_ptr(),
            part, 0 if mask is None else mask.data_ptr())
    _run_and_finish(kernel, T, N, nblocks, args,
                    (loss_scale(N, T, kappa_at != 0), kappa_at, softmax, mem_loss.data_ptr(), step_err),
                    K.finish_forward, part)
    if narrow:
        spikes.copy_(spk)
    return mem_loss, step_err


def _spikes_gradient(g_spikes: torch.Tensor | None) -> tuple[torch.Tensor | None, int]:
    """``(tensor, mode)``: the kernels' view of dL/dspikes, mode 0 absent, 1 dense, 2 one value
    (an expanded scalar, as from ``spikes.sum()``: not materialised)."""
    if g_spikes is None:
        return None, 0
    if is_constant(g_spikes):
        return _widened(g_spikes.as_strided((1,), (1,)) if g_spikes.dtype != torch.float32 else g_spikes), 2
    return _widened(g_spikes.contiguous()), 1


def _host_steps(step_err) -> np.ndarray:
    """``step_err`` as ``final_forward`` returned it (or the custom op's tensor of it, or None)."""
    if step_err is None:
        return _NO_STEPS
    return step_err if isinstance(step_err, np.ndarray) else step_err.detach().numpy()


def backward_pass(x, T, N, noise, est, seed_at, theta_at, kappa, cfg: PassConfig, final, first, g_spikes, g_loss,
                  g_v, acc, gx, g_est, mask, finish=None):
    """The backward of one pass; writes ``gx`` on the first; returns its threshold partials (numpy).

    ``finish`` (the one pass of a layer): ``(want_theta, step_err, want_kappa)``; the gradients
    of the threshold and kappa are then reduced in the same call and returned instead:
    ``(dL/dtheta, dL/dkappa)``.
    """
    xf = x if x.dtype == torch.float32 else x.float()
    gx_f = (gx if gx.dtype == torch.float32 else torch.empty(x.shape, dtype=torch.float32)) if first else None
    gs, gs_mode = _spikes_gradient(g_spikes) if final else (None, 0)
    gl = None if g_loss is None or not final else _widened(g_loss)
    nblocks = (N + K.BLOCK - 1) // K.BLOCK
    g_theta = np.empty(nblocks, dtype=np.float32)
    kappa_at, softmax = kappa
    kernel = K.backward_kernel(K.EST_MASK if mask is not None else cfg.est_mode, final, first, est is not None)
    args = (T, N, xf.data_ptr(), 0 if noise is None else noise.data_ptr(), 0 if est is None else est.data_ptr(), seed_at,
            theta_at, cfg.tau, cfg.surrogate, cfg.alpha, 0 if gs is None else gs.data_ptr(), gs_mode,
            0 if gl is None else gl.data_ptr(), kappa_at, softmax, loss_scale(N, T, kappa_at != 0),
            0 if g_v is None else g_v.data_ptr(), 0 if acc is None else acc.data_ptr(),
            0 if gx_f is None else gx_f.data_ptr(), 0 if g_est is None else g_est.data_ptr(), g_theta,
            0 if mask is None else mask.data_ptr())
    if finish is None:
        run_blocks(kernel, T, N, *args, False, 0, _NO_STEPS, 0)
        result = g_theta
    else:
        want_theta, step_err, want_kappa = finish
        result = _gradient_outputs(want_theta, step_err, want_kappa)
        g_theta_at = 0 if result[0] is None else result[0].data_ptr()
        g_kappa_at = 0 if result[1] is None else result[1].data_ptr()
        _run_and_finish(kernel, T, N, nblocks, args, (g_theta_at, _host_steps(step_err), g_kappa_at),
                        K.finish_backward, g_theta, args[12], kappa_at, softmax)
    if first and gx_f is not gx:
        gx.copy_(gx_f)
    return result


def _gradient_outputs(want_theta: bool, step_err, want_kappa: bool):
    """The float32 tensors the reductions write: ``dL/dtheta`` (0-dim), ``dL/dkappa`` [T] (or None)."""
    g_theta = torch.empty(size=(), dtype=torch.float32) if want_theta else None
    g_kappa = torch.empty(_host_steps(step_err).shape, dtype=torch.float32) if want_kappa else None
    return g_theta, g_kappa


def finish_backward(parts, want_theta: bool, step_err, g_loss, kappa, want_kappa: bool):
    """``(dL/dtheta 0-dim, dL/dkappa [T])`` as float32 tensors (None where not wanted) from the
    partials of every pass."""
    g_theta, g_kappa = _gradient_outputs(want_theta, step_err, want_kappa)
    K.finish_backward(parts[0] if len(parts) == 1 else np.concatenate(parts), _at(_widened(g_loss)), kappa[0], kappa[1],
                      _at(g_theta), _host_steps(step_err), _at(g_kappa))
    return g_theta, g_kappa
