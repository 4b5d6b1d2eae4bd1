"""Gradients: surrogate formulas, finite differences on smooth paths, an independent autograd
version of the neuron, and no gradient through the Bernoulli sample."""

import math

import pytest
import torch

from mpe_psn import functional as F


def _expected_surrogate_grad(name, u, alpha):
    if name == "triangular":
        return torch.clamp(alpha - u.abs(), min=0) / alpha**2
    if name == "sigmoid":
        sg = 1 / (1 + torch.exp(-alpha * u))
        return alpha * sg * (1 - sg)
    return alpha / 2 / (1 + (math.pi / 2 * alpha * u) ** 2)


@pytest.mark.parametrize("name", ["triangular", "sigmoid", "arctan"])
@pytest.mark.parametrize("alpha", [None, 0.5, 3.0])
def test_surrogate_gradient_equals_its_formula(name, alpha):
    u = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    s = F.spike(u, name, alpha)
    assert torch.equal(s.detach(), (u > 0).double().detach())
    weights = torch.rand(u.shape, dtype=torch.float64)
    (s * weights).sum().backward()
    a = F.get_surrogate(name, alpha).alpha
    torch.testing.assert_close(u.grad, weights * _expected_surrogate_grad(name, u.detach(), a))


def test_default_alphas():
    assert F.get_surrogate("triangular").alpha == 1.0
    # triangular at u = 0 with alpha = 1 has slope 1, zero beyond |u| >= 1
    assert F.get_surrogate("triangular").grad(torch.tensor([0.0, 0.5, 1.0, -2.0])).tolist() == [1.0, 0.5, 0.0, 0.0]


def test_smooth_paths_match_finite_differences():
    # With the threshold far away, the triangular surrogate is exactly 0 and the layer is smooth.
    x = (torch.randn(4, 6, dtype=torch.float64) * 0.8).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: F.mpe_psn(z, threshold=50.0, estimator="expected").v, (x,))
    assert torch.autograd.gradcheck(lambda z: F.mpe_psn(z, threshold=50.0, estimator="expected").v_hat, (x,))
    kappa = torch.softmax(torch.randn(4, dtype=torch.float64), 0).requires_grad_()

    def mem(z, k):
        r = F.mpe_psn(z, threshold=50.0, estimator="expected", refine_steps=1)
        return F.membrane_loss_terms(r.v_hat, r.v, k)

    assert torch.autograd.gradcheck(mem, (x, kappa))
    noise = torch.rand(x.shape, dtype=torch.float64)

    def bern(z):
        r = F.mpe_psn(z, threshold=50.0, noise=noise)
        return F.membrane_loss_terms(r.v_hat, r.v, None)

    assert torch.autograd.gradcheck(bern, (x,))


def test_no_gradient_through_the_bernoulli_sample():
    x = torch.randn(5, 300, dtype=torch.float64, requires_grad=True)
    noise = torch.rand(x.shape, dtype=torch.float64)
    v_hat = F.mpe_psn(x, noise=noise).v_hat
    v_hat.sum().backward()
    fired = (noise < torch.sigmoid(x.detach())).double()
    assert torch.equal(x.grad, 1 - fired)  # d[(1 - b) x]/dx = 1 - b: no sigmoid-derivative term


def _triangle_integral(u):
    # antiderivative of max(0, 1 - |u|): a straight-through soft step with the triangular slope
    c = u.clamp(-1, 1)
    return torch.where(c < 0, 0.5 * (1 + c) ** 2, 1 - 0.5 * (1 - c) ** 2)


def _independent_mpe(x, theta, tau, noise, kappa, refine_steps):
    """The neuron written again with a straight-through spike instead of the package's Function."""

    def spike(u):
        soft = _triangle_integral(u)
        return (u > 0).to(u.dtype) + soft - soft.detach()

    b = (noise < torch.sigmoid(x).detach()).to(x.dtype)
    v_hat = (1 - b) * x
    estimate = v_hat
    for _ in range(refine_steps + 1):
        prev = torch.cat([torch.zeros_like(x[:1]), estimate[:-1]]) * tau
        h = x + prev
        s = spike(h - theta)
        v = (1 - s) * h
        estimate = v
    per_step = ((v_hat - v) ** 2).reshape(x.shape[0], -1).mean(1)
    return s, (kappa * per_step).mean()


@pytest.mark.parametrize("refine_steps", [0, 1, 3])
def test_whole_neuron_gradients_match_an_independent_autograd_version(refine_steps):
    g = torch.Generator().manual_seed(refine_steps)
    T = 6
    x0 = torch.randn(T, 3, 5, 5, generator=g, dtype=torch.float64) + 0.7
    noise = torch.rand(x0.shape, generator=g, dtype=torch.float64)
    weights = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    grads = []
    for impl in ("package", "independent"):
        x = x0.clone().requires_grad_()
        theta = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
        logits = torch.zeros(T, dtype=torch.float64, requires_grad=True)
        kappa = torch.softmax(logits * 1.0 + torch.arange(T) * 0.1, 0)
        if impl == "package":
            r = F.mpe_psn(x, threshold=theta, noise=noise, refine_steps=refine_steps)
            s, mem = r.spikes, F.membrane_loss_terms(r.v_hat, r.v, kappa)
        else:
            s, mem = _independent_mpe(x, theta, 0.25, noise, kappa, refine_steps)
        ((s * weights).sum() + 0.3 * mem).backward()
        grads.append((s.detach(), x.grad, theta.grad, logits.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert grads[0][1].abs().sum() > 0 and grads[0][2].abs() > 0 and grads[0][3].abs().sum() > 0


def test_lif_gradient_matches_independent_unrolled_version():
    x0 = torch.randn(7, 40, dtype=torch.float64) + 0.6
    w = torch.randn(x0.shape, dtype=torch.float64)
    x = x0.clone().requires_grad_()
    (F.lif(x, threshold=1.0).spikes * w).sum().backward()
    y = x0.clone().requires_grad_()
    v = torch.zeros_like(y[0])
    out = []
    for t in range(7):
        h = 0.25 * v + y[t]
        soft = _triangle_integral(h - 1.0)
        s = (h > 1.0).double() + soft - soft.detach()
        v = (1 - s) * h
        out.append(s)
    (torch.stack(out) * w).sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12)
