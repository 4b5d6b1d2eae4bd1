"""The deployment gap: one network's accuracy as MPE-PSN, Bernoulli, each refinement, and LIF."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mpe_psn import LIF, MPEPSN
from mpe_psn.export.gap import as_lif, deployment_gap

T = 5


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(MPEPSN(T=T, tau=0.5, threshold=0.6, backend="reference"))
    return net


def _batches(n: int = 3, batch: int = 40, classes: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(T, batch, classes, generator=g) * 1.5 + 0.5
        y = torch.randint(0, classes, (batch,), generator=g)
        out.append((x, y))
    return out


def _reference_accuracy(neuron: nn.Module, batches) -> float:
    """The prediction rule written out: argmax of the time-mean of the per-step outputs."""
    hits = total = 0
    with torch.no_grad():
        for x, y in batches:
            hits += int((neuron(x).mean(0).argmax(-1) == y).sum())
            total += y.numel()
    return hits / total


def test_every_mode_matches_an_independent_computation():
    net, data = _net(), _batches()
    report = deployment_gap(net, data, seeds=3)
    assert report["T"] == T and report["samples"] == 120 and sorted(report["refine"]) == [1, 2, 3, 4]
    expected = MPEPSN(T=T, tau=0.5, threshold=0.6, estimator="expected", backend="reference")
    assert report["expected"] == pytest.approx(_reference_accuracy(expected, data))
    lif = LIF(T=T, tau=0.5, threshold=0.6)
    assert report["lif"] == pytest.approx(_reference_accuracy(lif, data))
    assert report["refine"][T - 1] == report["lif"]  # T - 1 passes are the exact LIF
    refined = MPEPSN(T=T, tau=0.5, threshold=0.6, estimator="expected", refine_steps=2, backend="reference")
    assert report["refine"][2] == pytest.approx(_reference_accuracy(refined, data))
    assert report["gap"] == pytest.approx(report["expected"] - report["lif"])
    runs = report["bernoulli"]["runs"]
    assert len(runs) == 3 and len(set(runs)) > 1  # the seeds draw different samples
    sampled = MPEPSN(T=T, tau=0.5, threshold=0.6, estimator="bernoulli", backend="reference").train()
    torch.manual_seed(1)
    assert runs[1] == pytest.approx(_reference_accuracy(sampled, data))


def test_model_is_left_as_it_was():
    net = _net()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    deployment_gap(net.train(), _batches(1), seeds=2, refine_levels=[1])
    assert net.training and net[0].refine_steps == 0 and net[0].eval_estimator == "expected"
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())


def test_as_lif_keeps_tau_and_threshold():
    net = _net()
    with torch.no_grad():
        net[0].threshold.fill_(0.8)
    lif = as_lif(net)[0]
    assert isinstance(lif, LIF) and lif.tau == 0.5 and float(lif.threshold) == pytest.approx(0.8)
    assert isinstance(net[0], MPEPSN)


def test_as_lif_keeps_the_surrogate_and_the_step_mode():
    """The LIF streams as the MPE-PSN did and trains through the same surrogate."""
    from mpe_psn import set_step_mode

    net = set_step_mode(nn.Sequential(MPEPSN(tau=0.5, surrogate="sigmoid", alpha=3.0)), "s")
    lif = as_lif(net)[0]
    assert lif.step_mode == "s" and lif.surrogate.name == "sigmoid" and lif.surrogate.alpha == 3.0
    x = torch.randn(5, 2, 3)
    set_step_mode(net, "m")
    assert torch.equal(torch.stack([lif(x[t]) for t in range(5)]), LIF(tau=0.5)(x))


def test_bad_input():
    with pytest.raises(ValueError, match="has no MPEPSN layer"):
        deployment_gap(nn.Sequential(LIF()), _batches(1))
    with pytest.raises(ValueError, match="batches is empty"):
        deployment_gap(_net(), [])
    with pytest.raises(ValueError, match="seeds must be a positive int"):
        deployment_gap(_net(), _batches(1), seeds=0)
