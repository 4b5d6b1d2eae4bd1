import math

import pytest
import torch

from mpe_psn.analysis.fidelity import METRICS, fidelity, fidelity_summary, layer_errors
from mpe_psn.functional import lif, mpe_psn

from .conftest import T, TinyNet, make_batches


def test_layer_errors_match_direct_computation():
    x = torch.randn(T, 3, 7, generator=torch.Generator().manual_seed(1)) + 0.8
    sums = layer_errors(x, 1.0, 0.25, "expected", 0)
    exact = lif(x, 1.0, 0.25)
    est = mpe_psn(x, 1.0, 0.25, estimator="expected")
    for t in range(T):
        assert sums["count"][t] == 21
        assert sums["v_hat_mse"][t].item() == pytest.approx(((est.v_hat[t] - exact.v[t]) ** 2).sum().item(), rel=1e-6)
        assert sums["v_mae"][t].item() == pytest.approx((est.v[t] - exact.v[t]).abs().sum().item(), rel=1e-6)
        assert sums["spike_mismatch"][t].item() == (est.spikes[t] != exact.spikes[t]).sum().item()
    assert sums["v_hat_mse"][0] > 0  # the estimate is not the post-reset LIF potential
    assert sums["v_mse"][0] == 0 and sums["spike_mismatch"][0] == 0  # step 0 is exact


@pytest.mark.parametrize("k", [T - 1, T + 2])
def test_fidelity_is_exactly_zero_with_full_refinement(tiny_mpe, batches, k):
    result = fidelity(tiny_mpe, batches, refine_steps=k)
    assert [layer["name"] for layer in result["layers"]] == ["n1", "n2"]
    for layer in result["layers"]:
        assert layer["v_mse"] == 0.0 and layer["v_mae"] == 0.0 and layer["spike_mismatch"] == 0.0
        assert layer["per_step"]["spike_mismatch"] == [0.0] * T
        assert layer["rate"] == layer["exact_rate"]
    assert result["total"]["v_mse"] == 0.0 and result["total"]["spike_mismatch"] == 0.0


def test_fidelity_without_refinement_differs_and_pools_correctly(tiny_mpe, batches):
    result = fidelity(tiny_mpe, batches)
    assert result["samples"] == 15 and result["T"] == T and result["what_if"] is False
    assert result["total"]["v_hat_mse"] > 0
    layers = result["layers"]
    for layer in layers:
        assert set(METRICS) <= set(layer) and len(layer["per_step"]["v_hat_mse"]) == T
        assert layer["per_step"]["v_mse"][0] == 0.0  # the first step has no estimate in it
        assert layer["estimator"] == "expected" and layer["refine_steps"] == 0
        assert layer["rate"] > 0  # inputs are strong enough to fire
        assert math.isclose(sum(layer["per_step"]["v_hat_mse"]) / T, layer["v_hat_mse"], rel_tol=1e-9)
    n = [layer["neurons"] for layer in layers]
    assert n == [4 * 6 * 6, 8]
    pooled = sum(l["v_hat_mse"] * k for l, k in zip(layers, n)) / sum(n)
    assert math.isclose(result["total"]["v_hat_mse"], pooled, rel_tol=1e-9)


def test_fidelity_uses_the_layers_actual_inputs(tiny_mpe, batches):
    captured = []
    handle = tiny_mpe.n2.register_forward_hook(lambda m, i, o: captured.append(i[0].clone()))
    result = fidelity(tiny_mpe, batches[:1])
    handle.remove()
    x = captured[0]
    exact = lif(x, tiny_mpe.n2.threshold.detach(), 0.25)
    est = mpe_psn(x, tiny_mpe.n2.threshold.detach(), 0.25, estimator="expected")
    expected = (est.v_hat - exact.v).square().mean().item()
    assert result["layers"][1]["v_hat_mse"] == pytest.approx(expected, rel=1e-6)


def test_fidelity_bernoulli_is_seeded(tiny_mpe, batches):
    a = fidelity(tiny_mpe, batches, estimator="bernoulli", seed=3)
    b = fidelity(tiny_mpe, batches, estimator="bernoulli", seed=3)
    assert a == b


def test_fidelity_on_lif_network_is_what_if():
    torch.manual_seed(0)
    result = fidelity(TinyNet("lif").eval(), make_batches(1))
    assert result["what_if"] is True
    assert [l["kind"] for l in result["layers"]] == ["lif", "lif"]
    assert result["layers"][0]["estimator"] == "expected"


def test_fidelity_on_psn_network_is_refused():
    with pytest.raises(ValueError, match="needs MPE-PSN or LIF layers.*psn"):
        fidelity(TinyNet("psn"), make_batches(1))


def test_fidelity_summary_is_json_ready_and_keeps_training_mode(tiny_mpe):
    tiny_mpe.train()
    x = make_batches(1)[0][0].transpose(0, 1)
    summary = fidelity_summary(tiny_mpe, x)
    assert tiny_mpe.training
    assert set(summary) == {*METRICS, "layers"}
    assert set(summary["layers"]) == {"n1", "n2"}
    assert all(isinstance(v, float) for v in summary["layers"]["n1"].values())
    with pytest.raises(ValueError, match="time-major batch"):
        fidelity_summary(tiny_mpe, x[:, 0, 0, 0])
