"""Import a NIR graph as a trainable network with this project's neurons.

:func:`from_nir` maps each NIR node to a PyTorch layer (Affine/Linear -> ``nn.Linear``, Conv2d,
AvgPool2d, SumPool2d, Flatten, Scale) and each neuron node to ``MPEPSN`` (``neuron="mpe"``)
or the exact ``LIF`` (``neuron="lif"``). Only neurons that are exactly this project's
hard-reset discrete LIF at the time step ``dt`` are accepted (see
:mod:`mpe_psn.export.neuron_map`): LIF and IF with ``v_leak = v_reset = 0``, CubaLIF whose
synaptic current forgets in one step; anything else is a ``ValueError`` naming the node.

Each NIR node type is one entry of :data:`IMPORTERS` (type name -> converter, registered with
:func:`importer`); the export direction is :data:`mpe_psn.export.nir_export.EXPORTERS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from mpe_psn.export.neuron_map import DEFAULT_DT, discrete_from_cuba_lif, discrete_from_if, discrete_from_lif
from mpe_psn.neurons import LIF, MPEPSN, SpikingNeuron
from mpe_psn.utils.registering import filed_under

__all__ = ["IMPORTERS", "ImportContext", "REFUSED", "from_nir", "importer", "read_nir", "supported_nodes", "NIRNetwork",
           "SumPool2d", "Step", "Scale"]


class Step(nn.Module):
    """``1[x > threshold]`` (NIR's Threshold node); no gradient."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = float(threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.threshold).to(x.dtype)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


class SumPool2d(nn.Module):
    """Sum over each pooling window (NIR's SumPool2d)."""

    def __init__(self, kernel_size, stride, padding) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        self.pool = nn.AvgPool2d(tuple(kernel_size), tuple(stride), tuple(padding), divisor_override=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class Scale(nn.Module):
    """Elementwise product with fixed factors (NIR's Scale)."""

    def __init__(self, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class NIRNetwork(nn.Module):
    """A network built from a NIR graph: [T, B, *input_shape] -> [T, B, *output_shape].

    Stateless layers see every time step as a sample ([T*B, ...]); neurons see the sequence.
    Where several edges enter a node, their outputs are summed (NIR's convention). With
    ``step_mode = "s"`` (``mpe_psn.set_step_mode``) it takes one step [B, *input_shape].
    """

    step_mode = "m"

    def __init__(self, layers: dict[str, nn.Module], plan: list[tuple[str, str, list[str]]], input_name: str,
                 output_pred: list[str], input_shape: tuple[int, ...], T: int | None) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.plan = plan  # (module key, NIR node name, NIR predecessors) in topological order
        self.input_name = input_name
        self.output_pred = output_pred
        self.input_shape = tuple(input_shape)
        self.T = T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = 1 if self.step_mode == "s" else 2
        layout = "[B, ...]" if lead == 1 else "[T, B, ...]"
        if x.dim() != lead + len(self.input_shape) or tuple(x.shape[lead:]) != self.input_shape:
            raise ValueError(f"NIR node {self.input_name!r} (Input) takes {layout} with sample shape "
                             f"{self.input_shape}, got shape {tuple(x.shape)}")
        if lead == 2 and self.T is not None and x.shape[0] != self.T:
            raise ValueError(f"NIR node {self.input_name!r} (Input): this network was imported for T = {self.T} "
                             f"time steps but the input has T = {x.shape[0]} (shape {tuple(x.shape)})")
        values: dict[str, torch.Tensor] = {self.input_name: x}
        for key, name, preds in self.plan:
            inputs = [values[p] for p in preds]
            total = inputs[0]
            for extra in inputs[1:]:
                total = total + extra
            layer = self.layers[key]
            try:
                if lead == 2 and not isinstance(layer, SpikingNeuron):
                    T, B = total.shape[:2]
                    values[name] = layer(total.flatten(0, 1)).unflatten(0, (T, B))
                else:
                    values[name] = layer(total)
            except (RuntimeError, ValueError) as error:
                raise ValueError(f"NIR node {name!r} ({type(layer).__name__}): {error}") from error
        outputs = [values[p] for p in self.output_pred]
        result = outputs[0]
        for extra in outputs[1:]:
            result = result + extra
        return result

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, T={self.T}"


def read_nir(path: "str | os.PathLike[str]"):
    """``nir.read`` with a clear error for a missing file or one that is not NIR."""
    import nir

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"NIR file {path} does not exist")
    try:
        return nir.read(path)
    except Exception as error:  # h5py's OSError for non-HDF5, KeyError for HDF5 without a graph
        raise ValueError(f"{path} is not a NIR file ({type(error).__name__}: {str(error)[:160]})") from error


def _shape(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    arr = np.asarray(value).ravel()
    if arr.size == 0 or any(v is None for v in arr.tolist()):
        return None
    return tuple(int(v) for v in arr)


def _ints(value) -> tuple[int, ...]:
    """``2`` or ``(2, 2)`` or an array as a tuple of two ints (what torch's 2d layers take)."""
    values = tuple(int(v) for v in np.atleast_1d(np.asarray(value)).ravel())
    return values * 2 if len(values) == 1 else values


def _single_threshold(values, name: str) -> float:
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.allclose(values, values[0]):
        raise ValueError(f"NIR node {name!r} (Threshold) has thresholds that differ between elements; one is supported")
    return float(values[0])


@dataclass(frozen=True)
class ImportContext:
    """What every node converter may need besides the node: the neuron kind, ``dt``, ``T``, options."""

    neuron: str
    dt: float
    T: int | None
    options: dict[str, Any]


#: ``convert(name, node, how) -> the torch module``
Importer = Callable[[str, Any, ImportContext], nn.Module]

#: NIR node type name -> its converter (names, not types: ``nir`` is imported only when used)
IMPORTERS: dict[str, Importer] = {}
#: NIR node types that never import, with the reason given to the user
REFUSED: dict[str, str] = {"NIRGraph": "is a subgraph (a recurrent layer?); recurrent connections are not supported"}


def importer(*node_types: str) -> Callable[[Importer], Importer]:
    """Register the decorated function as the converter of the NIR node types named ``node_types``."""
    return filed_under(IMPORTERS, *node_types)


def supported_nodes() -> list[str]:
    """The NIR node types :func:`from_nir` reads (the keys of :data:`IMPORTERS`)."""
    return list(IMPORTERS)


def _layer(name: str, node, how: ImportContext) -> nn.Module:
    names = [klass.__name__ for klass in type(node).__mro__]
    convert = next((IMPORTERS[n] for n in names if n in IMPORTERS), None)
    if convert is not None:
        return convert(name, node, how)
    reason = next((REFUSED[n] for n in names if n in REFUSED), None)
    if reason is not None:
        raise ValueError(f"NIR node {name!r} {reason}")
    raise ValueError(f"NIR node {name!r} is a {type(node).__name__}, which has no exact counterpart here "
                     f"(supported: {', '.join(supported_nodes())})")


def _neuron(discrete: Callable[[Any, float, str], "tuple[float, Any]"]) -> Importer:
    """The converter of a NIR neuron type that ``discrete`` maps to this project's (tau, threshold)."""

    def convert(name: str, node, how: ImportContext) -> nn.Module:
        tau, threshold = discrete(node, how.dt, name)
        if how.neuron == "mpe":
            mpe_options = {"kappa": "uniform", **how.options} if how.T is None else how.options
            return MPEPSN(tau=tau, threshold=threshold, T=how.T, **mpe_options)
        return LIF(tau=tau, threshold=threshold, T=how.T, **how.options)

    return convert


importer("LIF")(_neuron(discrete_from_lif))
importer("IF")(_neuron(discrete_from_if))
importer("CubaLIF")(_neuron(discrete_from_cuba_lif))


@importer("Affine", "Linear")
def _linear(name: str, node, how: ImportContext) -> nn.Module:
    weight = np.asarray(node.weight, np.float32)
    bias = getattr(node, "bias", None)  # a Linear node has none
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        if bias is not None:
            layer.bias.copy_(torch.from_numpy(np.broadcast_to(np.asarray(bias, np.float32), weight.shape[:1]).copy()))
    return layer


@importer("Conv2d")
def _conv(name: str, node, how: ImportContext) -> nn.Module:
    weight = np.asarray(node.weight, np.float32)
    padding = node.padding if isinstance(node.padding, str) else _ints(node.padding)
    layer = nn.Conv2d(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[-2:]),
                      stride=_ints(node.stride), padding=padding, dilation=_ints(node.dilation),
                      groups=int(node.groups), bias=True)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        bias = np.zeros(weight.shape[0], np.float32) if node.bias is None else np.asarray(node.bias, np.float32)
        layer.bias.copy_(torch.from_numpy(np.broadcast_to(bias, weight.shape[:1]).copy()))
    return layer


@importer("AvgPool2d")
def _avg_pool(name: str, node, how: ImportContext) -> nn.Module:
    return nn.AvgPool2d(_ints(node.kernel_size), _ints(node.stride), _ints(node.padding))


@importer("SumPool2d")
def _sum_pool(name: str, node, how: ImportContext) -> nn.Module:
    return SumPool2d(_ints(node.kernel_size), _ints(node.stride), _ints(node.padding))


@importer("Flatten")
def _flatten(name: str, node, how: ImportContext) -> nn.Module:
    end = node.end_dim + 1 if node.end_dim >= 0 else node.end_dim  # NIR counts dims without the batch; torch's sees it
    return nn.Flatten(node.start_dim + 1, end)


@importer("Scale")
def _scale(name: str, node, how: ImportContext) -> nn.Module:
    return Scale(node.scale)


@importer("Threshold")
def _threshold(name: str, node, how: ImportContext) -> nn.Module:
    return Step(_single_threshold(node.threshold, name))


def _order(graph) -> tuple[str, str, list[tuple[str, list[str]]]]:
    import nir

    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"the NIR graph needs exactly one Input and one Output node, found inputs {inputs} and outputs {outputs}")
    preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for edge in graph.edges:
        if len(edge) != 2 or any(end not in graph.nodes for end in edge):
            raise ValueError(f"NIR edge {edge!r} names a node that is not in the graph")
        preds[edge[1]].append(edge[0])
    order, done = [], {inputs[0]}
    pending = [k for k in graph.nodes if k not in (inputs[0], outputs[0])]
    while pending:
        ready = [k for k in pending if preds[k] and all(p in done for p in preds[k])]
        if not ready:
            stuck = pending[0]
            why = "no incoming edge" if not preds[stuck] else "a cycle (recurrent connection)"
            raise ValueError(f"NIR node {stuck!r} cannot be ordered: {why}; only feed-forward graphs are supported")
        for k in ready:
            order.append((k, preds[k]))
            done.add(k)
            pending.remove(k)
    if not preds[outputs[0]]:
        raise ValueError(f"NIR node {outputs[0]!r} (Output) has no incoming edge")
    return inputs[0], outputs[0], order


def _check_types(graph, name: str, preds: list[str]) -> None:
    """Declared shapes must chain along every edge into ``name`` (where both ends declare one)."""
    node = graph.nodes[name]
    want = _shape(getattr(node, "input_type", {}).get("input"))
    for pred in preds:
        got = _shape(getattr(graph.nodes[pred], "output_type", {}).get("output"))
        if want is not None and got is not None and np.prod(want) != np.prod(got):
            raise ValueError(f"NIR node {name!r} ({type(node).__name__}) takes shape {want} but node {pred!r} gives {got}: "
                             f"the graph's shapes do not chain")


def from_nir(graph_or_path, neuron: str = "mpe", dt: float | None = None, T: int | None = None,
             neuron_options: dict[str, Any] | None = None) -> NIRNetwork:
    """A trainable :class:`NIRNetwork` with this project's neurons from a NIR graph or file.

    Args:
        graph_or_path: a ``nir.NIRGraph`` or the path of a ``.nir`` file.
        neuron: ``"mpe"`` (MPE-PSN, to train in parallel) or ``"lif"`` (the exact LIF, what
            a NIR target runs).
        dt: time step in seconds for the continuous time constants; default: the ``dt`` in
            the graph's or node's metadata (graphs written by ``to_nir`` carry it), else 1e-4
            (what snnTorch assumes).
        T: the number of time steps, checked on every call when given.
        neuron_options: extra keyword options for every neuron (e.g. ``{"estimator": "expected"}``).
    """
    import nir

    if neuron not in ("mpe", "lif"):
        raise ValueError(f"neuron must be 'mpe' or 'lif', got {neuron!r}")
    if dt is not None and not (isinstance(dt, (int, float)) and dt > 0 and np.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    graph = read_nir(graph_or_path) if isinstance(graph_or_path, (str, os.PathLike)) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir takes a nir.NIRGraph or a path, got {type(graph).__name__}")
    graph_dt = (graph.metadata or {}).get("dt")
    input_name, output_name, order = _order(graph)
    input_shape = _shape(graph.nodes[input_name].input_type.get("input"))
    if input_shape is None:
        raise ValueError(f"NIR node {input_name!r} (Input) declares no shape")
    layers, plan, used = {}, [], set()
    for name, preds in order:
        _check_types(graph, name, preds)
        node = graph.nodes[name]
        node_dt = dt if dt is not None else float((node.metadata or {}).get("dt", graph_dt or DEFAULT_DT))
        key = name.replace(".", "_") or "node"
        while key in used:
            key += "_"
        used.add(key)
        layers[key] = _layer(name, node, ImportContext(neuron, node_dt, T, dict(neuron_options or {})))
        plan.append((key, name, preds))
    output_preds = [e[0] for e in graph.edges if e[1] == output_name]
    _check_types(graph, output_name, output_preds)
    network = NIRNetwork(layers, plan, input_name, output_preds, input_shape, T)
    with torch.no_grad():  # a probe step finds shapes that do not chain, naming the node
        was_training = network.training
        network.eval()
        network(torch.zeros((T or 1, 1, *input_shape)))
        network.train(was_training)
    return network
