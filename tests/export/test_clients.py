"""Round trips with real NIR clients: snnTorch both ways, Norse one way (with its r caveat)."""

from __future__ import annotations

import contextlib
import io
import logging

import pytest
import torch
from torch import nn

from mpe_psn import LIF, MPEPSN

pytest.importorskip("nir")
from mpe_psn.export import from_nir, to_nir  # noqa: E402

T, B = 12, 6


def _net(neuron=LIF, **options) -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 20), neuron(tau=0.25, threshold=0.7, **options),
                        nn.Linear(20, 4), neuron(tau=0.5, threshold=0.3, **options))
    with torch.no_grad():  # enough drive that both layers fire often, not always
        net[0].weight.mul_(3)
        net[2].weight.mul_(3)
    return net.eval()


def _ours(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net[3](net[2](net[1](net[0](x))))


def _input(seed: int = 1) -> torch.Tensor:
    return torch.rand(T, B, 6, generator=torch.Generator().manual_seed(seed)) * 2


def _step_by_step(module, x: torch.Tensor) -> torch.Tensor:
    outs, state = [], None
    with torch.no_grad():
        for x_t in x:
            out, state = module(x_t, state)
            outs.append(out)
    return torch.stack(outs)


@pytest.mark.parametrize("neuron", ["lif", "mpe-refined"])
def test_snntorch_imports_our_graph_with_the_same_spikes(neuron):
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    if neuron == "lif":
        net = _net(LIF)
    else:  # MPE-PSN refined to T - 1 passes is the exact LIF that NIR holds
        net = _net(MPEPSN, estimator="expected", refine_steps=T - 1, T=T)
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints while importing
        theirs = import_from_nir(to_nir(net))
    x = _input()
    ours = _ours(net, x)
    assert 0.1 < ours.mean() < 0.9
    assert torch.equal(_step_by_step(theirs, x), ours)


def test_our_model_imports_an_snntorch_leaky_network_with_its_spikes():
    snn = pytest.importorskip("snntorch")
    from snntorch import utils as snn_utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    # zero reset is this project's neuron; per-neuron beta and threshold give NIR nodes shapes
    leaky = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    net = nn.Sequential(nn.Linear(6, 20), snn.Leaky(beta=torch.full((20,), 0.75), threshold=torch.full((20,), 0.6), **leaky),
                        nn.Linear(20, 4), snn.Leaky(beta=torch.full((4,), 0.5), threshold=torch.full((4,), 0.3), **leaky))
    with torch.no_grad():
        net[0].weight.mul_(3)
        net[2].weight.mul_(3)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.rand(1, 6), ignore_dims=[0])
    ours = from_nir(graph, neuron="lif")
    assert [type(m).__name__ for m in ours.layers.values()] == ["Linear", "LIF", "Linear", "LIF"]
    assert ours.layers["1"].tau == pytest.approx(0.75)
    x = _input(2)
    snn_utils.reset(net)
    with torch.no_grad():
        theirs = torch.stack([net(x_t) for x_t in x])
        mine = ours(x)
    assert 0.05 < theirs.mean() < 0.95
    assert torch.equal(mine, theirs)


def test_norse_ignores_r_and_warns_but_reads_a_fold_r_graph(caplog):
    norse = pytest.importorskip("norse.torch")
    net = _net(LIF)
    x = _input(3)
    ours = _ours(net, x)
    with caplog.at_level(logging.WARNING):
        plain = norse.from_nir(to_nir(net), dt=1e-4)
    assert "parameter r is expected to be set to 1" in caplog.text
    # ignoring r = 1 / (1 - tau) scales every input by (1 - tau): the spikes differ
    assert not torch.equal(_step_by_step(plain, x), ours)
    # with r folded into the weights and Norse's dt set to ours, it is the same network
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        folded = norse.from_nir(to_nir(net, fold_r=True), dt=1e-4)
    assert "parameter r" not in caplog.text
    agreement = (_step_by_step(folded, x) == ours).float().mean().item()
    assert agreement >= 0.99, agreement  # equal in exact arithmetic; rounding may flip a spike at threshold
