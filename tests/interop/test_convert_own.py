"""``convert`` on this project's own neurons: MPE-PSN <-> exact LIF, in the same report."""

from __future__ import annotations

import pytest
import torch

from mpe_psn import LIF, MPEPSN, convert
from mpe_psn.models import build_model, neuron_layers
from mpe_psn.models.deployment_gap import as_lif


def _trained_small_net():
    torch.manual_seed(0)
    net = build_model("small", neuron="mpe", T=3, num_classes=4, input_size=16)
    for i, layer in enumerate(neuron_layers(net)):  # as if trained: thresholds moved away from 1
        layer.threshold.data.fill_(0.8 + 0.1 * i)
    return net.eval()


def test_mpe_network_to_lif_matches_as_lif_and_is_reported():
    net = _trained_small_net()
    converted, report = convert(net, to="lif")
    layers = neuron_layers(converted)
    assert len(layers) == 4 and all(type(m) is LIF for m in layers)
    assert all(type(m) is MPEPSN for m in neuron_layers(net))  # the original is untouched (a copy)
    assert [r.name for r in report.replaced] == [name for name, m in net.named_modules() if isinstance(m, MPEPSN)]
    assert {r.old_type for r in report.replaced} == {"mpe_psn.MPEPSN"} and {r.new_type for r in report.replaced} == {"LIF"}
    assert [r.new_params["threshold"] for r in report.replaced] == pytest.approx([0.8, 0.9, 1.0, 1.1])
    assert all(r.new_params["learn_threshold"] for r in report.replaced)  # a parameter stays a parameter
    x = (torch.rand(3, 2, 2, 16, 16) < 0.3).float()
    with torch.no_grad():
        assert torch.equal(converted(x), as_lif(net)(x))
    assert "LIF" in str(report)


def test_lif_network_to_mpe_keeps_threshold_tau_surrogate_and_layout():
    lif = LIF(threshold=0.7, tau=0.5, surrogate="sigmoid", alpha=3.0, T=5, batch_first=True, learn_threshold=False)
    model = torch.nn.Sequential(torch.nn.Linear(6, 6), lif)
    converted, report = convert(model, to="mpe", refine_steps=4)  # T - 1 refinements: the exact LIF
    new = converted[1]
    assert type(new) is MPEPSN and new.tau == 0.5 and new.T == 5 and new.batch_first
    assert float(new.threshold) == pytest.approx(0.7) and not isinstance(new.threshold, torch.nn.Parameter)
    assert (new.surrogate.name, new.surrogate.alpha) == ("sigmoid", 3.0)
    assert report.replaced[0].new_params["refine_steps"] == 4
    x = torch.randn(2, 5, 6) * 2
    with torch.no_grad():
        assert torch.equal(converted.eval()(x), model(x))


def test_a_neuron_already_of_the_target_kind_is_left_alone():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), MPEPSN(T=2), torch.nn.Linear(4, 4), LIF(T=2))
    converted, report = convert(model, to="mpe")
    assert [type(m) for m in converted] == [torch.nn.Linear, MPEPSN, torch.nn.Linear, MPEPSN]
    assert [(r.name, r.old_type) for r in report.replaced] == [("3", "mpe_psn.LIF")]
    assert [(s.name, s.reason) for s in report.left_alone] == [("1", "already MPEPSN")]
    again, report2 = convert(converted, to="mpe")  # converting twice changes nothing and does not raise
    assert report2.replaced == [] and len(report2.left_alone) == 2


def test_per_channel_threshold_survives():
    neuron = MPEPSN(T=2)
    neuron.threshold = torch.nn.Parameter(torch.tensor([[0.5], [1.5]]))
    converted, _ = convert(torch.nn.Sequential(neuron), to="lif")
    assert torch.equal(converted[0].threshold.detach(), torch.tensor([[0.5], [1.5]]))


def test_bad_options_name_the_layer():
    with pytest.raises(ValueError, match=r"do not fit LIF for 1 \(MPEPSN\)"):
        convert(torch.nn.Sequential(torch.nn.Linear(2, 2), MPEPSN(T=2)), to="lif", estimator="expected")
