"""Weight decay by parameter group: weights decay, thresholds, kappa, batch norm and biases do not."""

from __future__ import annotations

import pytest
import torch

from mpe_psn.models import build_model
from mpe_psn.training.config import TrainConfig
from mpe_psn.training.optim import make_optimizer, parameter_groups


def small_net(neuron: str = "mpe"):
    torch.manual_seed(0)
    return build_model("small", neuron=neuron, T=4, num_classes=10, input_size=16)


def test_groups_split_by_dimension():
    net = small_net()
    groups = parameter_groups(net, 5e-4)
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    decayed = {id(p) for p in groups[0]["params"]}
    names = {name: id(p) in decayed for name, p in net.named_parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    assert any(n.endswith("threshold") for n in names) and any(n.endswith("kappa_logits") for n in names)
    for name, is_decayed in names.items():
        weight_matrix = name.endswith("weight") and dict(net.named_parameters())[name].dim() >= 2
        assert is_decayed == weight_matrix, name


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_a_step_without_gradient_decays_weights_only(optimizer):
    net = small_net()
    config = TrainConfig.from_dict({"optimizer": optimizer, "lr": 0.1, "weight_decay": 0.01, "momentum": 0.0})
    opt = make_optimizer(config, net)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in net.named_parameters():
        if p.dim() >= 2:
            assert not torch.equal(p, before[name]), name  # decayed
            if optimizer in ("sgd", "adamw"):  # decoupled or plain: w <- w (1 - lr wd) on a zero gradient
                torch.testing.assert_close(p.detach(), before[name] * (1 - 0.1 * 0.01))
        else:
            assert torch.equal(p, before[name]), name  # thresholds, kappa, batch norm, biases untouched


def test_a_list_of_parameters_keeps_one_group():
    net = small_net()
    opt = make_optimizer(TrainConfig.from_dict({"weight_decay": 0.01}), list(net.parameters()))
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 0.01
