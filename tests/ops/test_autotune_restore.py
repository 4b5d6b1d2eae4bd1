"""The autotuner's side effects, emulated under Triton's interpreter.

On a GPU the first launch of each (T, N) times every config of ``TUNING_CONFIGS`` on the real
buffers, then runs the best one. Buffers a kernel reads (``acc``) or writes only in part (the
per-program rows of ``part`` and ``gth``) must be restored between those runs, or the layer's
first call returns a wrong membrane loss and threshold gradient (seen on an H200 before
``RESTORED`` listed ``part_ptr`` and ``gth_ptr``). The interpreter never autotunes, so this test
replays the autotuner's sequence itself (each config, restoring exactly ``RESTORED``, then the
config with the largest block, which leaves the most stale rows) and compares with the
reference.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from tests.ops.kernel_helpers import needs_triton, reference_layer

from mpe_psn.ops import mpe_psn_layer


def _autotuner_replay(restored: dict[str, list[str]]):
    """A stand-in for ``triton_host._launch`` that launches like the autotuner's first call."""
    import triton

    from mpe_psn.ops.mpe import triton_host as H
    from mpe_psn.ops.mpe import triton_kernels as K

    def launch(kernel_name, x, T, N, args, flags):
        kernel = getattr(K, kernel_name)
        names = list(inspect.signature(kernel.fn).parameters)
        keep = [names.index(name) for name in restored[kernel_name]]
        constexprs = dict(zip(H.FLAG_NAMES[kernel_name], flags))

        def run(block, warps):
            kernel[(triton.cdiv(N, block),)](*args, **constexprs, BLOCK=block, num_warps=warps, enable_fp_fusion=False)

        with H._interpreter_scope():
            for block, warps in K.TUNING_CONFIGS:  # the timing runs, each followed by the restore
                saved = {i: args[i].clone() for i in keep}
                run(block, warps)
                for i, value in saved.items():
                    args[i].copy_(value)
            run(*max(K.TUNING_CONFIGS))  # the real run with the "best" config

    return launch


def _layer_against_reference(refine_steps: int):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(4, 1100, generator=g) * 1.5 + 0.5).requires_grad_(True)  # 9 blocks of 128, 3 of 512
    noise = torch.rand(4, 1100, generator=g)
    thr = torch.tensor(1.0, requires_grad=True)
    spikes, loss = mpe_psn_layer(x, thr, 0.25, noise=noise, refine_steps=refine_steps, backend="triton")
    gx, gthr = torch.autograd.grad(spikes.sum() + 3 * loss, [x, thr])
    xr = x.detach().clone().requires_grad_(True)
    thr_r = torch.tensor(1.0, requires_grad=True)
    out, loss_r = reference_layer(xr, thr_r, None, "bernoulli", refine_steps, noise)
    gxr, gthr_r = torch.autograd.grad(out.spikes.sum() + 3 * loss_r, [xr, thr_r])
    return (loss, gx, gthr), (loss_r, gxr, gthr_r)


@needs_triton
@pytest.mark.parametrize("refine_steps", [0, 1])
def test_first_autotuned_call_equals_the_reference(monkeypatch, refine_steps):
    from mpe_psn.ops.mpe import triton_host as H
    from mpe_psn.ops.mpe import triton_kernels as K

    monkeypatch.setattr(H, "_launch", _autotuner_replay(K.RESTORED))
    monkeypatch.setattr(H, "launch_setting", lambda N: None)  # size part/gth rows as on a GPU
    (loss, gx, gthr), (loss_r, gxr, gthr_r) = _layer_against_reference(refine_steps)
    torch.testing.assert_close(loss, loss_r, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(gthr, gthr_r, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gx, gxr, rtol=1e-4, atol=1e-5)


@needs_triton
def test_the_replay_catches_a_missing_restore(monkeypatch):
    """Without restoring ``part`` and ``gth`` the replay reproduces the GPU's wrong first call."""
    from mpe_psn.ops.mpe import triton_host as H

    monkeypatch.setattr(H, "_launch", _autotuner_replay({"forward_kernel": [], "backward_kernel": ["acc_ptr"]}))
    monkeypatch.setattr(H, "launch_setting", lambda N: None)
    (loss, _, gthr), (loss_r, _, gthr_r) = _layer_against_reference(0)
    assert loss.item() > 1.5 * loss_r.item()
    assert not torch.allclose(gthr, gthr_r, rtol=1e-2)
