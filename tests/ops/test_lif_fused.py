"""The fused exact LIF (``ops.lif``) against the loop (``functional.lif``): spikes bit for bit,
gradients to 1e-5 relative and against finite differences, on the numba kernel and on the
Triton kernel under the interpreter."""

from __future__ import annotations

import math

import pytest
import torch
from tests.ops.kernel_helpers import FUSED, same_spikes

from mpe_psn.functional import lif
from mpe_psn.functional.surrogate import SURROGATES, heaviside
from mpe_psn.ops.lif import lif_spikes

SURROGATE_NAMES = sorted(SURROGATES)


def spikes_and_grads(run, x: torch.Tensor, threshold: torch.Tensor, g: torch.Tensor):
    """``run(x, threshold)``'s spikes and the gradients of ``sum(g * spikes)`` on x and threshold."""
    x = x.detach().clone().requires_grad_(True)
    threshold = threshold.detach().clone().requires_grad_(True)
    spikes = run(x, threshold)
    gx, g_theta = torch.autograd.grad((spikes * g.to(spikes.dtype)).sum(), [x, threshold])
    return spikes.detach(), gx, g_theta


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Elementwise within ``rtol`` of ``expected``, up to ``rtol`` of its largest magnitude."""
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-30))


def drive(T: int, *rest: int, seed: int = 0, scale: float = 1.2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(T, *rest, generator=generator) * scale + 0.3


def test_helpers_can_fail():
    """The comparisons these tests rely on reject a wrong answer."""
    with pytest.raises(AssertionError):
        assert_relative(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.001]))
    assert not same_spikes(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")  # inf * 0, interpreted
@pytest.mark.parametrize("backend", FUSED)
def test_spikes_equal_the_loop_bit_for_bit_with_ties_and_non_finite_values(backend):
    tau = 0.5
    x = drive(9, 2, 37)
    x[0, 0, 0] = 1.0  # H = theta exactly: no spike (the comparison is strict)
    x[0, 0, 1], x[1, 0, 1] = 0.5, 0.75  # H[1] = 0.5 * 0.5 + 0.75 = 1.0 = theta: no spike
    x[2, 1, 2] = float("nan")  # NaN spikes, and the neuron stays NaN afterwards
    x[3, 1, 3], x[4, 1, 4] = float("inf"), float("-inf")
    fused = lif_spikes(x, 1.0, tau, backend=backend)
    loop = lif(x, 1.0, tau).spikes
    assert fused.dtype == x.dtype and fused.shape == x.shape
    assert same_spikes(fused, loop)
    assert fused[0, 0, 0] == 0 and fused[1, 0, 1] == 0 and fused[2:, 1, 2].isnan().all()
    assert 0.05 < float(loop.nan_to_num().mean()) < 0.6  # the drive makes both spikes and silences


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
@pytest.mark.parametrize("threshold_shape", [(), (1,), (37,), (2, 37)], ids=["scalar", "one", "channel", "neuron"])
def test_gradients_match_the_loop(backend, surrogate, threshold_shape):
    x = drive(11, 2, 37, seed=1)
    threshold = 0.7 + 0.6 * torch.rand(threshold_shape, generator=torch.Generator().manual_seed(2))
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    tau = 0.6
    fused = spikes_and_grads(lambda a, th: lif_spikes(a, th, tau, surrogate, backend=backend), x, threshold, g)
    loop = spikes_and_grads(lambda a, th: lif(a, th, tau, surrogate).spikes, x, threshold, g)
    assert same_spikes(fused[0], loop[0])
    assert fused[2].shape == threshold.shape
    assert float(loop[1].abs().max()) > 0.1 and float(loop[2].abs().max()) > 0.1
    assert_relative(fused[1], loop[1])
    assert_relative(fused[2], loop[2])


@pytest.mark.parametrize("backend", FUSED)
def test_per_channel_threshold_of_a_conv_layer(backend):
    """A [C, 1, 1] threshold broadcasts over [B, C, H, W] per step, as in the loop."""
    x = drive(5, 2, 3, 4, 4, seed=4)
    threshold = torch.tensor([0.5, 1.0, 1.5]).reshape(3, 1, 1)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    fused = spikes_and_grads(lambda a, th: lif_spikes(a, th, 0.25, "arctan", backend=backend), x, threshold, g)
    loop = spikes_and_grads(lambda a, th: lif(a, th, 0.25, "arctan").spikes, x, threshold, g)
    assert same_spikes(fused[0], loop[0])
    assert fused[2].shape == (3, 1, 1)
    assert_relative(fused[1], loop[1])
    assert_relative(fused[2], loop[2])


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("T,N", [(1, 1), (1, 1031), (7, 1), (6, 1031), (4096, 3)])
def test_lengths_and_widths(backend, T, N):
    """T = 1 and a long T; one neuron, and a width that is not a multiple of any block."""
    x = drive(T, N, seed=T + N, scale=0.6)
    threshold = torch.tensor(0.9)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(6))
    tau = 0.9
    fused = spikes_and_grads(lambda a, th: lif_spikes(a, th, tau, "sigmoid", backend=backend), x, threshold, g)
    loop = spikes_and_grads(lambda a, th: lif(a, th, tau, "sigmoid").spikes, x, threshold, g)
    assert same_spikes(fused[0], loop[0])
    assert_relative(fused[1], loop[1])
    assert_relative(fused[2], loop[2])
    if T > 1:  # the gradient reaches the first step through the decay and the resets
        assert float(loop[1][0].abs().max()) > 0


def _smooth(name: str, u: torch.Tensor, alpha: float) -> torch.Tensor:
    """An antiderivative of the surrogate ``name``'s dS/du (float64)."""
    if name == "sigmoid":
        return torch.sigmoid(alpha * u)
    if name == "arctan":
        return torch.atan(math.pi / 2 * alpha * u) / math.pi + 0.5
    a = alpha
    inner = torch.where(u <= 0, (u + a) ** 2 / (2 * a * a), 1 - (a - u) ** 2 / (2 * a * a))
    return torch.where(u < -a, torch.zeros_like(u), torch.where(u > a, torch.ones_like(u), inner))


def _linearised_loss(x, theta, tau, name, alpha, g, offsets):
    """``sum(g * S)`` of the LIF with ``S[t] = offsets[t] + smooth(u[t])`` (float64).

    With ``offsets = step - smooth`` taken at the point of interest, S there equals the spikes,
    and the derivative of this smooth function there is exactly the surrogate gradient through
    time (through the decay and through the reset ``V = (1 - S) H``): what the kernels compute.
    """
    v = torch.zeros_like(x[0])
    loss, made = x.new_zeros(()), []
    for t in range(x.shape[0]):
        h = tau * v + x[t]
        u = h - theta
        smooth = _smooth(name, u, alpha)
        offset = heaviside(u) - smooth if offsets is None else offsets[t]
        made.append(offset)
        s = offset + smooth
        v = (1 - s) * h
        loss = loss + (g[t] * s).sum()
    return loss, made


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
def test_gradients_match_finite_differences(backend, surrogate):
    tau, alpha, eps = 0.7, SURROGATES[surrogate][1], 1e-6
    x = drive(6, 4, seed=7, scale=0.9)
    theta = torch.tensor(0.8)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(8))
    spikes, gx, g_theta = spikes_and_grads(lambda a, th: lif_spikes(a, th, tau, surrogate, backend=backend), x, theta, g)

    x64, theta64, g64 = x.double(), theta.double(), g.double()
    _, offsets = _linearised_loss(x64, theta64, tau, surrogate, alpha, g64, None)
    # the float64 trajectory makes the same spike decisions as the float32 kernel (margins are wide)
    assert torch.equal(lif(x64, theta64, tau).spikes.float(), spikes)

    def loss(xv, th):
        return float(_linearised_loss(xv, th, tau, surrogate, alpha, g64, offsets)[0])

    numeric_x = torch.zeros_like(x64)
    for i in range(x64.numel()):
        step = torch.zeros(x64.numel(), dtype=torch.float64)
        step[i] = eps
        step = step.reshape(x64.shape)
        numeric_x.view(-1)[i] = (loss(x64 + step, theta64) - loss(x64 - step, theta64)) / (2 * eps)
    numeric_theta = (loss(x64, theta64 + eps) - loss(x64, theta64 - eps)) / (2 * eps)
    assert float(numeric_x.abs().max()) > 0.1
    assert_relative(gx.double(), numeric_x)
    assert_relative(g_theta.double(), torch.tensor(numeric_theta, dtype=torch.float64))


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_compute_in_float32(backend, dtype):
    """Spikes and dx come back in x's dtype; they are the loop's on x in float32 (the kernels widen)."""
    x = drive(8, 3, 21, seed=9).to(dtype)
    threshold = torch.tensor(1.0)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(10)).to(dtype)
    spikes, gx, g_theta = spikes_and_grads(lambda a, th: lif_spikes(a, th, 0.5, backend=backend), x, threshold, g)
    ref = spikes_and_grads(lambda a, th: lif(a, th, 0.5).spikes, x.float(), threshold, g.float())
    assert spikes.dtype == dtype and gx.dtype == dtype and g_theta.dtype == torch.float32
    assert same_spikes(spikes, ref[0])
    half_ulp = 2.0**-11 if dtype == torch.float16 else 2.0**-8
    assert_relative(gx.float(), ref[1], rtol=2 * half_ulp)
    assert_relative(g_theta, ref[2])
