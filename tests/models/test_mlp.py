"""The feed-forward spiking MLP for temporal data [T, B, channels]."""

from __future__ import annotations

import pytest
import torch

import mpe_psn
from mpe_psn import LIF, MPEPSN
from mpe_psn.models import build_model, neuron_layers


def test_mlp_shapes_layers_and_options():
    net = build_model("mlp", neuron="mpe", T=7, num_classes=5, in_channels=30, model_options={"hidden": 16, "depth": 3})
    assert net(torch.rand(7, 2, 30)).shape == (7, 2, 5)
    assert [type(m) for m in neuron_layers(net)] == [MPEPSN] * 3
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features, l.bias is not None) for l in linears] == [
        (30, 16, False), (16, 16, False), (16, 16, False), (16, 5, True)]
    plain = build_model("mlp", neuron="lif", T=7, num_classes=5, in_channels=30, model_options={"norm": False})
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in plain.modules())
    assert all(l.bias is not None for l in plain.modules() if isinstance(l, torch.nn.Linear))
    assert net.sample_shape() == (30,)


def test_mlp_refuses_frames_and_bad_options():
    net = build_model("mlp", T=4, num_classes=3, in_channels=10)
    with pytest.raises(ValueError, match=r"spike channels \[T, B, channels\], got shape \(4, 2, 10, 1, 1\)"):
        net(torch.rand(4, 2, 10, 1, 1))
    with pytest.raises(ValueError, match="10 input channels but the input has 9"):
        net(torch.rand(4, 2, 9))
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['width'\]"):
        build_model("mlp", T=4, num_classes=3, model_options={"width": 3})
    with pytest.raises(ValueError, match="depth must be a positive int"):
        build_model("mlp", T=4, num_classes=3, model_options={"depth": 0})
    with pytest.raises(ValueError, match="input_size does not apply"):
        build_model("mlp", T=4, num_classes=3, input_size=32)
    with pytest.raises(ValueError, match="does not take option"):
        build_model("small", T=4, num_classes=3, model_options={"hidden": 3})


@pytest.mark.parametrize("neuron", ["lif", "mpe"])
def test_mlp_streams_step_by_step_like_the_whole_sequence(neuron):
    """Streaming (step mode "s") an SHD-shaped model gives the multi-step outputs."""
    torch.manual_seed(0)
    options = {"estimator": "expected", "eval_estimator": "expected", "backend": "reference"} if neuron == "mpe" else {}
    net = build_model("mlp", neuron=neuron, T=40, num_classes=20, in_channels=700, model_options={"hidden": 32},
                      neuron_options=options).eval()
    x = (torch.rand(40, 3, 700) < 0.05).float()
    with torch.no_grad():
        whole = net(x)
        mpe_psn.set_step_mode(net, "s")
        steps = torch.stack([net(x_t) for x_t in x])
        mpe_psn.set_step_mode(net, "m")
    torch.testing.assert_close(steps, whole, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"one step \[B, 700\]"):
        mpe_psn.set_step_mode(net, "s")
        net(x)


def test_lif_mlp_trains_its_weights():
    torch.manual_seed(0)
    net = build_model("mlp", neuron="lif", T=6, num_classes=2, in_channels=8, model_options={"hidden": 8})
    x = torch.rand(6, 4, 8)
    net(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters() if p.requires_grad
               and p.dim() == 2)
    assert isinstance(neuron_layers(net)[0], LIF)
