"""Synaptic operations and the 45 nm energy estimate.

Each synaptic layer (Conv1d/2d/3d, Linear) is counted exactly with a forward hook: applying
the layer with all-ones weights and no bias to an indicator of its input gives, summed over
its outputs, the number of operations (padding borders and strides included)::

    MAC = sum ones_layer(1)           layers that run before the first spiking layer (dense
                                      input: one multiply-accumulate per connection)
    AC  = sum ones_layer(1[x != 0])   layers after it: one accumulate per non-zero input
                                      (a spike) per outgoing connection = spikes x fan-out

    energy = 0.9 pJ * AC + 4.6 pJ * MAC     (Horowitz 2014, 45 nm, 32-bit float)

All counts are per sample (summed over the T time steps). For comparison the result also
gives the dense MACs of a same-shape ANN that runs once (the dense count divided by T).
A pool or average between a neuron and a synaptic layer is not counted (average pools of
spikes give non-binary inputs; each non-zero one still costs one accumulate per connection).
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from mpe_psn.analysis.spike_rates import SpikeCounter
from mpe_psn.models.batches import Batch, eval_mode, forward, model_device, time_major_batches
from mpe_psn.models.probe import SYNAPTIC_TYPES, spiking_layers, watch

__all__ = ["E_AC_PJ", "E_MAC_PJ", "energy", "count_operations"]

E_AC_PJ = 0.9
E_MAC_PJ = 4.6


def count_operations(module: nn.Module, x: torch.Tensor, dense: bool) -> float:
    """Operations of ``module`` on input ``x``: connections from every input (``dense``) or
    from every non-zero input (sparse), counted by running the layer with all-ones weights."""
    mask = torch.ones_like(x, dtype=torch.float32) if dense else (x != 0).to(torch.float32)
    ones = torch.ones_like(module.weight, dtype=torch.float32)
    with torch.autocast(device_type=x.device.type, enabled=False):
        if isinstance(module, nn.Linear):
            out = F.linear(mask, ones)
        else:  # the conv's own padding mode, stride, dilation and groups; no hooks run
            out = module._conv_forward(mask, ones, None)
    return float(out.sum(dtype=torch.float64))


def energy(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    max_batches: int | None = None,
    e_ac_pj: float = E_AC_PJ,
    e_mac_pj: float = E_MAC_PJ,
    progress: bool = False,
) -> dict:
    """Operation counts and energy per sample of ``model`` over ``batches``.

    Returns ``{"T", "samples", "e_ac_pj", "e_mac_pj", "layers": [{"name", "type", "op"
    ("MAC" | "AC"), "ops_per_sample", "energy_pj_per_sample", "ann_macs_per_sample"}],
    "spiking_layers": [{"name", "kind", "neurons", "rate", "spikes_per_sample", "per_step"}],
    "total": {"macs_per_sample", "acs_per_sample", "energy_uj_per_sample",
    "ann_macs_per_sample", "ann_energy_uj_per_sample"}}``.
    """
    neurons = spiking_layers(model)
    if not neurons:
        raise ValueError("the model has no spiking layers, so there are no synaptic operations to count")
    synapses = [(name, m) for name, m in model.named_modules() if isinstance(m, SYNAPTIC_TYPES)]
    if not synapses:
        raise ValueError("the model has no Conv or Linear layers to count operations of")
    counter = SpikeCounter(neurons)
    state = {"spiked": False, "T": 1}
    ops: dict[str, float] = {name: 0.0 for name, _ in synapses}
    dense_ops: dict[str, float] = {name: 0.0 for name, _ in synapses}
    kind: dict[str, str] = {}

    def on_neuron(name: str, module: nn.Module, x: torch.Tensor, spikes: torch.Tensor) -> None:
        state["spiked"] = True
        counter(name, module, x, spikes)

    def on_synapse(name: str, module: nn.Module, x: torch.Tensor, _out: torch.Tensor) -> None:
        op = "AC" if state["spiked"] else "MAC"
        if kind.setdefault(name, op) != op:
            raise RuntimeError(f"layer {name} ran both before and after a spiking layer; cannot classify its operations")
        dense = count_operations(module, x, dense=True)
        ops[name] += dense if op == "MAC" else count_operations(module, x, dense=False)
        dense_ops[name] += dense / state["T"]

    samples, T = 0, None
    with eval_mode(model), watch(neurons, on_neuron), watch(synapses, on_synapse, time_major=False):
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
        op = kind[name]
        per_sample = ops[name] / samples
        rows.append(
            {
                "name": name,
                "type": type(module).__name__,
                "op": op,
                "ops_per_sample": per_sample,
                "energy_pj_per_sample": per_sample * (e_mac_pj if op == "MAC" else e_ac_pj),
                "ann_macs_per_sample": dense_ops[name] / samples,
            }
        )
    macs = sum(r["ops_per_sample"] for r in rows if r["op"] == "MAC")
    acs = sum(r["ops_per_sample"] for r in rows if r["op"] == "AC")
    ann_macs = sum(r["ann_macs_per_sample"] for r in rows)
    return {
        "T": T,
        "samples": samples,
        "e_ac_pj": e_ac_pj,
        "e_mac_pj": e_mac_pj,
        "layers": rows,
        "spiking_layers": counter.summary(samples),
        "total": {
            "macs_per_sample": macs,
            "acs_per_sample": acs,
            "energy_uj_per_sample": (macs * e_mac_pj + acs * e_ac_pj) * 1e-6,
            "ann_macs_per_sample": ann_macs,
            "ann_energy_uj_per_sample": ann_macs * e_mac_pj * 1e-6,
        },
    }
