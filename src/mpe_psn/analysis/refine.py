"""The refinement dial: what each extra correction pass buys at evaluation.

MPE-PSN with ``refine_steps = k`` repeats the parallel correction k times; k >= T - 1 is the
exact LIF (docs/design.md, "Refinement"). For k in {0, 1, 2, 4, T - 1} (by default) every MPE-PSN layer
of a trained network is set to k and the network is evaluated on the data:

* accuracy: prediction = argmax of the time-mean of the outputs;
* spike_mismatch: fraction of spikes, over all MPE-PSN layers, that differ from the exact
  LIF run on the same layer input (the layer's own output vs ``functional.lif``);
* seconds: wall time of the forward passes alone (no hooks, no analysis work), the fastest
  of ``repeats`` passes over the data; also per batch, per sample and relative to k = 0.

For reference the same network is also timed with every MPE-PSN layer swapped for the
sequential LIF module (``neurons.LIF``, same threshold and decay): ``exact_lif`` in the
result. The layers' own ``refine_steps`` and the modules are restored afterwards.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterable, Iterator, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from mpe_psn.functional import lif
from mpe_psn.models.batches import Batch, eval_mode, forward, model_device, predict, time_major_batches
from mpe_psn.models.probe import mpe_layers, watch
from mpe_psn.neurons import LIF, MPEPSN, configure
from mpe_psn.utils.device import synchronize

__all__ = ["default_steps", "refinement_dial"]


def default_steps(T: int) -> list[int]:
    """0, 1, 2, 4 and T - 1, those below T, without repeats."""
    return sorted({k for k in (0, 1, 2, 4, T - 1) if 0 <= k <= T - 1})


def refinement_dial(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    steps: Sequence[int] | None = None,
    max_batches: int | None = None,
    repeats: int = 3,
    progress: bool = False,
) -> dict:
    """Accuracy, spike mismatch against the exact LIF, and time, for each refinement count.

    The data (``max_batches`` of ``batches``) is read once and kept in memory, so every row
    sees the same samples (also ``exact_lif``: see the module docstring). Each setting runs
    once with hooks (accuracy, mismatch; also the warm-up); then ``repeats`` rounds time every
    setting once without hooks; ``seconds`` is a setting's fastest pass (the least disturbed
    by other work on the machine). Returns ``{"T", "samples", "repeats", "device",
    "cpu_threads", "rows": [{"refine_steps", "accuracy",
    "spike_mismatch", "layer_mismatch": {name: fraction}, "seconds", "seconds_per_batch",
    "ms_per_sample", "relative_time"}], "exact_lif": {"accuracy", "seconds", ...}}``.
    """
    layers = mpe_layers(model)
    if not layers:
        raise ValueError(
            "the refinement dial needs a network with MPE-PSN layers; this model has none "
            "(train with --neuron mpe, or analyse this checkpoint with 'fidelity' for the what-if view)"
        )
    device = model_device(model)
    data = list(time_major_batches(batches, max_batches, device))
    if not data:
        raise ValueError("refinement_dial got no batches: the data split is empty")
    T = int(data[0][0].shape[0])
    steps = default_steps(T) if steps is None else list(steps)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    for k in steps:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"refine steps must be non-negative ints, got {k!r}")
    samples = sum(int(y.shape[0]) for _, y in data)
    rows = []
    iterator = steps
    if progress:
        iterator = tqdm(steps, desc="refine steps", unit="setting")
    # every layer's own refine_steps comes back at the end of the block (a value of each layer's
    # own record now, so nothing changes until the loop sets k)
    with configure(model, MPEPSN, refine_steps=lambda own: own.refine_steps):
        with eval_mode(model):
            for k in iterator:
                configure(model, MPEPSN, refine_steps=k)
                rows.append(_evaluate(model, layers, data, k))
            with swapped_for_lif(model, layers):
                exact = {"accuracy": _accuracy(model, data)}
            # Timing in rounds over all settings, so that load from other work on the machine
            # spreads over them evenly; each setting keeps its fastest pass.
            times = {k: [] for k in steps}
            times["lif"] = []
            for _ in range(repeats):
                for k in steps:
                    configure(model, MPEPSN, refine_steps=k)
                    times[k].append(_time_pass(model, data, device))
                with swapped_for_lif(model, layers):
                    times["lif"].append(_time_pass(model, data, device))
    for row in rows:
        row["seconds"] = min(times[row["refine_steps"]])
    exact["seconds"] = min(times["lif"])
    base = rows[0]["seconds"] if rows and rows[0]["refine_steps"] == min(steps) else None
    for row in [*rows, exact]:
        row["ms_per_sample"] = 1000.0 * row["seconds"] / samples
        row["seconds_per_batch"] = row["seconds"] / len(data)
        row["relative_time"] = row["seconds"] / base if base else None
    return {"T": T, "samples": samples, "repeats": repeats, "device": str(device),
            "cpu_threads": torch.get_num_threads(), "rows": rows, "exact_lif": exact}


@contextlib.contextmanager
def swapped_for_lif(model: nn.Module, layers) -> Iterator[None]:
    """Temporarily replace each MPE-PSN layer by a sequential ``LIF`` with its threshold and decay."""
    swaps = []
    for name, m in layers:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if m.threshold.numel() != 1:
            raise ValueError(f"layer {name} has a non-scalar threshold; cannot swap it for LIF")
        replacement = LIF(tau=m.tau, threshold=float(m.threshold.detach()), learn_threshold=False, T=m.T,
                          batch_first=m.batch_first).to(m.threshold.device)
        replacement.train(m.training)
        setattr(parent, child, replacement)
        swaps.append((parent, child, m))
    try:
        yield
    finally:
        for parent, child, m in swaps:
            setattr(parent, child, m)


def _accuracy(model: nn.Module, data: list[Batch]) -> float:
    correct = sum(int((predict(forward(model, x)) == y).sum()) for x, y in data)
    return correct / sum(int(y.shape[0]) for _, y in data)


def _time_pass(model: nn.Module, data: list[Batch], device: torch.device) -> float:
    """Seconds of forward passes over ``data``, nothing else in the timed region."""
    seconds = 0.0
    for x, _ in data:
        synchronize(device)
        start = time.perf_counter()
        forward(model, x)
        synchronize(device)
        seconds += time.perf_counter() - start
    return seconds


def _evaluate(model: nn.Module, layers, data: list[Batch], k: int) -> dict:
    captured: list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]] = []
    mismatch = {name: 0.0 for name, _ in layers}
    count = {name: 0 for name, _ in layers}
    correct = 0
    with watch(layers, lambda n, m, x, s: captured.append((n, m, x, s))):
        for x, y in data:
            captured.clear()
            out = forward(model, x)
            correct += int((predict(out) == y).sum())
            for name, module, inp, spikes in captured:
                exact = lif(inp.float(), module.threshold.detach().float(), module.tau).spikes
                mismatch[name] += float((spikes != exact).sum())
                count[name] += spikes.numel()
    samples = sum(int(y.shape[0]) for _, y in data)
    return {
        "refine_steps": k,
        "accuracy": correct / samples,
        "spike_mismatch": sum(mismatch.values()) / sum(count.values()),
        "layer_mismatch": {name: mismatch[name] / count[name] for name in mismatch},
    }
