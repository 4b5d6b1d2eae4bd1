"""convert() against the real snnTorch: a Leaky inside the user's own time loop."""

import copy

import pytest
import torch
from torch import nn

from mpe_psn.interop import convert
from mpe_psn.interop.snntorch import LeakyStep

snn = pytest.importorskip("snntorch")


class LoopNet(nn.Module):
    """snnTorch's usual shape: the time loop in forward, state passed by hand."""

    def __init__(self, **leaky_options) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(10, 64), nn.Linear(64, 16)
        with torch.no_grad():
            self.fc2.weight.mul_(4.0)
        self.lif1 = snn.Leaky(beta=0.8, threshold=0.9, reset_mechanism="zero", **leaky_options)
        self.lif2 = snn.Leaky(beta=0.6, reset_mechanism="zero", spike_grad=snn.surrogate.sigmoid(slope=10), **leaky_options)

    def forward(self, x):
        mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        out1, out2 = [], []
        for x_t in x:
            spk1, mem1 = self.lif1(self.fc1(x_t), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out1.append(spk1)
            out2.append(spk2)
        return torch.stack(out1), torch.stack(out2)


class HiddenNet(nn.Module):
    """init_hidden=True: the neuron keeps its own state and returns spikes only."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(10, 32), snn.Leaky(beta=0.7, reset_mechanism="zero", init_hidden=True))

    def forward(self, x):
        self.net[1].reset_mem()
        return torch.stack([self.net(x_t) for x_t in x])


def test_leaky_converts_to_a_step_adapter_with_snntorch_spikes_layer_by_layer():
    net = LoopNet()
    converted, report = convert(net, to="lif")
    assert isinstance(converted.lif1, LeakyStep) and converted.lif1.neuron.tau == pytest.approx(0.8)
    assert report.replaced[1].new_params["surrogate"] == "sigmoid(alpha=10)"
    x = 2.0 * torch.randn(25, 4, 10)
    with torch.no_grad():
        expected, got = net(x), converted(x)
    for layer_expected, layer_got in zip(expected, got):
        assert layer_expected.sum() >= 10
        assert torch.equal(layer_got, layer_expected)


def test_leaky_step_gradients_match_snntorch():
    net = LoopNet()
    converted, _ = convert(net, to="lif")
    x = 2.0 * torch.randn(8, 3, 10)
    grads = []
    for model in (net, converted):
        xx = x.clone().requires_grad_()
        model(xx)[1].sum().backward()
        grads.append(xx.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def test_init_hidden_leaky_returns_spikes_only_like_snntorch():
    net = HiddenNet()
    converted, _ = convert(net, to="lif")
    x = 2.0 * torch.randn(12, 4, 10)
    with torch.no_grad():
        assert torch.equal(converted(x), net(x))


def test_subtract_reset_and_per_neuron_beta_are_clear_errors():
    net = nn.Sequential(nn.Linear(3, 3), snn.Leaky(beta=0.9))  # snnTorch's default reset subtracts
    with pytest.raises(ValueError, match=r"^1 \(snntorch.Leaky\): reset_mechanism='subtract' has no equivalent"):
        convert(net, to="lif")
    net = nn.Sequential(snn.Leaky(beta=torch.full((3,), 0.9), reset_mechanism="zero"))
    with pytest.raises(ValueError, match="beta has 3 values"):
        convert(net, to="lif")


def test_mpe_streams_inside_the_users_loop_like_a_whole_sequence():
    """to="mpe": each Leaky becomes MPE-PSN in step mode; the loop's spikes equal a multi-step
    MPE-PSN over the whole sequence (deterministic estimator, reference path)."""
    net = LoopNet()
    converted, report = convert(net, to="mpe", estimator="expected", backend="reference")
    assert any("streams" in note for note in report.replaced[0].notes)
    x = 2.0 * torch.randn(12, 3, 10)
    with torch.no_grad():
        got1, got2 = converted(x)
        again = converted(x)  # reset_mem() at the loop's start begins a new sequence
        whole = []
        for layer in (converted.lif1.neuron, converted.lif2.neuron):
            reference = copy.deepcopy(layer)
            reference.step_mode = "m"
            whole.append(reference)
        expected1 = whole[0](converted.fc1(x))
        expected2 = whole[1](converted.fc2(expected1))
    assert expected1.sum() >= 10
    assert torch.equal(got1, expected1) and torch.equal(got2, expected2)
    assert torch.equal(again[1], got2)


def test_other_snntorch_neurons_are_left_alone():
    net = nn.Sequential(snn.Leaky(beta=0.5, reset_mechanism="zero"), snn.Synaptic(alpha=0.9, beta=0.8))
    _, report = convert(net, to="lif")
    assert [(s.name, s.type) for s in report.left_alone] == [("1", "snntorch.Synaptic")]


def test_a_model_that_already_ran_converts_and_stays_untouched():
    net = LoopNet()
    x = 2.0 * torch.randn(6, 2, 10)
    net(x)  # leaves mem inside the autograd graph, which plain deepcopy refuses
    converted, _ = convert(net, to="lif")
    with torch.no_grad():
        assert torch.equal(converted(x)[1], net(x)[1])
    assert type(net.lif1) is snn.Leaky
