"""convert() against the real SpikingJelly: the same spikes, layer by layer, and clear errors."""

import pytest
import torch
from torch import nn

from mpe_psn import LIF, MPEPSN
from mpe_psn.interop import convert

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
from spikingjelly.activation_based import functional, layer, surrogate  # noqa: E402

NEURONS = {
    "lif-decay-input": lambda: sj_neuron.LIFNode(tau=2.0, decay_input=True, step_mode="m"),
    "lif-decay-input-tau3": lambda: sj_neuron.LIFNode(tau=3.0, decay_input=True, v_threshold=0.6, step_mode="m"),
    "lif-no-decay-input": lambda: sj_neuron.LIFNode(tau=1.7, decay_input=False, step_mode="m"),
    "lif-v-reset": lambda: sj_neuron.LIFNode(tau=2.5, v_reset=-0.3, v_threshold=0.7, step_mode="m"),
    "if": lambda: sj_neuron.IFNode(step_mode="m", surrogate_function=surrogate.ATan()),
    "plif": lambda: sj_neuron.ParametricLIFNode(init_tau=3.0, step_mode="m"),
    "plif-no-decay-input": lambda: sj_neuron.ParametricLIFNode(init_tau=1.5, decay_input=False, step_mode="m"),
}


def two_layer_net(make_neuron) -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Linear(12, 64, step_mode="m"), make_neuron(), layer.Linear(64, 32, step_mode="m"), make_neuron()
    )
    with torch.no_grad():
        net[2].weight.mul_(6.0)  # so that the second layer fires too
    return net


def spikes_of(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every named module's output on ``x`` (SpikingJelly state reset first)."""
    functional.reset_net(model)
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
        for name in names
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


def assert_same_spikes(original: nn.Module, converted: nn.Module, names: list[str], x: torch.Tensor) -> None:
    expected, got = spikes_of(original, names, x), spikes_of(converted, names, x)
    for name in names:
        assert torch.equal(got[name], expected[name]), f"layer {name}: {(got[name] != expected[name]).sum()} spikes differ"


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_lif_conversion_gives_spikingjelly_spikes_layer_by_layer(kind):
    net = two_layer_net(NEURONS[kind])
    converted, report = convert(net, to="lif")
    assert [r.name for r in report.replaced] == ["1", "3"] and report.left_alone == []
    assert all(type(converted[i]) is LIF for i in (1, 3))
    torch.manual_seed(1)
    x = 3.0 * torch.randn(20, 6, 12)
    assert_same_spikes(net, converted, ["1", "3"], x)
    rates = spikes_of(net, ["1", "3"], x)
    assert 0.02 < rates["1"].mean() < 0.9 and rates["3"].sum() >= 10  # the comparison sees spikes


@pytest.mark.parametrize("kind", ["lif-decay-input", "lif-no-decay-input", "if", "plif"])
def test_lif_conversion_matches_spikingjelly_gradients(kind):
    net = two_layer_net(NEURONS[kind])
    converted, _ = convert(net, to="lif")
    torch.manual_seed(2)
    x = 1.5 * torch.randn(10, 4, 12)
    grads = []
    for model in (net, converted):
        functional.reset_net(model)
        xx = x.clone().requires_grad_()
        model(xx).sum().backward()
        grads.append(xx.grad)
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "make, x_at_threshold",
    [
        (lambda: sj_neuron.IFNode(step_mode="m"), 1.0),
        (lambda: sj_neuron.LIFNode(tau=2.0, decay_input=True, step_mode="m"), 2.0),  # H = x / tau = 1
        (lambda: sj_neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=0.3, step_mode="m"), 0.3),
    ],
)
def test_fires_exactly_at_threshold_like_spikingjelly(make, x_at_threshold):
    node = make()
    x = torch.full((1, 3), x_at_threshold).unsqueeze(0)  # [T=1, B=1, 3]
    below = torch.full_like(x, x_at_threshold).nextafter(torch.tensor(-1e9))
    converted, _ = convert(node, to="lif")
    for inp, expected in ((x, 1.0), (below, 0.0)):
        functional.reset_net(node)
        assert float(node(inp).max()) == expected  # SpikingJelly fires at H >= theta
        assert torch.equal(converted(inp), torch.full_like(inp, expected))


def test_report_lists_old_and_new_parameters():
    net = two_layer_net(NEURONS["lif-decay-input"])
    _, report = convert(net, to="lif")
    first = report.replaced[0]
    assert first.old_type == "spikingjelly.LIFNode" and first.new_type == "LIF"
    assert first.old_params["tau"] == 2.0 and first.old_params["decay_input"] is True
    assert first.new_params["tau"] == 0.5  # decay 1 - 1/tau
    assert first.new_params["threshold"] == float(torch.tensor(2.0).nextafter(torch.tensor(0.0)))
    assert first.new_params["surrogate"] == "sigmoid(alpha=2)"  # SpikingJelly's Sigmoid(4) over the scale 2
    assert "1: spikingjelly.LIFNode" in str(report)
    assert report.to_dict()["replaced"][0]["name"] == "1"


def test_mpe_conversion_keeps_decay_and_threshold_and_trains():
    net = two_layer_net(NEURONS["lif-no-decay-input"])
    converted, report = convert(net, to="mpe", estimator="expected")
    assert all(type(converted[i]) is MPEPSN for i in (1, 3))
    assert converted[1].tau == pytest.approx(1 - 1 / 1.7) and converted[1].estimator == "expected"
    assert any("approximate" in note for note in report.replaced[0].notes)
    out = converted(torch.randn(5, 3, 12))
    out.sum().backward()
    assert converted[0].weight.grad.abs().sum() > 0
    assert isinstance(net[1], sj_neuron.LIFNode)  # the original is untouched


def test_other_spikingjelly_neurons_are_left_alone_with_a_reason():
    net = nn.Sequential(layer.Linear(4, 4, step_mode="m"), sj_neuron.LIFNode(step_mode="m"), sj_neuron.PSN(T=3))
    _, report = convert(net, to="lif")
    assert [r.name for r in report.replaced] == ["1"]
    assert [(s.name, s.type) for s in report.left_alone] == [("2", "spikingjelly.PSN")]
    assert "no equivalent" in report.left_alone[0].reason


def test_soft_reset_is_a_clear_error_naming_the_module():
    net = nn.Sequential(layer.Linear(4, 4, step_mode="m"), sj_neuron.LIFNode(v_reset=None, step_mode="m"))
    with pytest.raises(ValueError, match=r"^1 \(LIFNode\): soft reset"):
        convert(net)


def test_single_step_mode_streams_with_spikingjelly_spikes():
    """A SpikingJelly network in step mode 's', driven by the user's loop and reset_net."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 64), sj_neuron.LIFNode(tau=2.0), nn.Linear(64, 32), sj_neuron.IFNode())
    with torch.no_grad():
        net[2].weight.mul_(6.0)
    for to in ("lif", "mpe"):
        converted, _ = convert(net, to=to)
        assert converted[1].step_mode == "s"
    converted, _ = convert(net, to="lif")
    x = 3.0 * torch.randn(15, 4, 12)
    outputs = []
    for model in (net, converted):
        functional.reset_net(model)
        with torch.no_grad():
            outputs.append(torch.stack([model(x_t) for x_t in x]))
    assert outputs[0].sum() >= 10 and torch.equal(outputs[1], outputs[0])
    functional.reset_net(converted)  # SpikingJelly's reset reaches the converted neurons
    assert converted[1]._state is None


def test_model_without_supported_neuron_is_a_clear_error():
    with pytest.raises(ValueError, match="Sequential has no neuron that convert supports.*found: none"):
        convert(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))
    with pytest.raises(ValueError, match=r"other libraries' neurons found: 0: spikingjelly.PSN"):
        convert(nn.Sequential(sj_neuron.PSN(T=4)))


def test_bad_target_and_bad_options_are_clear_errors():
    net = two_layer_net(NEURONS["if"])
    with pytest.raises(ValueError, match="to must be one of"):
        convert(net, to="izhikevich")
    with pytest.raises(ValueError, match=r"neuron options \['colour'\] do not fit LIF"):
        convert(net, to="lif", colour="red")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        convert("model")
