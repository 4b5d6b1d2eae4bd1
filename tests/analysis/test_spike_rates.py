import pytest
import torch

from mpe_psn.analysis.spike_rates import spike_rates

from .conftest import T, TinyNet


@pytest.mark.parametrize("kind", ["mpe", "lif", "psn"])
def test_spike_rates_equal_a_direct_count(kind, batches):
    torch.manual_seed(0)
    model = TinyNet(kind).eval()
    spikes = {"n1": [], "n2": []}
    hooks = [getattr(model, n).register_forward_hook(lambda m, i, o, n=n: spikes[n].append(o.clone())) for n in spikes]
    with torch.no_grad():
        for x, _ in batches:
            model(x.transpose(0, 1))
    for h in hooks:
        h.remove()

    result = spike_rates(model, batches)
    assert result["samples"] == 15 and result["T"] == T
    for layer in result["layers"]:
        s = torch.cat(spikes[layer["name"]], dim=1)  # [T, 15, ...]
        assert layer["kind"] == kind
        assert layer["neurons"] == s[0, 0].numel()
        assert layer["rate"] == pytest.approx(s.mean().item(), rel=1e-6)
        assert layer["spikes_per_sample"] == pytest.approx(s.sum().item() / 15, rel=1e-9)
        assert layer["per_step"] == pytest.approx(s.reshape(T, -1).mean(dim=1).tolist(), rel=1e-6)
    total = sum(torch.cat(v, 1).sum().item() for v in spikes.values())
    slots = sum(torch.cat(v, 1).numel() for v in spikes.values())
    assert result["total"]["rate"] == pytest.approx(total / slots, rel=1e-9)


def test_spike_rates_max_batches_and_errors(tiny_mpe, batches):
    assert spike_rates(tiny_mpe, batches, max_batches=1)["samples"] == 5
    with pytest.raises(ValueError, match="no batches"):
        spike_rates(tiny_mpe, [])
    with pytest.raises(ValueError, match="no spiking layers"):
        spike_rates(torch.nn.Linear(3, 3), batches)
    with pytest.raises(ValueError, match="batch-major"):
        spike_rates(tiny_mpe, [(torch.zeros(2, 3), torch.zeros(2))])


def test_spikingjelly_neurons_are_recognised_by_their_base_class():
    from mpe_psn.models.probe import is_spiking, neuron_kind

    BaseNode = type("BaseNode", (torch.nn.Module,), {"__module__": "spikingjelly.activation_based.neuron"})
    LIFNode = type("LIFNode", (BaseNode,), {"__module__": "spikingjelly.activation_based.neuron"})
    Other = type("BaseNode", (torch.nn.Module,), {"__module__": "somewhere.else"})
    assert is_spiking(LIFNode()) and neuron_kind(LIFNode()) == "sj-lif"
    assert not is_spiking(Other()) and not is_spiking(torch.nn.ReLU())
