"""Neuron settings as data: the frozen records, the layers' attributes that read them, and
``mpe_psn.configure`` (all-or-nothing, per kind, per layer, as a context manager)."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

import mpe_psn
from mpe_psn import LIF, MPEPSN, PSN, configure, configurable_layers
from mpe_psn.neurons import LIFSettings, MPEPSNSettings, NeuronSettings, setting_names
from mpe_psn.neurons.settings import setting


def net(T: int = 6) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), MPEPSN(T=T), nn.Linear(7, 7), LIF(T=T), nn.Linear(7, 7), MPEPSN(T=T),
                         PSN(T=T))


def records(model: nn.Module) -> dict[str, NeuronSettings]:
    return {name: layer.settings for name, layer in configurable_layers(model)}


def test_records_are_frozen_and_checked():
    record = MPEPSNSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.refine_steps = 2
    with pytest.raises(ValueError, match="estimator"):
        MPEPSNSettings(estimator="sampled")
    with pytest.raises(ValueError, match="refine_steps"):
        MPEPSNSettings(refine_steps=-1)
    with pytest.raises(ValueError, match="backend"):
        MPEPSNSettings(backend="cuda")
    with pytest.raises(ValueError, match="backend"):
        LIFSettings(backend="numba")


def test_layer_attributes_read_and_replace_the_record():
    layer = MPEPSN(T=4, estimator="expected", refine_steps=1, backend="reference")
    assert layer.settings == MPEPSNSettings("expected", "expected", 1, "reference")
    before = layer.settings
    layer.refine_steps = 3
    assert layer.settings is not before and before.refine_steps == 1  # a new record; the old one is intact
    assert (layer.refine_steps, layer.settings.refine_steps) == (3, 3)
    with pytest.raises(ValueError, match="refine_steps"):
        layer.refine_steps = -2
    assert layer.refine_steps == 3  # a bad value changes nothing
    assert "refine_steps" not in layer.__dict__  # the record is the only copy
    assert set(layer.state_dict()) == {"threshold", "kappa_logits"}  # settings are not weights


def test_configure_sets_each_layer_that_takes_the_setting():
    model = net()
    done = configure(model, backend="reference", refine_steps=2)
    assert done.changed == ["1", "3", "5"]
    assert [m.backend for m in (model[1], model[3], model[5])] == ["reference"] * 3
    assert model[1].refine_steps == model[5].refine_steps == 2  # LIF has no refine_steps: only MPE-PSN took it
    only = configure(model, MPEPSN, backend="auto")
    assert only.changed == ["1", "5"] and model[3].backend == "reference"


def test_configure_is_all_or_nothing():
    model = net()
    before = records(model)
    with pytest.raises(ValueError, match=r"unknown neuron setting\(s\) \['refine'\]"):
        configure(model, refine=2)
    layers = iter([0, -1])  # the second MPE-PSN layer gets a bad value
    with pytest.raises(ValueError, match="layer '5'.*refine_steps"):
        configure(model, refine_steps=lambda own: next(layers))
    assert records(model) == before


def test_configure_as_a_context_manager_restores_and_nests():
    model = net()
    before = records(model)
    with configure(model, eval_estimator="bernoulli"):
        with configure(model, refine_steps=lambda own: own.refine_steps + 2):
            assert model[1].settings == MPEPSNSettings(eval_estimator="bernoulli", refine_steps=2)
        assert model[1].settings == MPEPSNSettings(eval_estimator="bernoulli")
    assert records(model) == before


def test_configure_changes_what_the_model_computes():
    """``refine_steps = T - 1`` makes every MPE-PSN layer the exact LIF: the net's output equals
    the same net with the sequential LIF loop (same weights) put in their place."""
    T = 6
    model = net(T)[:6].eval()  # no PSN: the spikes of the last MPE-PSN layer come out
    with torch.no_grad():
        for linear in (model[0], model[2], model[4]):
            linear.weight.mul_(4.0)  # strong enough weights that every layer spikes
    x = torch.randn(T, 3, 5)
    reference = copy.deepcopy(model)
    for index in (1, 5):
        reference[index] = LIF(T=T, learn_threshold=False, backend="reference")
    reference[3].backend = "reference"
    with torch.no_grad():
        estimated = model(x)
        with configure(model, MPEPSN, refine_steps=T - 1):
            exact = model(x)
        assert torch.equal(exact, reference(x)) and exact.sum() > 0
        assert not torch.equal(estimated, exact)  # the estimate differs on this input
        assert torch.equal(model(x), estimated)  # and it is back after the block


def test_a_new_setting_is_one_field():
    """A neuron kind with a setting no other kind has: its record alone makes ``configure`` know it."""

    @dataclasses.dataclass(frozen=True)
    class GainSettings(NeuronSettings):
        gain: float = 1.0

        def __post_init__(self) -> None:
            if not self.gain > 0:
                raise ValueError(f"gain must be positive, got {self.gain!r}")

    class Gain(nn.Module):
        gain = setting()

        def __init__(self) -> None:
            super().__init__()
            self.settings = GainSettings()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.settings.gain * x

    model = nn.Sequential(Gain(), MPEPSN(T=2))
    assert "gain" in setting_names()
    with configure(model, gain=3.0) as done:
        assert done.changed == ["0"] and model[0].gain == 3.0
        assert torch.equal(model[0](torch.ones(2)), torch.full((2,), 3.0))
    with pytest.raises(ValueError, match="gain must be positive"):
        configure(model, gain=0.0)
    assert model[0].gain == 1.0


def test_public_names():
    assert mpe_psn.configure is configure and mpe_psn.configurable_layers is configurable_layers
    assert [name for name, _ in configurable_layers(net(), LIF)] == ["3"]
