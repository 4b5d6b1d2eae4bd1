"""Networks: output shapes, the layer structure of docs/design.md, neuron swap, input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mpe_psn.models import MODELS, build_model, make_neuron, neuron_layers
from mpe_psn.models.layers import TimeMerged, TimeSharedDropout
from mpe_psn.models.nets import VotingPool
from mpe_psn.neurons import LIF, MPEPSN, PSN


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("neuron", ["mpe", "lif", "psn"])
def test_small_net_output_shape_and_backward(neuron):
    torch.manual_seed(0)
    model = build_model("small", neuron=neuron, T=3, num_classes=12, input_size=16)
    x = torch.rand(3, 5, 2, 16, 16)
    y = model(x)
    assert y.shape == (3, 5, 12)
    y.sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "kappa" not in n)


@pytest.mark.parametrize(
    "name, kwargs, size, n_neurons, n_classes",
    [
        ("dvsgesture-net", {}, 64, 6, 11),
        ("vggsnn", {}, 48, 8, 10),
        ("resnet19", {"in_channels": 3}, 32, 18, 100),
    ],
)
def test_paper_nets_shapes(name, kwargs, size, n_neurons, n_classes):
    torch.manual_seed(0)
    model = build_model(name, neuron="mpe", T=2, num_classes=n_classes, **kwargs)
    assert model.input_size == size
    assert len(neuron_layers(model)) == n_neurons
    model.eval()
    with torch.no_grad():
        y = model(torch.rand(2, 1, model.in_channels, size, size))
    assert y.shape == (2, 1, n_classes)


def test_dvsgesture_net_layers_follow_spec():
    model = build_model("dvsgesture-net", neuron="lif", T=2, num_classes=11)
    cs = convs(model)
    assert [c.out_channels for c in cs] == [256] * 5
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is None for c in cs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 5
    assert [(l.in_features, l.out_features) for l in linears(model)] == [(256 * 2 * 2, 1024), (1024, 110)]
    assert [m.p for m in model.modules() if isinstance(m, TimeSharedDropout)] == [0.5, 0.5]
    assert [m.votes for m in model.modules() if isinstance(m, VotingPool)] == [10]


def test_vggsnn_layers_follow_spec():
    model = build_model("vggsnn", neuron="lif", T=2, num_classes=10)
    assert [c.out_channels for c in convs(model)] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 4
    assert [(l.in_features, l.out_features) for l in linears(model)] == [(512 * 3 * 3, 10)]
    assert [m.p for m in model.modules() if isinstance(m, TimeSharedDropout)] == [0.25]


def test_resnet19_layers_follow_spec():
    model = build_model("resnet19", neuron="lif", T=2, num_classes=10, in_channels=3)
    blocks = [m for m in model.modules() if type(m).__name__ == "BasicBlock"]
    assert [b.conv1[0].out_channels for b in blocks] == [128] * 3 + [256] * 3 + [512] * 2
    assert [b.conv1[0].stride[0] for b in blocks] == [1, 1, 1, 2, 1, 1, 2, 1]
    assert convs(model)[0].out_channels == 64
    assert [(l.in_features, l.out_features) for l in linears(model)] == [(512, 256), (256, 10)]


@pytest.mark.parametrize("neuron, cls", [("mpe", MPEPSN), ("lif", LIF), ("psn", PSN)])
def test_neuron_swap(neuron, cls):
    model = build_model("small", neuron=neuron, T=4, num_classes=3, input_size=16)
    layers = neuron_layers(model)
    assert len(layers) == 4 and all(type(m) is cls for m in layers)
    assert all(m.T == 4 for m in layers)


def test_neuron_options_reach_every_layer():
    model = build_model("small", neuron="mpe", T=4, num_classes=3, input_size=16,
                        neuron_options={"estimator": "expected", "refine_steps": 2, "tau": 0.5})
    assert all(m.estimator == "expected" and m.refine_steps == 2 and m.tau == 0.5 for m in neuron_layers(model))


def test_mpe_with_full_refinement_equals_lif_network():
    """MPE-PSN refined T-1 times is the exact LIF: same weights give the same logits."""
    torch.manual_seed(1)
    lif_net = build_model("small", neuron="lif", T=4, num_classes=5, input_size=16).eval()
    mpe_net = build_model("small", neuron="mpe", T=4, num_classes=5, input_size=16,
                          neuron_options={"eval_estimator": "expected", "refine_steps": 3}).eval()
    missing, unexpected = mpe_net.load_state_dict(lif_net.state_dict(), strict=False)
    assert unexpected == [] and all("kappa" in k for k in missing)
    x = (torch.rand(4, 2, 2, 16, 16) < 0.3).float()
    with torch.no_grad():
        assert torch.allclose(mpe_net(x), lif_net(x), atol=1e-5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown model 'vgg'.*choose one of"):
        build_model("vgg", T=4, num_classes=3)
    with pytest.raises(ValueError, match="unknown neuron 'if'"):
        build_model("small", neuron="if", T=4, num_classes=3)
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['estimatr'\]"):
        build_model("small", neuron="mpe", T=4, num_classes=3, neuron_options={"estimatr": "expected"})
    with pytest.raises(ValueError, match="does not take option"):
        build_model("small", neuron="lif", T=4, num_classes=3, neuron_options={"estimator": "expected"})
    with pytest.raises(ValueError, match="too small"):
        build_model("dvsgesture-net", T=4, num_classes=11, input_size=16)
    model = build_model("small", T=4, num_classes=3, input_size=16)
    with pytest.raises(ValueError, match="built for T = 4 .* T = 3"):
        model(torch.rand(3, 1, 2, 16, 16))
    with pytest.raises(ValueError, match="2 input channels but the input has 3"):
        model(torch.rand(4, 1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"frames \[T, B, C, H, W\]"):
        model(torch.rand(4, 2, 16, 16, 1, 1))


def test_sj_lif_missing_gives_install_hint_or_matches_lif():
    try:
        import spikingjelly  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install"):
            build_model("small", neuron="sj-lif", T=4, num_classes=3, input_size=16)
    else:
        from mpe_psn.functional import lif

        torch.manual_seed(0)
        x = torch.randn(6, 200) * 1.5
        layer = make_neuron("sj-lif", 6)
        expected = lif(x, 1.0, 0.25).spikes
        assert torch.equal(layer(x), expected)
        assert torch.equal(layer(x), expected)  # state is reset between calls
        model = build_model("small", neuron="sj-lif", T=4, num_classes=3, input_size=16)
        assert model(torch.rand(4, 2, 2, 16, 16)).shape == (4, 2, 3)


def test_images_enter_by_direct_encoding():
    model = build_model("small", neuron="lif", T=3, num_classes=4, input_size=16).eval()
    image = torch.rand(2, 2, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(image), model(image.unsqueeze(0).repeat(3, 1, 1, 1, 1)))


def test_time_merged_applies_per_step():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.rand(4, 5, 2, 8, 8)
    y = TimeMerged(conv)(x)
    assert torch.allclose(y, torch.stack([conv(x[t]) for t in range(4)]))


def test_time_shared_dropout_mask_is_shared_over_time():
    torch.manual_seed(0)
    drop = TimeSharedDropout(0.5)
    y = drop(torch.ones(6, 3, 10))
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(y, y[:1].expand_as(y))
    assert torch.equal(drop.eval()(torch.ones(6, 3, 10)), torch.ones(6, 3, 10))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        TimeSharedDropout(1.0)


def test_voting_pool_averages_groups():
    x = torch.arange(12.0).reshape(1, 1, 12)
    assert torch.equal(VotingPool(3)(x), torch.tensor([[[1.0, 4.0, 7.0, 10.0]]]))


def test_registry_lists_every_net():
    assert set(MODELS) == {"dvsgesture-net", "vggsnn", "resnet19", "small", "mlp"}
    assert make_neuron("psn", 5).T == 5
