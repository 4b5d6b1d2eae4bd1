"""Synaptic operations and the 45 nm energy estimate, under one of two stated counting rules.

Each synaptic layer (Conv1d/2d/3d, Linear) is counted exactly with a forward hook: applying
the layer with all-ones weights and no bias to an indicator of its input gives, summed over
its outputs, the number of operations (padding borders and strides included). Which inputs
count, and whether an operation is a MAC or an AC, is the counting rule (``counting``):

``"dense"`` (the default; the numbers in the docs)::

    MAC = sum ones_layer(1)           layers that run before the first spiking layer: every
                                      input counts, zero or not, at every time step (the first
                                      layer of a frame network takes event counts or pixels;
                                      a dense accelerator multiplies them all)
    AC  = sum ones_layer(1[x != 0])   layers after it: one accumulate per non-zero input per
                                      outgoing connection (= spikes x fan-out). A layer fed by
                                      an average pool of spikes counts here too: one AC per
                                      non-zero pooled input per connection (the pool's 1/k^2
                                      is a constant that folds into the weights, so no multiply
                                      is needed; the count is of non-zero pooled values, not of
                                      the spikes inside them).

``"effective"`` (NeuroBench's rule, its ``SynapticOperations`` ``Effective_MACs`` and
``Effective_ACs``): every layer counts only connections with a non-zero input *and* a
non-zero weight, ``sum nz_layer(1[x != 0])`` with ``nz`` the 0/1 indicator of the weights;
a call whose inputs are all in {-1, 0, 1} is ACs, any other call MACs. So the first layer
fed with event counts is MACs on its non-zero counts only (and ACs when a batch happens to
be all 0/1, e.g. binary spike channels), and a layer fed by an average pool is MACs.

    energy = 0.9 pJ * AC + 4.6 pJ * MAC     (Horowitz 2014, 45 nm, 32-bit float)

All counts are per sample (summed over the T time steps). For comparison the result also
gives the dense MACs of a same-shape ANN that runs once (the dense count divided by T) and
the dense count itself over T steps (NeuroBench's ``Dense``). A pool or average between a
neuron and a synaptic layer is not counted as an operation of its own.
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from mpe_psn.analysis.spike_rates import SpikeCounter, seeded
from mpe_psn.models.batches import Batch, eval_mode, forward, model_device, time_major_batches
from mpe_psn.models.probe import SYNAPTIC_TYPES, spiking_layers, watch

__all__ = ["E_AC_PJ", "E_MAC_PJ", "COUNTING_RULES", "energy", "count_operations", "is_spike_like"]

E_AC_PJ = 0.9
E_MAC_PJ = 4.6
#: ``"dense"``: MACs before the first spiking layer, counted dense; ACs on non-zero inputs after
#: it. ``"effective"``: NeuroBench's rule (non-zero inputs and weights only; AC iff inputs in {-1, 0, 1}).
COUNTING_RULES = ("dense", "effective")


def count_operations(module: nn.Module, x: torch.Tensor, dense: bool, nonzero_weights: bool = False) -> float:
    """Operations of ``module`` on input ``x``: connections from every input (``dense``) or
    from every non-zero input (sparse), counted by running the layer with all-ones weights
    (``nonzero_weights``: with the 0/1 indicator of its weights, so zero weights do not count)."""
    mask = torch.ones_like(x, dtype=torch.float32) if dense else (x != 0).to(torch.float32)
    if nonzero_weights:
        ones = (module.weight != 0).to(device=x.device, dtype=torch.float32)
    else:
        ones = torch.ones_like(module.weight, dtype=torch.float32, device=x.device)
    with torch.autocast(device_type=x.device.type, enabled=False):
        if isinstance(module, nn.Linear):
            out = F.linear(mask, ones)
        else:  # the conv's own padding mode, stride, dilation and groups; no hooks run
            out = module._conv_forward(mask, ones, None)
    return float(out.sum(dtype=torch.float64))


def is_spike_like(x: torch.Tensor) -> bool:
    """True when every value of ``x`` is -1, 0 or 1 (NeuroBench's test for "spiking" inputs, whose
    operations it counts as ACs)."""
    return not bool(((x != 0) & (x != 1) & (x != -1)).any())


def energy(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    max_batches: int | None = None,
    e_ac_pj: float = E_AC_PJ,
    e_mac_pj: float = E_MAC_PJ,
    counting: str = "dense",
    seed: int | None = None,
    progress: bool = False,
) -> dict:
    """Operation counts and energy per sample of ``model`` over ``batches``.

    ``counting``: ``"dense"`` (default) or ``"effective"`` (NeuroBench's rule); see the module
    docstring. ``seed``: seeds sampling estimators (as in :func:`spike_rates.spike_rates`).

    Returns ``{"T", "samples", "e_ac_pj", "e_mac_pj", "counting", "layers": [{"name", "type",
    "op" ("MAC" | "AC" | "MAC+AC"), "ops_per_sample", "macs_per_sample", "acs_per_sample",
    "energy_pj_per_sample", "ann_macs_per_sample", "dense_ops_per_sample"}], "spiking_layers":
    [{"name", "kind", "neurons", "rate", "spikes_per_sample", "per_step"}], "total":
    {"macs_per_sample", "acs_per_sample", "energy_uj_per_sample", "ann_macs_per_sample",
    "ann_energy_uj_per_sample", "dense_ops_per_sample"}}``. ``op`` is "MAC+AC" only under the
    effective rule, for a layer whose inputs were all 0/1 in some calls and not in others.
    """
    if counting not in COUNTING_RULES:
        raise ValueError(f"counting must be one of {list(COUNTING_RULES)}, got {counting!r}")
    neurons = spiking_layers(model)
    if not neurons:
        raise ValueError("the model has no spiking layers, so there are no synaptic operations to count")
    synapses = [(name, m) for name, m in model.named_modules() if isinstance(m, SYNAPTIC_TYPES)]
    if not synapses:
        raise ValueError("the model has no Conv or Linear layers to count operations of")
    counter = SpikeCounter(neurons)
    state = {"spiked": False, "T": 1}
    macs: dict[str, float] = {name: 0.0 for name, _ in synapses}
    acs: dict[str, float] = {name: 0.0 for name, _ in synapses}
    dense_ops: dict[str, float] = {name: 0.0 for name, _ in synapses}
    ann_ops: dict[str, float] = {name: 0.0 for name, _ in synapses}
    kind: dict[str, str] = {}

    def on_neuron(name: str, module: nn.Module, x: torch.Tensor, spikes: torch.Tensor) -> None:
        state["spiked"] = True
        counter(name, module, x, spikes)

    def on_synapse(name: str, module: nn.Module, x: torch.Tensor, _out: torch.Tensor) -> None:
        dense = count_operations(module, x, dense=True)
        dense_ops[name] += dense
        ann_ops[name] += dense / state["T"]
        if counting == "effective":
            op = "AC" if is_spike_like(x) else "MAC"
            ops = count_operations(module, x, dense=False, nonzero_weights=True)
            kind[name] = op if kind.get(name, op) == op else "MAC+AC"
        else:
            op = "AC" if state["spiked"] else "MAC"
            if kind.setdefault(name, op) != op:
                raise RuntimeError(f"layer {name} ran both before and after a spiking layer; cannot classify its operations")
            ops = dense if op == "MAC" else count_operations(module, x, dense=False)
        (macs if op == "MAC" else acs)[name] += ops

    samples, T = 0, None
    with eval_mode(model), watch(neurons, on_neuron), watch(synapses, on_synapse, time_major=False), \
            seeded(seed, model_device(model)):
        for x, y in time_major_batches(batches, max_batches, model_device(model), progress, "energy"):
            state["spiked"], state["T"] = False, int(x.shape[0])
            forward(model, x)
            samples += int(y.shape[0])
            T = int(x.shape[0])
    if samples == 0:
        raise ValueError("energy got no batches: the data split is empty")

    rows = []
    for name, module in synapses:
        if name not in kind:
            continue  # defined but not used in forward
        layer_macs, layer_acs = macs[name] / samples, acs[name] / samples
        rows.append(
            {
                "name": name,
                "type": type(module).__name__,
                "op": kind[name],
                "ops_per_sample": layer_macs + layer_acs,
                "macs_per_sample": layer_macs,
                "acs_per_sample": layer_acs,
                "energy_pj_per_sample": layer_macs * e_mac_pj + layer_acs * e_ac_pj,
                "ann_macs_per_sample": ann_ops[name] / samples,
                "dense_ops_per_sample": dense_ops[name] / samples,
            }
        )
    # totals from the raw counts (exact integers in float64), divided once
    total_macs = sum(macs[r["name"]] for r in rows) / samples
    total_acs = sum(acs[r["name"]] for r in rows) / samples
    ann_macs = sum(r["ann_macs_per_sample"] for r in rows)
    return {
        "T": T,
        "samples": samples,
        "e_ac_pj": e_ac_pj,
        "e_mac_pj": e_mac_pj,
        "counting": counting,
        "layers": rows,
        "spiking_layers": counter.summary(samples),
        "total": {
            "macs_per_sample": total_macs,
            "acs_per_sample": total_acs,
            "energy_uj_per_sample": (total_macs * e_mac_pj + total_acs * e_ac_pj) * 1e-6,
            "ann_macs_per_sample": ann_macs,
            "ann_energy_uj_per_sample": ann_macs * e_mac_pj * 1e-6,
            "dense_ops_per_sample": sum(dense_ops[r["name"]] for r in rows) / samples,
        },
    }
