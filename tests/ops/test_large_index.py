"""Sizes and layouts: 64-bit indices without allocating 8 GiB, and the awkward shapes.

Index arithmetic is checked where it lives: the torch hash (``noise.hash_index``), the numba
kernels' ``_uniform`` and the Triton helpers ``block_offsets``, ``flat_index`` (``ops/common``) and
``_uniform`` (run under the interpreter with a program id and a neuron count past 2**31), each
against plain Python integers. The layers then run on N not a multiple of any block, T = 1,
non-contiguous and channels-last input against the reference on the same noise.
"""

from __future__ import annotations

import os

import pytest
import torch
from tests.ops.kernel_helpers import FUSED, TRITON_ON_CPU, needs_triton, reference_layer, same_spikes

from mpe_psn.ops import mpe_psn_layer
from mpe_psn.ops.mpe import cpu_kernels, noise
from mpe_psn.ops.mpe.noise import draw_seed, hash_index, hash_uniform, seed_keys

INDICES = [0, 5, 2**31 - 1, 2**31, 2**31 + 77, 2**32 - 1, 2**32, 2**32 + 5, 3 * 2**32 + 12345, 2**40 + 9]
M32 = 0xFFFFFFFF


def _python_uniform(i: int, k1: int, k2: int) -> float:
    """The hash in plain Python integers (the docstring of ``noise.py``), for one index."""
    h = (i & M32) ^ ((k1 + (i >> 32) * noise.KEY_STEP) & M32)
    h ^= h >> 16
    h = (h * noise.M1) & M32
    h ^= h >> 15
    h ^= k2
    h = (h * noise.M2) & M32
    h ^= h >> 16
    return (h >> 8) * 2.0**-24


def test_hash_of_large_indices_in_torch_and_numba():
    k1, k2 = seed_keys(12345)
    expected = [_python_uniform(i, k1, k2) for i in INDICES]
    got = hash_index(torch.tensor(INDICES, dtype=torch.int64), k1, k2).tolist()
    assert got == expected
    assert [float(cpu_kernels._uniform(i, k1, k2)) for i in INDICES] == expected
    # below 2**32 the keys are the seed's own: the noise of existing runs is unchanged
    assert _python_uniform(2**32 - 1, k1, k2) != _python_uniform(2**32 + 2**32 - 1, k1, k2)
    assert hash_uniform(3, (4, 5)).flatten().tolist() == [_python_uniform(i, *seed_keys(3)) for i in range(20)]


if TRITON_ON_CPU:
    import triton
    import triton.language as tl

    from mpe_psn.ops.common import triton_math
    from mpe_psn.ops.mpe import triton_kernels as K

    _saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"  # read when the kernel is decorated
    try:

        @triton.jit
        def _index_probe(idx_ptr, u_ptr, pid, t, N, k1, k2, BLOCK: tl.constexpr):
            offs = triton_math.block_offsets(pid, BLOCK)
            idx = triton_math.flat_index(t, N, offs)
            lanes = tl.arange(0, BLOCK)
            tl.store(idx_ptr + lanes, idx)
            tl.store(u_ptr + lanes, K._uniform(idx, k1, k2))
    finally:
        if _saved is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = _saved


@needs_triton
@pytest.mark.parametrize("pid, t, N", [(2**27 + 1, 0, 2**31 - 1), (3, 5, 2**30 + 3), (0, 40_000, 2**17), (70_000, 9, 2**31 - 1)])
def test_triton_index_helpers_are_64_bit(pid, t, N):
    from mpe_psn.ops.mpe.triton_host import _interpreter_scope

    block = 16
    k1, k2 = seed_keys(99)
    idx = torch.empty(block, dtype=torch.int64)
    u = torch.empty(block, dtype=torch.float32)
    with _interpreter_scope():
        _index_probe[(1,)](idx, u, pid, t, N, k1, k2, BLOCK=block)
    expected = [t * N + pid * block + lane for lane in range(block)]
    assert max(expected) >= 2**31
    assert idx.tolist() == expected
    assert u.tolist() == [_python_uniform(i, k1, k2) for i in expected]


def test_triton_neuron_count_limit_falls_back(monkeypatch):
    """More than 2**31 - 1 neurons per step: the reference, with one warning (a meta tensor, no memory)."""
    from mpe_psn.ops import fallback
    from mpe_psn.ops.mpe import dispatch

    monkeypatch.setattr(fallback, "_warned", set())
    monkeypatch.setattr(dispatch, "_route", lambda backend, device, dtype: ("triton", True))
    x = torch.empty((1, 2**31), device="meta")
    with pytest.warns(RuntimeWarning, match="up to 2147483647 neurons per time step"):
        assert dispatch._fused_or_reference(x, 1.0, "triton") == ("reference", True)
    assert dispatch._fused_or_reference(torch.empty((4, 2**30), device="meta"), 1.0, "triton") == ("triton", True)


def _layer_against_reference(backend, x, seed=3):
    xf = x.detach().requires_grad_(True)
    thr = torch.tensor(0.9, requires_grad=True)
    gen = torch.Generator().manual_seed(seed)
    spikes, loss = mpe_psn_layer(xf, thr, 0.25, generator=gen, backend=backend)
    g_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    gx, gth = torch.autograd.grad((spikes * g_out).sum() + 2.0 * loss, [xf, thr])

    u = hash_uniform(int(draw_seed(torch.Generator().manual_seed(seed))), x.shape)
    xr = x.detach().contiguous().requires_grad_(True)
    thr_r = torch.tensor(0.9, requires_grad=True)
    out, loss_r = reference_layer(xr, thr_r, None, "bernoulli", 0, u)
    rx, rth = torch.autograd.grad((out.spikes * g_out).sum() + 2.0 * loss_r, [xr, thr_r])
    assert same_spikes(spikes, out.spikes)
    assert spikes.shape == x.shape
    torch.testing.assert_close(loss, loss_r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, rx, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gth, rth, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("shape", [(1, 1031), (5, 1031), (1, 3, 7)], ids=["T1", "odd-N", "T1-3d"])
def test_shapes(backend, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) + 0.7
    _layer_against_reference(backend, x)


@pytest.mark.parametrize("backend", FUSED)
def test_channels_last_and_non_contiguous(backend):
    g = torch.Generator().manual_seed(2)
    T, B, C, H, W = 3, 2, 5, 4, 3
    # [T*B, C, H, W] in channels_last memory, viewed as [T, B, C, H, W]
    frames = torch.randn(T * B, C, H, W, generator=g).add(0.6).to(memory_format=torch.channels_last)
    channels_last = frames.reshape(T, B, C, H, W)  # a view: strides of channels-last, not contiguous
    assert not channels_last.is_contiguous() and channels_last.data_ptr() == frames.data_ptr()
    _layer_against_reference(backend, channels_last)
    transposed = torch.randn(B, T, C * H, generator=g).add(0.6).transpose(0, 1)  # [T, B, F], not contiguous
    assert not transposed.is_contiguous()
    _layer_against_reference(backend, transposed)
