"""Export a network to NIR, the neuromorphic intermediate representation.

:func:`to_nir` walks the network's layers in forward order and writes one NIR node per layer:

=============================  ==================================================================
this project / PyTorch          NIR
=============================  ==================================================================
``nn.Linear``                   ``Affine`` (``Linear`` without bias)
``nn.Conv2d``                   ``Conv2d`` (zero padding mode only)
``nn.BatchNorm1d/2d``           folded into the Linear / Conv2d just before it (eval statistics)
``nn.Flatten``                  ``Flatten`` (dims counted without the batch, as NIR's types do)
``nn.AvgPool2d``, SumPool2d     ``AvgPool2d``, ``SumPool2d``
``nn.AdaptiveAvgPool2d``        ``AvgPool2d`` when the input divides evenly
Dropout, Identity               dropped (identity in eval mode)
``MPEPSN``, ``LIF``             ``LIF`` (``IF`` when tau = 1), see :mod:`mpe_psn.export.neuron_map`
the voting average              folded into the Linear before it
=============================  ==================================================================

``MPEPSN`` is exported as the LIF it estimates: a NIR target runs the exact LIF, so what it
computes is what ``refine_steps = T - 1`` computes here. Anything else (MaxPool, PSN, a module with its
own forward) is a ``ValueError`` naming the layer. ResNet19's residual blocks become two edges
into the block's last neuron (NIR sums what enters a node).

Each row is one entry of :data:`EXPORTERS`, a map from module type to its converter, which
records the node and says how to finish it once its input shape is known. A new layer type is
one more entry (a function decorated with :func:`exporter`); the way back is one entry of
:data:`mpe_psn.export.nir_import.IMPORTERS`. Both maps name the supported types in the errors.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from mpe_psn.export.neuron_map import DEFAULT_DT, lif_parameters
from mpe_psn.export.nir_import import NIRNetwork, Scale, Step
from mpe_psn.models.base import SpikingNetwork
from mpe_psn.models.layers import TimeSharedDropout
from mpe_psn.models.nets import VotingPool
from mpe_psn.neurons import LIF, MPEPSN, PSN
from mpe_psn.utils.atomic import atomic_write_bytes
from mpe_psn.utils.registering import filed_under

__all__ = ["EXPORTERS", "GraphBuilder", "MAX_POOL_MODES", "PendingNode", "REFUSED", "exporter", "supported_layers", "to_nir",
           "write_nir"]

#: ``max_pool`` of :func:`to_nir`: a max pool on spikes as SumPool2d + Threshold, or every max pool an error
MAX_POOL_MODES = ("spikes", "error")
_DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity, nn.AlphaDropout)
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)


@dataclass
class PendingNode:
    """A NIR node being built, with what it needs to be finished once its input shape is known."""

    name: str
    layer: str  # the torch module's qualified name, for messages
    kind: str  # "affine", "conv" and "neuron" can be folded into or folded through; the rest are "other"
    finish: "Finish"
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    params: dict = field(default_factory=dict)  # the kind's own settings, read by ``finish``
    preds: list[str] = field(default_factory=list)


#: ``finish(node, input_shape) -> (NIR node, output shape)``, called in forward order
Finish = Callable[[PendingNode, tuple[int, ...]], "tuple[Any, tuple[int, ...]]"]
#: ``convert(builder, name, module, preds) -> the node names that feed what comes next``
Exporter = Callable[["GraphBuilder", str, nn.Module, list[str]], list[str]]

#: module type -> its converter. A key may be a class name instead, for layers of other
#: libraries that this project does not import (SumPool2d of sinabs, say). The most specific
#: class of a module's MRO that has an entry wins, so subclasses export like their base.
EXPORTERS: dict["type | str", Exporter] = {}
#: module types that never export, with the reason given to the user
REFUSED: dict["type | str", str] = {
    PSN: "the PSN mixes all T steps with a T x T matrix; no NIR neuron does that",
    **dict.fromkeys(_MAX_POOLS, "NIR has no max pooling (only AvgPool2d and SumPool2d); only a MaxPool2d right "
                                "after a neuron is written, as SumPool2d + Threshold (max_pool='spikes', the default); "
                                "train with nn.AvgPool2d otherwise"),
}


def exporter(*keys: "type | str") -> Callable[[Exporter], Exporter]:
    """Register the decorated function as the NIR converter of ``keys`` (module types or class names)."""
    return filed_under(EXPORTERS, *keys)


def supported_layers() -> list[str]:
    """The names of the module types :func:`to_nir` writes (the keys of :data:`EXPORTERS`)."""
    return [key if isinstance(key, str) else key.__name__ for key in EXPORTERS]


def _nir():
    import nir  # the optional dependency, imported where it is used

    return nir


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy().copy()


def _unsupported(name: str, module: nn.Module, why: str) -> ValueError:
    return ValueError(f"cannot export layer {name!r} ({type(module).__name__}) to NIR: {why}")


def _pair(value) -> np.ndarray:
    return np.array(value if isinstance(value, (tuple, list)) else (value, value), dtype=np.int64)


def _lookup(table: dict, module: nn.Module):
    for klass in type(module).__mro__:
        for key in (klass, klass.__name__):
            if key in table:
                return table[key]
    return None


class GraphBuilder:
    """The NIR nodes of a network as they are found, in forward order; converters add to it."""

    def __init__(self, dt: float, max_pool: str = "spikes") -> None:
        self.dt = dt
        self.max_pool = max_pool
        self.nodes: list[PendingNode] = []
        self.used: set[str] = {"input", "output"}

    def _key(self, layer: str) -> str:
        base = (layer or "layer").replace(".", "_")
        key, n = base, 1
        while key in self.used:
            n += 1
            key = f"{base}_{n}"
        self.used.add(key)
        return key

    def add(self, layer: str, preds: list[str], finish: Finish, kind: str = "other", **fields) -> str:
        """Add a node for torch layer ``layer`` fed by ``preds``; returns its name (what feeds the next)."""
        node = PendingNode(self._key(layer), layer, kind, finish, preds=list(preds), **fields)
        self.nodes.append(node)
        return node.name

    def last_if_foldable(self, preds: list[str], kinds: tuple[str, ...]) -> PendingNode | None:
        """The node ``preds`` points to if it is one of ``kinds`` and nothing else reads it yet."""
        if len(preds) != 1:
            return None
        node = next(n for n in self.nodes if n.name == preds[0]) if preds[0] != "input" else None
        if node is None or node.kind not in kinds:
            return None
        if any(preds[0] in other.preds for other in self.nodes):
            return None
        return node

    def module(self, name: str, module: nn.Module, preds: list[str]) -> list[str]:
        """Add ``module`` fed by ``preds`` with its converter; returns the names that feed what comes next."""
        convert = _lookup(EXPORTERS, module)
        if convert is not None:
            return convert(self, name, module, preds)
        reason = _lookup(REFUSED, module)
        raise _unsupported(name, module, reason or f"not a supported layer (supported: {', '.join(supported_layers())}; "
                                                   "in an nn.Sequential)")

    def children(self, name: str, named: "list[tuple[str, nn.Module]]", preds: list[str]) -> list[str]:
        """Add ``named`` modules one after the other, each fed by the one before."""
        for child_name, child in named:
            preds = self.module(f"{name}.{child_name}" if name else child_name, child, preds)
        return preds


# -- finishing a node once its input shape is known --------------------------------------------


def _same_shape(make: Callable[[PendingNode, tuple[int, ...]], Any]) -> Finish:
    """A finish for nodes whose output has their input's shape."""
    return lambda node, shape: (make(node, shape), shape)


def _finish_affine(node: PendingNode, shape: tuple[int, ...]):
    nir = _nir()
    if shape[-1:] != (node.weight.shape[1],):
        raise ValueError(f"layer {node.layer!r} expects {node.weight.shape[1]} input features, gets shape {shape}")
    built = nir.Linear(node.weight) if node.bias is None else nir.Affine(node.weight, node.bias.astype(np.float32))
    return built, (*shape[:-1], node.weight.shape[0])


def _finish_conv(node: PendingNode, shape: tuple[int, ...]):
    if len(shape) != 3 or shape[0] != node.weight.shape[1] * node.params["groups"]:
        raise ValueError(f"layer {node.layer!r} (Conv2d) expects [{node.weight.shape[1]}, H, W] inputs, gets shape {shape}")
    probe = torch.zeros((1, *shape))
    out = tuple(torch.nn.functional.conv2d(probe, torch.from_numpy(node.weight), None, **node.params).shape[1:])
    built = _nir().Conv2d(input_shape=shape[1:], weight=node.weight, bias=node.bias.astype(np.float32), **node.params)
    return built, out


def _finish_neuron(node: PendingNode, shape: tuple[int, ...]):
    nir = _nir()
    tau, meta = node.params["tau"], node.params["meta"]
    params = lif_parameters(tau, np.broadcast_to(node.params["threshold"], shape).copy(), float(meta["dt"]))
    if "r_folded_into_weights" in meta:
        params["r"] = np.ones_like(params["r"])
    return (nir.IF if tau == 1.0 else nir.LIF)(**params, metadata=meta), shape


def _finish_pool(make: Callable[[], Any]) -> Finish:
    """AvgPool2d / SumPool2d: the output shape from torch, both types written on the node."""

    def finish(node: PendingNode, shape: tuple[int, ...]):
        built = make()
        probe = torch.zeros((1, *shape))
        out = tuple(torch.nn.functional.avg_pool2d(probe, tuple(built.kernel_size), tuple(built.stride),
                                                   tuple(built.padding)).shape[1:])
        built.input_type = {"input": np.array(shape)}
        built.output_type = {"output": np.array(out)}
        return built, out

    return finish


def _threshold(theta: float) -> Finish:
    return _same_shape(lambda node, shape: _nir().Threshold(np.full(shape, theta, dtype=np.float32)))


# -- one converter per module type --------------------------------------------------------------


@exporter(SpikingNetwork)
def _network(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    return builder.module(f"{name}.body" if name else "body", module.body, preds)


@exporter(nn.Sequential)  # TimeMerged too
def _sequential(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    return builder.children(name, list(module.named_children()), preds)


@exporter(*_DROPPED, TimeSharedDropout)
def _dropped(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    return preds  # identity in eval mode


@exporter(MPEPSN, LIF)
def _neuron(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    meta = {"dt": float(builder.dt), "mpe_psn_neuron": type(module).__name__, "mpe_psn_tau": float(module.tau)}
    if isinstance(module, MPEPSN):
        meta.update(mpe_psn_estimator=module.eval_estimator, mpe_psn_refine_steps=int(module.refine_steps))
    params = {"tau": float(module.tau), "threshold": _np(module.threshold), "meta": meta}
    return [builder.add(name, preds, _finish_neuron, kind="neuron", params=params)]


@exporter(nn.Linear)
def _linear(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    return [builder.add(name, preds, _finish_affine, kind="affine", weight=_np(module.weight),
                        bias=None if module.bias is None else _np(module.bias))]


@exporter(nn.Conv2d)
def _conv(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    if module.padding_mode != "zeros":
        raise _unsupported(name, module, f"padding_mode {module.padding_mode!r}; NIR pads with zeros")
    bias = np.zeros(module.out_channels, np.float32) if module.bias is None else _np(module.bias)
    params = dict(stride=module.stride, padding=module.padding, dilation=module.dilation, groups=module.groups)
    return [builder.add(name, preds, _finish_conv, kind="conv", weight=_np(module.weight), bias=bias, params=params)]


@exporter(nn.BatchNorm1d, nn.BatchNorm2d)
def _batch_norm(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    """Folded into the Linear or Conv2d before it (eval statistics)."""
    target = builder.last_if_foldable(preds, ("affine", "conv"))
    if target is None:
        raise _unsupported(name, module, "NIR has no batch norm, and it follows no Conv2d or Linear to fold into")
    if module.running_mean is None or module.running_var is None:
        raise _unsupported(name, module, "it keeps no running statistics (track_running_stats=False) to fold")
    scale = _np(module.running_var.add(module.eps).rsqrt())
    if module.weight is not None:
        scale = scale * _np(module.weight)
    shift = -_np(module.running_mean) * scale + (0.0 if module.bias is None else _np(module.bias))
    extra = (slice(None),) + (None,) * (target.weight.ndim - 1)
    target.weight = target.weight * scale[extra]
    target.bias = (np.zeros_like(shift) if target.bias is None else target.bias) * scale + shift
    return preds


@exporter(VotingPool)
def _voting(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    """The voting average, folded into the Linear before it."""
    target = builder.last_if_foldable(preds, ("affine",))
    if target is None:
        raise _unsupported(name, module, "the voting average must follow a Linear layer to be folded into it")
    out, votes = target.weight.shape[0] // module.votes, module.votes
    target.weight = target.weight.reshape(out, votes, -1).mean(1)
    if target.bias is not None:
        target.bias = target.bias.reshape(out, votes).mean(1)
    return preds


@exporter(nn.Flatten)
def _flatten(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    if module.start_dim == 0:
        raise _unsupported(name, module, "start_dim 0 flattens the batch; NIR's Flatten keeps it")
    shift = lambda d: d - 1 if d > 0 else d  # noqa: E731  (NIR counts dims without the batch)
    start, end = shift(module.start_dim), shift(module.end_dim)

    def finish(node: PendingNode, shape: tuple[int, ...]):
        built = _nir().Flatten(np.array(shape), start_dim=start, end_dim=end)
        return built, tuple(int(v) for v in built.output_type["output"])

    return [builder.add(name, preds, finish)]


@exporter(nn.AvgPool2d)
def _avg_pool(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    if module.ceil_mode or module.divisor_override is not None:
        raise _unsupported(name, module, "ceil_mode and divisor_override have no NIR equivalent")
    k, s, p = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), _pair(module.padding)
    return [builder.add(name, preds, _finish_pool(lambda: _nir().AvgPool2d(k, s, p)))]


@exporter("SumPool2d")  # ours (from_nir) or e.g. sinabs' layer
def _sum_pool(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    k = _pair(module.kernel_size)
    s = _pair(getattr(module, "stride", None) or module.kernel_size)
    p = _pair(getattr(module, "padding", 0) or 0)
    return [builder.add(name, preds, _finish_pool(lambda: _nir().SumPool2d(k, s, p)))]


@exporter(nn.AdaptiveAvgPool2d)
def _adaptive_avg_pool(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    """An ``AvgPool2d`` when the input divides evenly into the output size."""
    size = _pair(module.output_size)

    def finish(node: PendingNode, shape: tuple[int, ...]):
        if len(shape) != 3 or any(s is None or shape[1 + i] % int(s) for i, s in enumerate(size)):
            raise ValueError(f"layer {node.layer!r} (AdaptiveAvgPool2d) maps {shape[1:]} to {tuple(size)}, "
                             f"which is not an even average pooling")
        k = np.array([shape[1] // size[0], shape[2] // size[1]])
        built, _ = _finish_pool(lambda: _nir().AvgPool2d(k, k, np.array([0, 0])))(node, shape)
        return built, (shape[0], int(size[0]), int(size[1]))

    return [builder.add(name, preds, finish)]


@exporter(Step)
def _step(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    return [builder.add(name, preds, _threshold(float(module.threshold)))]


@exporter(Scale)
def _scale(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    factors = _np(module.scale)
    return [builder.add(name, preds, _same_shape(
        lambda node, shape: _nir().Scale(np.broadcast_to(factors, shape).astype(np.float32))))]


@exporter(nn.MaxPool2d)
def _max_pool(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    """On spikes (0 or 1) a max pool is ``1[sum over the window > 0.5]``: SumPool2d + Threshold, exact."""
    if builder.max_pool != "spikes":
        raise _unsupported(name, module, REFUSED[nn.MaxPool2d])
    fed_by = [n for n in builder.nodes if n.name in preds]
    if len(preds) != 1 or len(fed_by) != 1 or fed_by[0].kind != "neuron":
        raise _unsupported(name, module, "NIR has no max pooling; a max pool is written exactly (as SumPool2d + "
                                         "Threshold) only where its input is spikes, i.e. right after a neuron, "
                                         "and this one is not; train with nn.AvgPool2d here")
    if module.ceil_mode or _pair(module.dilation).tolist() != [1, 1]:
        raise _unsupported(name, module, "ceil_mode and dilation have no NIR SumPool2d equivalent")
    k, p = _pair(module.kernel_size), _pair(module.padding)
    s = _pair(module.stride if module.stride is not None else module.kernel_size)
    pooled = builder.add(f"{name}.sum", preds, _finish_pool(lambda: _nir().SumPool2d(k, s, p)))
    return [builder.add(f"{name}.any", [pooled], _threshold(0.5))]


@exporter("BasicBlock")
def _residual_block(builder: GraphBuilder, name: str, module: nn.Module, preds: list[str]) -> list[str]:
    """``neuron2(conv2(neuron1(conv1(x))) + shortcut(x))``: two edges into neuron2, which NIR sums."""
    if not all(hasattr(module, part) for part in ("conv1", "neuron1", "conv2", "shortcut", "neuron2")):
        raise _unsupported(name, module, "a BasicBlock needs conv1, neuron1, conv2, shortcut and neuron2 to export")
    main = builder.children(name, [(part, getattr(module, part)) for part in ("conv1", "neuron1", "conv2")], preds)
    shortcut = builder.module(f"{name}.shortcut", module.shortcut, preds)
    return builder.module(f"{name}.neuron2", module.neuron2, main + shortcut)


@exporter(NIRNetwork)
def _nir_network(builder: GraphBuilder, name: str, network: nn.Module, preds: list[str]) -> list[str]:
    """A network imported with ``from_nir``: its own graph, node by node."""
    outputs: dict[str, list[str]] = {network.input_name: preds}
    for key, node_name, node_preds in network.plan:
        incoming = [p for pred in node_preds for p in outputs[pred]]
        outputs[node_name] = builder.module(f"{name}.layers.{key}" if name else key, network.layers[key], incoming)
    return [p for pred in network.output_pred for p in outputs[pred]]


def _finish_all(nodes: list[PendingNode], input_shape: tuple[int, ...]):
    """Finish the NIR nodes in forward order, each from the shape that reaches it."""
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(input_shape)}
    finished = {}
    for node in nodes:
        in_shapes = {shapes[p] for p in node.preds}
        if len(in_shapes) != 1:
            raise ValueError(f"layer {node.layer!r} adds inputs of different shapes {sorted(in_shapes)}")
        finished[node.name], out = node.finish(node, in_shapes.pop())
        shapes[node.name] = tuple(int(v) for v in out)
    return finished, shapes


def _fold_r(nodes: list[PendingNode]) -> None:
    """Write r = 1 and scale the layer feeding each neuron by r instead (same neuron, for readers ignoring r)."""
    for node in nodes:
        if node.kind != "neuron":
            continue
        tau = node.params["tau"]
        pred = next((n for n in nodes if len(node.preds) == 1 and n.name == node.preds[0]), None)
        readers = [n for n in nodes if pred is not None and pred.name in n.preds]
        if pred is None or pred.kind not in ("affine", "conv") or readers != [node]:
            raise ValueError(f"fold_r: neuron layer {node.layer!r} is not fed by a Linear or Conv2d of its own, "
                             f"so its input scale r cannot be folded into weights; export with fold_r=False")
        r = 1.0 / (1.0 - tau) if tau < 1.0 else 1.0 / node.params["meta"]["dt"]
        pred.weight = pred.weight * np.float32(r)
        pred.bias = None if pred.bias is None else pred.bias * np.float32(r)
        node.params["meta"]["r_folded_into_weights"] = float(r)


def to_nir(model: nn.Module, dt: float = DEFAULT_DT, input_shape: "tuple[int, ...] | None" = None,
           fold_r: bool = False, max_pool: str = "spikes"):
    """The network ``model`` as a ``nir.NIRGraph`` (its eval-mode computation of one time step).

    Args:
        model: a network of this project (``mpe_psn.models``), a network imported with
            :func:`~mpe_psn.export.from_nir`, or an ``nn.Sequential`` of supported layers.
        dt: the time step in seconds that NIR's continuous time constants are written for
            (1e-4 is what snnTorch assumes when it reads a graph); stored in each neuron's metadata.
        input_shape: one sample's shape without time and batch, e.g. ``(2, 32, 32)``; taken from
            the model when it knows it (this project's networks, a Linear first layer).
        fold_r: write ``r = 1`` and multiply the weights and bias of the layer feeding each
            neuron by ``1 / (1 - tau)`` instead: the same network for readers that ignore ``r``
            (Norse); equal in exact arithmetic, so float rounding may flip a spike at the threshold.
        max_pool: ``"spikes"`` (default): a ``MaxPool2d`` right after a neuron sees only 0s and
            1s, so it is written exactly as ``SumPool2d`` followed by ``Threshold(0.5)`` (readers
            must support both nodes; snnTorch does not, Norse reads no Threshold); any other max
            pool is an error naming the layer. ``"error"``: every max pool is an error.

    Every ``MPEPSN`` and ``LIF`` becomes a NIR ``LIF`` with ``tau = dt / (1 - tau)``,
    ``r = 1 / (1 - tau)``, ``v_leak = v_reset = 0``, ``v_threshold = theta``.
    """
    import nir

    if not isinstance(model, nn.Module):
        raise TypeError(f"to_nir takes an nn.Module, got {type(model).__name__}")
    if max_pool not in MAX_POOL_MODES:
        raise ValueError(f"max_pool must be 'error' or 'spikes', got {max_pool!r}")
    builder = GraphBuilder(float(dt), max_pool)
    lif_parameters(0.0, np.zeros(1), float(dt))  # checks dt
    outputs = builder.module("", model, ["input"])
    if input_shape is None:
        if isinstance(model, SpikingNetwork):
            input_shape = model.sample_shape()
        elif isinstance(model, NIRNetwork):
            input_shape = model.input_shape
        else:
            first = next((n for n in builder.nodes if "input" in n.preds), None)
            if first is None or first.kind != "affine":
                raise ValueError("to_nir needs input_shape (one sample's shape, e.g. (2, 32, 32)) for a network "
                                 "that does not start with a Linear layer")
            input_shape = (first.weight.shape[1],)
    if not builder.nodes:
        raise ValueError(f"{type(model).__name__} has no layer to export")
    if fold_r:
        _fold_r(builder.nodes)
    finished, shapes = _finish_all(builder.nodes, tuple(int(s) for s in input_shape))
    if len(outputs) != 1:
        raise ValueError(f"the network ends in {len(outputs)} branches ({outputs}); NIR export needs one output")
    nodes = {"input": nir.Input(np.array(input_shape)), **finished, "output": nir.Output(np.array(shapes[outputs[0]]))}
    edges = [(p, n.name) for n in builder.nodes for p in n.preds] + [(outputs[0], "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": float(dt), "source": "mpe-psn"})


def write_nir(graph, path: "str | os.PathLike[str]") -> None:
    """Write ``graph`` to ``path`` (HDF5, NIR's file format) atomically: no half file on failure."""
    import nir

    buffer = io.BytesIO()
    nir.write(buffer, graph)
    atomic_write_bytes(path, buffer.getvalue())
