"""NeuroBench's own metrics for a trained network (``mpe-psn analyze neurobench RUN``).

Runs NeuroBench's ``Benchmark`` (``pip install 'mpe-psn[neurobench]'``; written against
NeuroBench 2.3.0) on a model and a loader, with what it needs to measure this project's
networks right:

* every spiking layer is registered as an activation module (NeuroBench detects only ReLU and
  Sigmoid by itself, and its ``ActivationSparsity`` is then a silent 0.0): the neuron base
  classes ``mpe_psn.neurons.SpikingNeuron`` (MPE-PSN, LIF) and ``PSN``, the class of every
  layer ``models.probe.spiking_layers`` finds (SpikingJelly neurons too) and snnTorch's
  ``SpikingNeuron``;
* NeuroBench takes the batch size from dim 0 of the loader's ``x``, so the network is wrapped
  in :class:`BatchMajor`, which takes the loaders' batch-major ``x [B, T, ...]`` and hands the
  network its time-major ``[T, B, ...]`` (:func:`mpe_psn.models.batches.model_input`);
* the per-step logits ``[T, B, C]`` become one class per sample with a postprocessor, the
  project's prediction rule :func:`mpe_psn.models.batches.predict` (argmax of the time-mean);
* NeuroBench normalises ``ActivationSparsity`` and ``ClassificationAccuracy`` by
  ``len(loader.dataset)``, so it is handed a view of exactly the batches used (``max_batches``)
  whose ``dataset`` has the number of samples in them;
* NeuroBench turns an exception inside a metric into a printed line and a result of 0.0 (or
  ``None``); that line is caught here and raised, so no silent zero reaches the JSON.

Nothing of NeuroBench is patched. Its ``MembraneUpdates`` reads the attribute ``mem`` of
snnTorch neurons only (``isinstance(layer, snntorch.SpikingNeuron)``), before and after every
call, and is 0 for every other neuron: the result carries NeuroBench's number as it is and,
per layer, the membrane updates counted by mpe-psn with NeuroBench's definition (see
:func:`lif_membrane_updates`): for an exact-LIF layer (``neurons.LIF``) they are that layer's
own; an MPE-PSN layer has no membrane state carried from step to step (all T steps of a layer
are computed in one parallel pass, every neuron at every step), so it gets ``None``, and the
count of an exact LIF on the same input currents next to it for comparison. See
docs/analyses.md, "NeuroBench".
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
from collections.abc import Sequence as SequenceABC
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from mpe_psn.analysis.plots import run_colors
from mpe_psn.analysis.spike_rates import SpikeCounter, seeded
from mpe_psn.functional.lif import lif
from mpe_psn.models.batches import Batch, eval_mode, forward, model_device, model_input, predict
from mpe_psn.models.probe import spiking_layers, watch
from mpe_psn.neurons import LIF, MPEPSN, PSN, SpikingNeuron
from mpe_psn.utils.plotting import new_figure, save_figure

__all__ = ["NEUROBENCH_VERSION", "INSTALL_HINT", "NeuroBenchMissing", "require_neurobench", "BatchMajor", "neurobench",
           "lif_membrane_updates", "plot_neurobench"]

#: the NeuroBench release this module was written and tested against
NEUROBENCH_VERSION = "2.3.0"
INSTALL_HINT = "pip install 'mpe-psn[neurobench]'"

STATIC_METRICS = ("Footprint", "ConnectionSparsity", "ParameterCount")
WORKLOAD_METRICS = ("ClassificationAccuracy", "ActivationSparsity", "SynapticOperations", "MembraneUpdates")


class NeuroBenchMissing(ImportError):
    """NeuroBench is not installed; the message names the extra that installs it."""


def _import_neurobench() -> dict[str, Any]:
    try:
        import neurobench
        from neurobench.benchmarks import Benchmark
        from neurobench.metrics import static, workload
        from neurobench.models import TorchModel
    except ImportError as error:
        raise NeuroBenchMissing(
            f"the neurobench analysis needs NeuroBench ({NEUROBENCH_VERSION}), which is not installed "
            f"({error}); install it with {INSTALL_HINT}"
        ) from error
    return {
        "version": str(getattr(neurobench, "__version__", "unknown")),
        "Benchmark": Benchmark,
        "TorchModel": TorchModel,
        "static": [getattr(static, name) for name in STATIC_METRICS],
        "workload": [getattr(workload, name) for name in WORKLOAD_METRICS],
    }


def require_neurobench() -> str:
    """The installed NeuroBench's version; :class:`NeuroBenchMissing` (naming the extra) when it is not installed."""
    return _import_neurobench()["version"]


class BatchMajor(nn.Module):
    """The network as NeuroBench calls it: batch-major ``x [B, T, ...]`` (what the loaders yield,
    so NeuroBench's dim-0 batch size is right) in, the network's per-step logits [T, B, C] out."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return forward(self.net, model_input(x))


class _Sized:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


class _Loader:
    """What ``Benchmark.run`` iterates: the first ``max_batches`` batches on the model's device,
    ``len()`` their number and ``dataset`` sized as the samples in them (NeuroBench divides the
    batch-weighted ActivationSparsity and ClassificationAccuracy by ``len(loader.dataset)``)."""

    def __init__(self, batches: Iterable[Batch], max_batches: int | None, device: torch.device) -> None:
        self.device = device
        self.seen = 0
        sampler = getattr(batches, "batch_sampler", None)
        if isinstance(batches, torch.utils.data.DataLoader) and sampler is not None:
            # a DataLoader: count the samples from its batch sampler (indices only, no data read)
            sizes = [len(b) for b in itertools.islice(iter(sampler), max_batches)]
            self.items: Iterable[Batch] = batches if max_batches is None else itertools.islice(batches, max_batches)
        else:
            items = batches if isinstance(batches, SequenceABC) else list(itertools.islice(batches, max_batches))
            items = list(items[:max_batches] if max_batches is not None else items)
            sizes = [int(item[1].shape[0]) for item in items]
            self.items = items
        self.batches = len(sizes)
        self.dataset = _Sized(sum(sizes))

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for item in self.items:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError("each batch must be a pair (x [B, T, ...], y [B])")
            x, y = item
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"batch has {x.shape[0]} inputs but {y.shape[0]} labels (batch-major [B, T, ...] expected)")
            self.seen += int(y.shape[0])
            yield x.to(self.device), y.to(self.device)


def lif_membrane_updates(v: torch.Tensor) -> int:
    """Membrane updates of one LIF layer over one call, NeuroBench's definition
    (``MembraneUpdates``) applied to the post-reset potentials ``v [T, B, ...]``: at the first
    step every neuron counts; at each later step the neurons whose potential changed,
    ``V[t] != V[t-1]`` (a neuron that stays at 0, e.g. one that spikes at two steps in a row,
    does not count). This is what NeuroBench counts for snnTorch's ``Leaky(reset_mechanism="zero",
    reset_delay=False)``, whose ``mem`` after a step is the post-reset potential."""
    if v.shape[0] == 0:
        return 0
    return int(v[0].numel()) + int((v[1:] != v[:-1]).sum())


class _MembraneCounter:
    """Per-layer membrane updates (NeuroBench's definition) of the exact LIF on each layer's input."""

    def __init__(self) -> None:
        self.updates: dict[str, int] = {}

    def __call__(self, name: str, module: nn.Module, x: torch.Tensor, spikes: torch.Tensor) -> None:
        if not isinstance(module, (LIF, MPEPSN)):
            return
        threshold = module.threshold.detach().to(x.device, torch.float32)
        result = lif(x.detach().float(), threshold, module.tau, module.surrogate)
        if isinstance(module, LIF) and not torch.equal(result.spikes.to(spikes.dtype), spikes):
            raise RuntimeError(f"LIF layer {name}: recomputing its potentials gave other spikes than its forward")
        self.updates[name] = self.updates.get(name, 0) + lif_membrane_updates(result.v)


def _tensor_free(value: Any) -> Any:
    """NeuroBench's results as plain JSON values (its counts can be tensors or numpy numbers)."""
    if isinstance(value, dict):
        return {str(k): _tensor_free(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tensor_free(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def neurobench(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    max_batches: int | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> dict:
    """NeuroBench's static and workload metrics of ``model`` over ``batches`` (see module docstring).

    ``batches``: pairs ``(x [B, T, ...], y [B])`` as the loaders yield them (any input rank:
    frames [B, T, C, H, W] or channels [B, T, C]); ``model`` maps time-major [T, B, ...] to
    per-step logits [T, B, C]. ``seed``: seeds sampling estimators (as in
    :func:`mpe_psn.analysis.spike_rates.spike_rates`; the same seed gives the same spikes there).
    Needs NeuroBench (:data:`INSTALL_HINT`).

    Returns ``{"neurobench_version", "T", "samples", "static": {"Footprint" (bytes of parameters
    and buffers), "ConnectionSparsity", "ParameterCount"}, "workload": {"ClassificationAccuracy",
    "ActivationSparsity", "SynapticOperations": {"Effective_MACs", "Effective_ACs", "Dense"},
    "MembraneUpdates"}, "activation_layers": [names of the layers NeuroBench hooked],
    "layers": [{"name", "kind", "neurons", "activation_sparsity", "membrane_updates_per_sample"
    (None for a parallel neuron), "exact_lif_membrane_updates_per_sample" (None for PSN and
    SpikingJelly)}], "membrane_updates_per_sample"}`` (the last: the sum over the layers that
    have membrane updates, ``None`` when none has). ``static`` and ``workload`` are NeuroBench's
    numbers unchanged; ``layers`` and the membrane updates are counted by mpe-psn in the same
    forward passes.
    """
    nb = _import_neurobench()
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches!r}")
    neurons = spiking_layers(model)
    if not neurons:
        raise ValueError("the model has no spiking layers (MPEPSN, LIF, PSN or SpikingJelly neurons)")
    device = model_device(model)
    loader = _Loader(batches, max_batches, device)
    if len(loader.dataset) == 0:
        raise ValueError("neurobench got no batches: the data split is empty")

    wrapped = BatchMajor(model)
    counter, membranes = SpikeCounter(neurons), _MembraneCounter()
    first_shape: list[tuple[int, ...]] = []

    def on_neuron(name: str, module: nn.Module, x: torch.Tensor, spikes: torch.Tensor) -> None:
        counter(name, module, x, spikes)
        membranes(name, module, x, spikes)

    def remember_shape(_module: nn.Module, inputs: tuple) -> None:
        if not first_shape:
            first_shape.append(tuple(inputs[0].shape))

    printed = io.StringIO()
    with eval_mode(model):
        nb_model = nb["TorchModel"](wrapped)
        activation_classes = {SpikingNeuron, PSN, *(type(m) for _, m in neurons)}
        with contextlib.suppress(ImportError):
            import snntorch

            activation_classes.add(snntorch.SpikingNeuron)
        for cls in sorted(activation_classes, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
            nb_model.add_activation_module(cls)
        handle = wrapped.register_forward_pre_hook(remember_shape)
        try:
            bench = nb["Benchmark"](nb_model, loader, [], [predict], [nb["static"], nb["workload"]])
            with watch(neurons, on_neuron), seeded(seed, device), contextlib.redirect_stdout(printed), (
                contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
            ):
                names = {id(m): name or type(m).__name__ for name, m in model.named_modules()}
                hooked = [names.get(id(h.layer), str(h.name)) for h in nb_model.activation_hooks]
                results = bench.run(quiet=False)
        finally:
            handle.remove()
            nb_model.cleanup_hooks()  # NeuroBench leaves its hooks on the network otherwise
    errors = [line.strip() for line in printed.getvalue().splitlines() if line.startswith("Error running")]
    if errors:
        raise RuntimeError("NeuroBench reported errors (it would have written 0.0 or None instead): " + "; ".join(errors))
    if loader.seen != len(loader.dataset):
        raise RuntimeError(f"NeuroBench ran {loader.seen} samples but was told {len(loader.dataset)}")
    samples = loader.seen
    spiking = {name for name, _ in neurons}
    layers = []
    for row in counter.summary(samples):
        name, module = row["name"], dict(neurons)[row["name"]]
        exact = membranes.updates.get(name)
        layers.append({
            "name": name,
            "kind": row["kind"],
            "neurons": row["neurons"],
            "activation_sparsity": 1.0 - row["rate"],
            "membrane_updates_per_sample": exact / samples if isinstance(module, LIF) else None,
            "exact_lif_membrane_updates_per_sample": exact / samples if exact is not None else None,
        })
    own = [l["membrane_updates_per_sample"] for l in layers if l["membrane_updates_per_sample"] is not None]
    results = _tensor_free(results)
    return {
        "neurobench_version": nb["version"],
        "T": int(first_shape[0][1]) if first_shape else None,
        "samples": samples,
        "static": {name: results.get(name) for name in STATIC_METRICS},
        "workload": {name: results.get(name) for name in WORKLOAD_METRICS},
        "activation_layers": hooked,
        "non_spiking_activation_layers": [name for name in hooked if name not in spiking],
        "layers": layers,
        "membrane_updates_per_sample": sum(own) if own else None,
    }


Run = tuple[str, str, dict]


def plot_neurobench(runs: Sequence[Run], path: "str | os.PathLike[str]") -> None:
    """Activation sparsity per layer, and NeuroBench's synaptic operations per sample, per run."""
    colors = run_colors(runs)
    fig, axes = new_figure(1, 2, width=4.8, height=3.6)
    names: list[str] = []
    for _, _, result in runs:
        names += [l["name"] for l in result["layers"] if l["name"] not in names]
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(names))
    for r, ((label, _, result), color) in enumerate(zip(runs, colors)):
        by_name = {l["name"]: l["activation_sparsity"] for l in result["layers"]}
        axes[0].bar(x + (r - (len(runs) - 1) / 2) * width, [by_name.get(n, np.nan) for n in names], width,
                    label=f"{label}: {result['workload']['ActivationSparsity']:.4f}", color=color)
    axes[0].set_xticks(x, names, rotation=30, ha="right")
    axes[0].set_ylabel("activation sparsity (1 - spike rate)")
    axes[0].set_title("ActivationSparsity per layer (all layers: legend)")
    axes[0].legend()
    keys = ("Effective_MACs", "Effective_ACs", "Dense")
    x = np.arange(len(keys))
    for r, ((label, _, result), color) in enumerate(zip(runs, colors)):
        ops = result["workload"]["SynapticOperations"]
        axes[1].bar(x + (r - (len(runs) - 1) / 2) * width, [max(float(ops[k]), 1e-9) for k in keys], width,
                    label=label, color=color)
    axes[1].set_xticks(x, keys)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("operations per sample")
    axes[1].set_title(f"SynapticOperations (NeuroBench {runs[0][2]['neurobench_version'] if runs else ''})")
    axes[1].legend()
    save_figure(fig, path)
