"""The fused layer equals the reference (``functional.mpe_psn``) given the same noise.

Spikes bit for bit; the membrane loss, potentials and gradients (x, threshold, kappa) to float
tolerance. Low-precision inputs: the fused math is float32 on the widened input, so the
reference runs on ``x.float()``.
"""

from __future__ import annotations

import pytest
import torch
from tests.ops.kernel_helpers import FUSED, reference_layer, same_spikes

from mpe_psn.functional import mpe_psn
from mpe_psn.ops import mpe_psn as fused_mpe_psn
from mpe_psn.ops import mpe_psn_layer

TOL = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def _inputs(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * 1.5 + 0.6).to(dtype)
    noise = torch.rand(shape, generator=g)
    g_spikes = torch.randn(shape, generator=g)
    kappa = torch.rand(shape[0], generator=g) + 0.1
    return x, noise, g_spikes, kappa


def _grads(x, threshold, kappa, spikes, loss, g_spikes):
    total = (spikes.float() * g_spikes).sum() + 3.0 * loss
    return torch.autograd.grad(total, [x, threshold, kappa])


def _check(backend, shape, dtype, estimator, refine, surrogate="triangular", alpha=None, non_contiguous=False):
    x, noise, g_spikes, kappa = _inputs(shape, dtype)
    if non_contiguous:  # a transposed view of the same values
        x = x.transpose(0, 1).contiguous().transpose(0, 1)
        assert not x.is_contiguous()
    noise_arg = noise if estimator == "bernoulli" else None
    thr_f = torch.tensor(1.1, requires_grad=True)
    kap_f = kappa.clone().requires_grad_()
    xf = x.detach().clone().requires_grad_() if not non_contiguous else x.detach().requires_grad_()
    from mpe_psn.functional.surrogate import get_surrogate

    spikes, loss = mpe_psn_layer(
        xf, thr_f, 0.25, kap_f, estimator=estimator, refine_steps=refine, noise=noise_arg,
        surrogate=get_surrogate(surrogate, alpha), backend=backend,
    )
    assert spikes.dtype == dtype and spikes.shape == x.shape
    assert spikes.is_contiguous()
    gx, gth, gk = _grads(xf, thr_f, kap_f, spikes, loss, g_spikes)
    assert gx.dtype == dtype

    xr = x.detach().float().requires_grad_()
    thr_r = torch.tensor(1.1, requires_grad=True)
    kap_r = kappa.clone().requires_grad_()
    out, loss_r = reference_layer(xr, thr_r, kap_r, estimator, refine, noise_arg, surrogate, alpha)
    rx, rth, rk = _grads(xr, thr_r, kap_r, out.spikes, loss_r, g_spikes)

    assert same_spikes(spikes, out.spikes)
    tol = TOL[dtype]
    torch.testing.assert_close(loss, loss_r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx.float(), rx, rtol=tol, atol=tol)
    torch.testing.assert_close(gth, rth, rtol=max(tol, 1e-4), atol=1e-3)  # dL/dspikes arrives in x.dtype
    torch.testing.assert_close(gk, rk, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("estimator", ["bernoulli", "expected"])
@pytest.mark.parametrize("refine", [0, 2])
def test_equals_reference_float32(backend, estimator, refine):
    _check(backend, (6, 3, 37), torch.float32, estimator, refine)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_equals_reference_low_precision(backend, dtype):
    _check(backend, (5, 41), dtype, "bernoulli", 0)
    _check(backend, (5, 41), dtype, "expected", 1)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("shape", [(1, 7), (1, 2, 3), (4, 1), (3, 1029), (7, 2, 3, 5)])
def test_shapes_t1_and_odd_sizes(backend, shape):
    _check(backend, shape, torch.float32, "bernoulli", 1)


@pytest.mark.parametrize("backend", FUSED)
def test_non_contiguous_input(backend):
    _check(backend, (4, 5, 9), torch.float32, "bernoulli", 0, non_contiguous=True)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("surrogate,alpha", [("sigmoid", 3.0), ("arctan", None)])
def test_other_surrogates(backend, surrogate, alpha):
    _check(backend, (5, 33), torch.float32, "bernoulli", 1, surrogate, alpha)


@pytest.mark.parametrize("backend", FUSED)
def test_kappa_none_is_uniform(backend):
    x, noise, _, _ = _inputs((4, 50), torch.float32)
    _, loss = mpe_psn_layer(x, 1.0, 0.25, None, noise=noise, backend=backend)
    _, loss_r = reference_layer(x, 1.0, None, "bernoulli", 0, noise)
    torch.testing.assert_close(loss, loss_r)
    with pytest.raises(ValueError, match="one weight per time step"):
        mpe_psn_layer(x, 1.0, 0.25, torch.ones(3), noise=noise, backend=backend)


@pytest.mark.parametrize("backend", FUSED)
def test_refine_beyond_t_minus_1_is_exact_lif(backend):
    from mpe_psn.functional.lif import lif

    x, _, _, _ = _inputs((5, 64), torch.float32)
    spikes, _ = mpe_psn_layer(x, 1.0, 0.25, None, estimator="expected", refine_steps=9, backend=backend)
    assert torch.equal(spikes, lif(x, 1.0, 0.25).spikes)


@pytest.mark.parametrize("backend", FUSED)
def test_non_finite_input_gives_nan_not_a_spike(backend):
    x, noise, _, _ = _inputs((3, 8), torch.float32)
    x[1, 2] = float("nan")
    x[0, 5] = float("inf")
    spikes, loss = mpe_psn_layer(x, 1.0, 0.25, None, noise=noise, backend=backend)
    out, _ = reference_layer(x, 1.0, None, "bernoulli", 0, noise)
    assert same_spikes(spikes, out.spikes)
    assert spikes[1, 2].isnan() and spikes[0, 5].isnan()
    assert loss.isnan()


@pytest.mark.parametrize("backend", FUSED)
def test_functional_potentials_and_their_gradients(backend):
    x, noise, g, _ = _inputs((5, 3, 11), torch.float32)
    xf = x.clone().requires_grad_()
    thr = torch.tensor(0.9, requires_grad=True)
    out = fused_mpe_psn(xf, thr, noise=noise, refine_steps=1, backend=backend)
    xr = x.clone().requires_grad_()
    thr_r = torch.tensor(0.9, requires_grad=True)
    ref = mpe_psn(xr, thr_r, noise=noise, refine_steps=1)
    assert same_spikes(out.spikes, ref.spikes)
    torch.testing.assert_close(out.v_hat, ref.v_hat)
    torch.testing.assert_close(out.v, ref.v)
    grads = torch.autograd.grad((out.spikes * g).sum() + out.v.sum() + out.v_hat.pow(2).sum(), [xf, thr])
    grads_r = torch.autograd.grad((ref.spikes * g).sum() + ref.v.sum() + ref.v_hat.pow(2).sum(), [xr, thr_r])
    for a, b in zip(grads, grads_r):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("estimator", ["bernoulli", "expected"])
@pytest.mark.parametrize("refine", [1, 3])
def test_refinement_with_hash_sampling_matches_reference(backend, estimator, refine):
    """The kernels' own sampling (hash) and the expected estimator through every refinement pass
    kind (first, middle, last), forward and backward, against the reference on the same noise."""
    from mpe_psn.ops.mpe.noise import draw_seed, hash_uniform

    g = torch.Generator().manual_seed(7)
    x = (torch.randn(6, 2, 1500, generator=g) * 1.5 + 0.6).requires_grad_(True)
    g_out = torch.randn(x.shape, generator=g)
    thr = torch.tensor(1.1, requires_grad=True)
    spikes, loss = mpe_psn_layer(x, thr, 0.25, estimator=estimator, refine_steps=refine,
                                 generator=torch.Generator().manual_seed(5), backend=backend)
    gx, gth = torch.autograd.grad((spikes * g_out).sum() + 3.0 * loss, [x, thr])

    noise = hash_uniform(int(draw_seed(torch.Generator().manual_seed(5))), x.shape) if estimator == "bernoulli" else None
    xr = x.detach().clone().requires_grad_(True)
    thr_r = torch.tensor(1.1, requires_grad=True)
    out, loss_r = reference_layer(xr, thr_r, None, estimator, refine, noise)
    rx, rth = torch.autograd.grad((out.spikes * g_out).sum() + 3.0 * loss_r, [xr, thr_r])
    assert same_spikes(spikes, out.spikes)
    torch.testing.assert_close(loss, loss_r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, rx, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gth, rth, rtol=1e-4, atol=1e-3)
