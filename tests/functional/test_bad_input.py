"""Bad input gets an error naming the problem; non-finite input becomes NaN, never a spike."""

import math

import pytest
import torch

from mpe_psn import functional as F


@pytest.mark.parametrize("fn", [F.mpe_psn, F.lif])
def test_one_dimensional_input_is_rejected(fn):
    with pytest.raises(ValueError, match="time-major .* at least 2 dims"):
        fn(torch.randn(5))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
@pytest.mark.parametrize("fn", [F.mpe_psn, F.lif])
def test_integer_and_boolean_input_is_rejected(fn, dtype):
    with pytest.raises(TypeError, match="floating-point"):
        fn(torch.ones(3, 4).to(dtype))


def test_zero_time_steps_is_rejected():
    with pytest.raises(ValueError, match="T = 0"):
        F.mpe_psn(torch.randn(0, 4))


def test_noise_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="noise must have the shape of x"):
        F.mpe_psn(torch.randn(3, 4), noise=torch.rand(3, 5))


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), 2.0])
def test_noise_outside_unit_interval_is_rejected(bad):
    noise = torch.rand(3, 4)
    noise[1, 2] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        F.mpe_psn(torch.randn(3, 4), noise=noise)


def test_integer_noise_is_rejected():
    with pytest.raises(TypeError, match="floating"):
        F.mpe_psn(torch.randn(3, 4), noise=torch.zeros(3, 4, dtype=torch.int64))


def test_noise_with_expected_estimator_is_rejected():
    with pytest.raises(ValueError, match="only used by the 'bernoulli'"):
        F.mpe_psn(torch.randn(3, 4), estimator="expected", noise=torch.rand(3, 4))


def test_unknown_estimator_and_surrogate_are_named():
    with pytest.raises(ValueError, match="unknown estimator 'mean'.*bernoulli"):
        F.mpe_psn(torch.randn(3, 4), estimator="mean")
    with pytest.raises(ValueError, match="unknown surrogate 'relu'.*triangular"):
        F.mpe_psn(torch.randn(3, 4), surrogate="relu")
    with pytest.raises(ValueError, match="alpha must be a positive"):
        F.get_surrogate("sigmoid", -1.0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(tau=1.5), "tau"), (dict(tau=-0.1), "tau"), (dict(tau=float("nan")), "tau"), (dict(tau=math.inf), "tau"),
    (dict(alpha=float("nan")), "alpha"), (dict(alpha=math.inf), "alpha"), (dict(refine_steps=-1), "refine_steps"),
    (dict(refine_steps=1.5), "refine_steps"), (dict(threshold=float("inf")), "threshold"),
])
def test_out_of_range_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.mpe_psn(torch.randn(3, 4), **kwargs)


@pytest.mark.parametrize("estimator", ["bernoulli", "expected"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_input_gives_nan_not_spikes(estimator, bad):
    x = torch.full((3, 4), 0.2)
    x[1, 2] = bad
    out = F.mpe_psn(x, estimator=estimator, noise=torch.full((3, 4), 0.5) if estimator == "bernoulli" else None)
    assert math.isnan(out.spikes[1, 2].item()) and math.isnan(out.v[1, 2].item())
    # every other element of that step, and everything before it, is a valid 0/1 spike
    finite = torch.ones_like(x, dtype=torch.bool)
    finite[1, 2] = False
    finite[2, 2] = False  # the next step reads the broken estimate
    assert set(out.spikes[finite].tolist()) <= {0.0, 1.0}
    lif = F.lif(x)
    assert math.isnan(lif.spikes[1, 2].item()) and math.isnan(lif.spikes[2, 2].item())


def test_psn_shape_mismatch_is_named():
    with pytest.raises(ValueError, match="needs weight"):
        F.psn(torch.randn(4, 3), torch.randn(3, 3), torch.randn(3))
