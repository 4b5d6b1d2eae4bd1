"""Firing rates of every spiking layer (paper Fig. 3b), counted over a whole data split.

For a layer with spikes S[t, b, n] (N neurons per sample) over the split's samples::

    rate[t]           = sum_{b, n} S[t, b, n] / (B_total * N)
    rate              = mean_t rate[t]
    spikes_per_sample = sum_{t, b, n} S[t, b, n] / B_total

Works for every neuron (MPE-PSN, LIF, PSN, SpikingJelly), so checkpoints with different
neurons can be drawn side by side. A network whose eval estimator samples (MPE-PSN with
``eval_estimator="bernoulli"``) spikes differently on every pass; ``seed`` (also taken by
``energy`` and ``neurobench``) seeds those samples, so that analyses with the same seed see
the same spikes.
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import torch
from torch import nn

from mpe_psn.models.batches import Batch, eval_mode, forward, model_device, time_major_batches
from mpe_psn.models.probe import neuron_kind, spiking_layers, watch

__all__ = ["spike_rates", "SpikeCounter", "seeded"]


@contextlib.contextmanager
def seeded(seed: int | None, device: "torch.device | str" = "cpu") -> Iterator[None]:
    """Run the body with torch's global RNG (CPU, and ``device`` when it is a GPU) seeded with
    ``seed``, and restore the RNG state afterwards; ``None``: leave the RNG alone."""
    if seed is None:
        yield
        return
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else [], device_type=device.type):
        torch.manual_seed(seed)
        yield


class SpikeCounter:
    """Per-layer, per-step spike counts collected by forward hooks (also used by ``energy``)."""

    def __init__(self, layers: list[tuple[str, nn.Module]]) -> None:
        self.layers = layers
        self.counts: dict[str, torch.Tensor] = {}
        self.neurons: dict[str, int] = {}

    def __call__(self, name: str, module: nn.Module, _x: torch.Tensor, spikes: torch.Tensor) -> None:
        T = spikes.shape[0]
        per_step = spikes.detach().reshape(T, -1).sum(dim=1, dtype=torch.float64).cpu()
        if name in self.counts:
            if self.counts[name].shape != per_step.shape:
                raise ValueError(f"layer {name}: time steps changed between batches")
            self.counts[name] += per_step
        else:
            self.counts[name] = per_step
            self.neurons[name] = int(spikes[0, 0].numel())

    def summary(self, samples: int) -> list[dict]:
        out = []
        for name, module in self.layers:
            if name not in self.counts:
                raise RuntimeError(f"spiking layer {name} never ran during the forward pass")
            counts, n = self.counts[name], self.neurons[name]
            per_step = (counts / (samples * n)).tolist()
            out.append(
                {
                    "name": name,
                    "kind": neuron_kind(module),
                    "neurons": n,
                    "rate": float(counts.sum() / (samples * n * counts.numel())),
                    "spikes_per_sample": float(counts.sum() / samples),
                    "per_step": per_step,
                }
            )
        return out


def spike_rates(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    max_batches: int | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> dict:
    """Spike rate of every spiking layer of ``model`` over ``batches`` (see module docstring).

    ``seed``: seeds sampling estimators for the whole pass (``None``: the RNG as it is).

    Returns ``{"T", "samples", "layers": [{"name", "kind", "neurons", "rate",
    "spikes_per_sample", "per_step": [T]}], "total": {"rate", "spikes_per_sample"}}``;
    ``total.rate`` pools all neurons of all layers.
    """
    layers = spiking_layers(model)
    if not layers:
        raise ValueError("the model has no spiking layers (MPEPSN, LIF, PSN or SpikingJelly neurons)")
    counter = SpikeCounter(layers)
    samples, T = 0, None
    with eval_mode(model), watch(layers, counter), seeded(seed, model_device(model)):
        for x, y in time_major_batches(batches, max_batches, model_device(model), progress, "spike rates"):
            forward(model, x)
            samples += int(y.shape[0])
            T = int(x.shape[0])
    if samples == 0:
        raise ValueError("spike_rates got no batches: the data split is empty")
    rows = counter.summary(samples)
    total_spikes = sum(float(counter.counts[r["name"]].sum()) for r in rows)  # exact integers in float64
    total_slots = sum(r["neurons"] * len(r["per_step"]) for r in rows) * samples
    return {
        "T": T,
        "samples": samples,
        "layers": rows,
        "total": {"rate": total_spikes / total_slots, "spikes_per_sample": total_spikes / samples},
    }
