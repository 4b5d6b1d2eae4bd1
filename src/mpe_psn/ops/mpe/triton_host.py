"""Launch the Triton kernels (``triton_kernels``) on torch tensors [T, N].

Block size and warps: 256 neurons and 4 warps per program on the GPU (the first fused
kernel's best setting in ANCHORS.md; ``MPE_PSN_TRITON_BLOCK`` overrides it for tuning).
Under the interpreter, one large block (up to 1024) keeps the Python-level loop short.
"""

from __future__ import annotations

import contextlib
import os

import torch
import triton

from mpe_psn.ops.mpe import triton_kernels as K
from mpe_psn.ops.mpe.passes import PassConfig, is_constant


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


def _block(N: int) -> tuple[int, int]:
    if K.INTERPRETED:
        return min(1024, triton.next_power_of_2(max(N, 16))), 4
    block = int(os.environ.get("MPE_PSN_TRITON_BLOCK", "256"))
    return block, 4 if block <= 512 else 8


def forward_pass(x, noise, est, cfg: PassConfig, final, store_pot, spikes, vhat_out, v_out, mask_out=None):
    """One pass (``mask_out`` is not used: the GPU re-hashes, which costs no memory traffic)."""
    T, N = x.shape
    block, warps = _block(N)
    nprog = triton.cdiv(N, block)
    part = torch.empty((nprog, T), dtype=torch.float32, device=x.device) if final else x
    with _interpreter_scope():
        K.forward_kernel[(nprog,)](
            x, x if noise is None else noise, x if est is None else est,
            spikes if final else x, vhat_out if store_pot else x, v_out if v_out is not None else x,
            part, cfg.theta, T, N, cfg.k1, cfg.k2, cfg.tau,
            EST=cfg.est_mode, FROM_BUF=est is not None, FINAL=final, STORE=store_pot, BLOCK=block,
            num_warps=warps, enable_fp_fusion=False,
        )
    return part.sum(dim=0) if final else None


def backward_pass(x, noise, est, cfg: PassConfig, final, first, g_spikes, coef, g_v, acc, gx, g_est, mask=None):
    T, N = x.shape
    block, warps = _block(N)
    nprog = triton.cdiv(N, block)
    g_theta = torch.empty(nprog, dtype=torch.float32, device=x.device)
    with _interpreter_scope():
        K.backward_kernel[(nprog,)](
            x, x if noise is None else noise, x if est is None else est,
            g_spikes if final else x, coef.to(x.device), x if g_v is None else g_v, x if acc is None else acc,
            gx if first else x, x if g_est is None else g_est, g_theta, cfg.theta,
            T, N, cfg.k1, cfg.k2, cfg.tau, cfg.alpha,
            EST=cfg.est_mode, FROM_BUF=est is not None, FINAL=final, FIRST=first, SURR=cfg.surrogate,
                GS_CONST=bool(final and is_constant(g_spikes)), BLOCK=block,
            num_warps=warps, enable_fp_fusion=False,
        )
    return g_theta.sum()
