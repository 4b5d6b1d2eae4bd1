"""SpikingJelly's own model zoo converts, runs multi-step and trains; with to="lif" its spikes
are SpikingJelly's, neuron layer by neuron layer. Tiny widths and 16x16 inputs keep it fast."""

import pytest
import torch
from torch import nn

from mpe_psn import LIF, MPEPSN
from mpe_psn.interop import convert

pytest.importorskip("spikingjelly.activation_based.model")
from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402
from spikingjelly.activation_based.model import sew_resnet, spikformer, spiking_resnet, spiking_vgg  # noqa: E402

from tests.interop.test_spikingjelly import assert_same_spikes  # noqa: E402


def tiny_vgg() -> nn.Module:
    net = spiking_vgg.SpikingVGG([8, "M", 16, 512], num_classes=10, spiking_neuron=neuron.LIFNode, init_weights=False)
    # the zoo's head is 25088 x 4096 x 4096; a one-layer head keeps the test small
    net.classifier = nn.Sequential(layer.Linear(512 * 7 * 7, 10))
    return net


ZOO = {
    "spiking_resnet": lambda: spiking_resnet.SpikingResNet(
        spiking_resnet.BasicBlock, [1, 1, 1, 1], num_classes=10, spiking_neuron=neuron.LIFNode,
        surrogate_function=surrogate.ATan(), decay_input=False, tau=1.5,
    ),
    "sew_resnet": lambda: sew_resnet.SEWResNet(
        sew_resnet.BasicBlock, [1, 1, 1, 1], num_classes=10, spiking_neuron=neuron.IFNode, cnf="ADD"
    ),
    "spiking_vgg": tiny_vgg,
    "spikformer": lambda: spikformer.Spikformer(
        T=2, img_size_h=16, img_size_w=16, patch_size=4, num_classes=10, embed_dims=32, num_heads=2, depths=1,
        spiking_neuron=neuron.LIFNode,
    ),
}


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    net = ZOO[name]()
    functional.set_step_mode(net, "m")
    return net.eval()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_converts_to_lif_with_the_same_spikes_layer_by_layer(name):
    net = build(name)
    converted, report = convert(net, to="lif")
    names = [r.name for r in report.replaced]
    assert len(names) >= 3 and report.left_alone == []
    assert all(isinstance(converted.get_submodule(n), LIF) for n in names)
    torch.manual_seed(1)
    x = 2.0 * torch.rand(2, 2, 3, 16, 16)  # [T, B, C, H, W]
    assert_same_spikes(net, converted, names, x)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_converted_to_mpe_runs_multi_step_and_trains_a_step(name):
    converted, report = convert(build(name), to="mpe", estimator="expected")
    assert all(isinstance(converted.get_submodule(r.name), MPEPSN) for r in report.replaced)
    converted.train()
    optimizer = torch.optim.SGD(converted.parameters(), lr=0.1)
    before = [p.detach().clone() for p in converted.parameters()]
    out = converted(torch.rand(2, 2, 3, 16, 16))
    assert out.shape == (2, 2, 10)
    nn.functional.cross_entropy(out.mean(0), torch.tensor([1, 7])).backward()
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, converted.parameters()))
