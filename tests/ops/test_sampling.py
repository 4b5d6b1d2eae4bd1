"""In-kernel sampling: the counter hash, reproducibility, statistics, forward/backward agreement."""

from __future__ import annotations

import math

import pytest
import torch
from tests.ops.kernel_helpers import FUSED, reference_layer, same_spikes

from mpe_psn.functional import mpe_psn
from mpe_psn.ops import mpe_psn as fused_mpe_psn
from mpe_psn.ops import mpe_psn_layer
from mpe_psn.ops.mpe.noise import draw_seed, hash_uniform, seed_keys


def _lowbias32_uniform(index: int, k1: int, k2: int) -> float:
    """An independent pure-Python statement of the hash in noise.py."""
    m = 0xFFFFFFFF
    h = (index ^ k1) & m
    h ^= h >> 16
    h = (h * 0x7FEB352D) & m
    h ^= h >> 15
    h ^= k2
    h = (h * 0x846CA68B) & m
    h ^= h >> 16
    return (h >> 8) / 2**24


@pytest.mark.parametrize("seed", [0, 1, 123456789, 2**62 - 1])
def test_hash_uniform_matches_pure_python(seed):
    k1, k2 = seed_keys(seed)
    assert 0 <= k1 < 2**31 and 0 <= k2 < 2**31
    u = hash_uniform(seed, (3, 7, 11))
    assert u.dtype == torch.float32 and u.shape == (3, 7, 11)
    flat = u.flatten()
    for i in [0, 1, 2, 100, 230]:
        assert flat[i].item() == _lowbias32_uniform(i, k1, k2)


def test_hash_uniform_is_uniform_and_seed_dependent():
    u = hash_uniform(7, (200_000,))
    assert 0.0 <= u.min().item() and u.max().item() < 1.0
    assert abs(u.mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / u.numel())
    hist = torch.histc(u, bins=10, min=0.0, max=1.0)
    assert (hist - 20_000).abs().max().item() < 5 * math.sqrt(20_000)  # 5 sigma per bin
    assert not torch.equal(u, hash_uniform(8, (200_000,)))


@pytest.mark.parametrize("backend", FUSED)
def test_in_kernel_sample_is_the_hash_of_the_drawn_seed(backend):
    """vhat = (1 - b) x exposes every element's sample: it equals the reference on hash noise."""
    x = torch.randn(4, 3, 50) + 0.3
    gen = torch.Generator().manual_seed(11)
    out = fused_mpe_psn(x, generator=gen, backend=backend)
    seed = draw_seed(torch.Generator().manual_seed(11))
    ref = mpe_psn(x, noise=hash_uniform(int(seed), x.shape))
    assert torch.equal(out.v_hat, ref.v_hat)
    assert same_spikes(out.spikes, ref.spikes)


@pytest.mark.parametrize("backend", FUSED)
def test_same_seed_same_result(backend):
    x = torch.randn(5, 300)
    torch.manual_seed(3)
    a, la = mpe_psn_layer(x, 1.0, 0.25, None, backend=backend)
    torch.manual_seed(3)
    b, lb = mpe_psn_layer(x, 1.0, 0.25, None, backend=backend)
    c, lc = mpe_psn_layer(x, 1.0, 0.25, None, backend=backend)  # the RNG moved on: a new sample
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.equal(la, lc)


@pytest.mark.parametrize("backend", FUSED)
def test_forward_and_backward_see_the_same_sample(backend):
    x = (torch.randn(6, 400) + 0.5).requires_grad_()
    kappa = torch.full((6,), 0.5, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    spikes, loss = mpe_psn_layer(x, thr, 0.25, kappa, generator=torch.Generator().manual_seed(5), backend=backend)
    grads = torch.autograd.grad(spikes.sum() + 10 * loss, [x, thr, kappa])

    noise = hash_uniform(int(draw_seed(torch.Generator().manual_seed(5))), x.shape)
    xr = x.detach().clone().requires_grad_()
    thr_r = torch.tensor(1.0, requires_grad=True)
    kappa_r = torch.full((6,), 0.5, requires_grad=True)
    out, loss_r = reference_layer(xr, thr_r, kappa_r, "bernoulli", 0, noise)
    grads_r = torch.autograd.grad(out.spikes.sum() + 10 * loss_r, [xr, thr_r, kappa_r])
    assert same_spikes(spikes, out.spikes)
    for a, b in zip(grads, grads_r):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", FUSED)
def test_sample_rate_matches_sigmoid(backend):
    """P(b = 1) = sigmoid(x): the fraction of zeroed estimates, within 5 standard errors."""
    n = 40_000
    for value in (-1.0, 0.3, 2.0):
        x = torch.full((2, n), value)
        out = fused_mpe_psn(x, threshold=100.0, backend=backend)
        rate = (out.v_hat == 0).float().mean().item()
        p = 1 / (1 + math.exp(-value))
        assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / (2 * n)), (value, rate, p)


@pytest.mark.parametrize("backend", FUSED)
def test_spike_rate_matches_expectation(backend):
    """x[0] = 2, x[1] = 0.8, theta = 1: S[1] = 1 iff b[0] = 0, so P(S[1]) = 1 - sigmoid(2)."""
    n = 60_000
    x = torch.stack([torch.full((n,), 2.0), torch.full((n,), 0.8)])
    spikes, _ = mpe_psn_layer(x, 1.0, 0.25, None, backend=backend)
    rate = spikes[1].mean().item()
    p = 1 - 1 / (1 + math.exp(-2.0))
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert spikes[0].eq(1).all()


@pytest.mark.parametrize("backend", FUSED)
def test_backward_keeps_only_the_input(backend):
    """Saved for backward: x, the threshold, the seed (no vhat, V or noise) and, on the CPU
    path only, one byte per element recording the sample."""
    x = torch.randn(8, 256, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spikes, loss = mpe_psn_layer(x, thr, 0.25, None, backend=backend)
    extra = x.numel() if backend == "cpu" else 0
    assert sum(saved) <= x.numel() * x.element_size() + extra + 64, saved
    (spikes.sum() + loss).backward()
    assert x.grad is not None and thr.grad is not None


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("refine", [0, 1])
def test_a_later_forward_does_not_change_an_earlier_layers_backward(backend, refine):
    """Two layers run forward before either runs backward (any network): each backward sees its
    own sample, whether the seed was drawn into a reused buffer (the CPU kernel keeps the sample
    record) or kept for the backward (refinement, Triton)."""
    g_out = torch.randn(5, 300, generator=torch.Generator().manual_seed(2))
    xs = [(torch.randn(5, 300, generator=torch.Generator().manual_seed(s)) + 0.5).requires_grad_() for s in (0, 1)]
    outs = [mpe_psn_layer(x, 1.0, 0.25, None, refine_steps=refine, generator=torch.Generator().manual_seed(10 + i),
                          backend=backend) for i, x in enumerate(xs)]
    for i, (x, (spikes, loss)) in enumerate(zip(xs, outs)):
        (gx,) = torch.autograd.grad((spikes * g_out).sum() + 4.0 * loss, x)
        noise = hash_uniform(int(draw_seed(torch.Generator().manual_seed(10 + i))), x.shape)
        xr = x.detach().clone().requires_grad_()
        out, loss_r = reference_layer(xr, 1.0, None, "bernoulli", refine, noise)
        (rx,) = torch.autograd.grad((out.spikes * g_out).sum() + 4.0 * loss_r, xr)
        assert same_spikes(spikes, out.spikes)
        torch.testing.assert_close(gx, rx, rtol=1e-5, atol=1e-5)
