"""The deployment gap: the accuracy of one trained network in each way it can be run.

MPE-PSN is trained as an estimate of the LIF; a NIR target runs the LIF itself. For one set
of weights, :func:`deployment_gap` measures the accuracy of

* ``expected``: MPE-PSN with the deterministic estimator (how it is evaluated here);
* ``bernoulli``: MPE-PSN with the sampled estimator, one run per seed (mean and sd);
* ``refine[k]``: MPE-PSN after k correction passes, k = 1 .. T-1 (powers of two and T-1 beyond
  T = 32; k = T-1 is the exact LIF,
  computed in parallel);
* ``lif``: every MPE-PSN layer replaced by the sequential ``LIF`` with the same tau and
  threshold: what a NIR export runs.

Accuracy uses the project's prediction rule (argmax of the time-mean of per-step logits).
The model is not changed (each mode runs on a copy).

It lives in models/ so that both ``mpe-psn analyze deploy`` (analysis/) and ``mpe_psn.export``
(which re-exports it) can use it.
"""

from __future__ import annotations

import copy
import math
import statistics
from typing import Iterable

import torch
from torch import nn

from mpe_psn.models.batches import forward, model_device, predict
from mpe_psn.neurons import LIF, MPEPSN, as_neuron, configure, configurable_layers

__all__ = ["deployment_gap", "as_lif"]


def _mpe_layers(model: nn.Module) -> list[MPEPSN]:
    return [m for _, m in configurable_layers(model, MPEPSN)]


def as_lif(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``MPEPSN`` replaced by the exact ``LIF`` of the same tau,
    threshold, surrogate and step mode (:func:`~mpe_psn.neurons.as_neuron`)."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, MPEPSN):
                setattr(parent, name, as_neuron(child, LIF))
    return model


def _accuracy(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    correct = total = 0
    device = model_device(model)
    with torch.no_grad():
        for x, y in batches:
            correct += int((predict(forward(model, x.to(device))) == y.to(device)).sum())
            total += int(y.numel())
    return correct / total


def _configured(model: nn.Module, estimator: str, refine_steps: int | None = None) -> nn.Module:
    model = copy.deepcopy(model).eval()
    configure(model, MPEPSN, eval_estimator=estimator, **({} if refine_steps is None else {"refine_steps": refine_steps}))
    return model


def default_refine_levels(T: int) -> list[int]:
    """Every k = 1 .. T-1 up to T = 32; beyond, the powers of two below T and T - 1 (a pass of k
    corrections costs k times a pass without, so all k at T = 1000 would be ~500,000 passes)."""
    if T <= 32:
        return list(range(1, T))
    return sorted({2 ** i for i in range(T.bit_length()) if 2 ** i < T} | {T - 1})


def deployment_gap(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                   seeds: int = 5, refine_levels: Iterable[int] | None = None) -> dict:
    """Accuracy of ``model`` as MPE-PSN (expected, Bernoulli over ``seeds``), each refinement level, and LIF.

    Args:
        model: a network with ``MPEPSN`` layers taking time-major [T, B, ...] input.
        batches: pairs ``(x [T, B, ...], y [B])`` (time-major, e.g. from
            ``mpe_psn.models.batches.time_major_batches``); read once and kept in memory.
        seeds: Bernoulli runs, seeds 0 .. seeds-1 of the global generator.
        refine_levels: the k to measure (default :func:`default_refine_levels`: 1 .. T-1 up to T = 32).

    Returns ``{"T", "samples", "expected", "bernoulli": {"mean", "sd", "runs"}, "refine": {k: acc},
    "lif", "gap": expected - lif}``.
    """
    layers = _mpe_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no MPEPSN layer: there is no deployment gap to measure")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    data = [(x, y) for x, y in batches]
    if not data:
        raise ValueError("batches is empty")
    T = int(data[0][0].shape[0])
    if any(int(x.shape[0]) != T for x, _ in data):
        raise ValueError("every batch must have the same T (time-major x [T, B, ...])")
    levels = default_refine_levels(T) if refine_levels is None else [int(k) for k in refine_levels]
    if any(k < 0 for k in levels):
        raise ValueError(f"refine_levels must be non-negative, got {levels}")
    expected = _accuracy(_configured(model, "expected"), data)
    runs = []
    state = torch.random.get_rng_state()
    try:
        sampled = _configured(model, "bernoulli")
        for seed in range(seeds):
            torch.manual_seed(seed)
            runs.append(_accuracy(sampled, data))
    finally:
        torch.random.set_rng_state(state)
    refine = {k: _accuracy(_configured(model, "expected", k), data) for k in levels}
    lif = _accuracy(as_lif(model).eval(), data)
    return {
        "T": T,
        "samples": sum(int(y.numel()) for _, y in data),
        "expected": expected,
        "bernoulli": {"mean": statistics.fmean(runs), "sd": statistics.stdev(runs) if len(runs) > 1 else math.nan,
                      "runs": runs},
        "refine": refine,
        "lif": lif,
        "gap": expected - lif,
    }
