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
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mpe_psn.export.neuron_map import DEFAULT_DT, lif_parameters
from mpe_psn.neurons import LIF, MPEPSN, PSN

__all__ = ["to_nir", "write_nir"]

_DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity, nn.AlphaDropout)
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)


@dataclass
class _Node:
    """A NIR node being built, with the torch module that computes it (for shapes)."""

    name: str
    layer: str  # the torch module's qualified name, for messages
    kind: str  # "affine", "conv", "neuron", "other"
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    make: object = None  # callable(input_shape) -> nir node, for the other kinds
    preds: list[str] = field(default_factory=list)


def _nir():
    import nir  # the optional dependency, imported where it is used

    return nir


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy().copy()


def _unsupported(name: str, module: nn.Module, why: str) -> ValueError:
    return ValueError(f"cannot export layer {name!r} ({type(module).__name__}) to NIR: {why}")


def _pair(value) -> np.ndarray:
    return np.array(value if isinstance(value, (tuple, list)) else (value, value), dtype=np.int64)


class _Builder:
    def __init__(self, dt: float, max_pool: str = "spikes") -> None:
        self.dt = dt
        self.max_pool = max_pool
        self.nodes: list[_Node] = []
        self.used: set[str] = {"input", "output"}

    def _key(self, layer: str) -> str:
        base = (layer or "layer").replace(".", "_")
        key, n = base, 1
        while key in self.used:
            n += 1
            key = f"{base}_{n}"
        self.used.add(key)
        return key

    def add(self, layer: str, kind: str, preds: list[str], **fields) -> str:
        node = _Node(self._key(layer), layer, kind, preds=list(preds), **fields)
        self.nodes.append(node)
        return node.name

    def last_if_foldable(self, preds: list[str], kinds: tuple[str, ...]) -> _Node | None:
        """The node ``preds`` points to if it is one of ``kinds`` and nothing else reads it yet."""
        if len(preds) != 1:
            return None
        node = next(n for n in self.nodes if n.name == preds[0]) if preds[0] != "input" else None
        if node is None or node.kind not in kinds:
            return None
        if any(preds[0] in other.preds for other in self.nodes):
            return None
        return node

    # -- one module ---------------------------------------------------------------------------
    def module(self, name: str, module: nn.Module, preds: list[str]) -> list[str]:
        """Add ``module`` fed by ``preds``; returns the names that feed what comes next."""
        from mpe_psn.export.nir_import import NIRNetwork, Scale, Step
        from mpe_psn.models.base import SpikingNetwork
        from mpe_psn.models.nets import VotingPool

        if isinstance(module, SpikingNetwork):
            return self.module(f"{name}.body" if name else "body", module.body, preds)
        if isinstance(module, NIRNetwork):
            return self.nir_network(name, module, preds)
        if isinstance(module, nn.Sequential):  # includes TimeMerged
            for child_name, child in module.named_children():
                preds = self.module(f"{name}.{child_name}" if name else child_name, child, preds)
            return preds
        if isinstance(module, _DROPPED) or type(module).__name__ in ("TimeSharedDropout",):
            return preds
        if isinstance(module, (MPEPSN, LIF)):
            return [self.neuron(name, module, preds)]
        if isinstance(module, nn.Linear):
            return [self.add(name, "affine", preds, weight=_np(module.weight),
                             bias=None if module.bias is None else _np(module.bias))]
        if isinstance(module, nn.Conv2d):
            if module.padding_mode != "zeros":
                raise _unsupported(name, module, f"padding_mode {module.padding_mode!r}; NIR pads with zeros")
            bias = np.zeros(module.out_channels, np.float32) if module.bias is None else _np(module.bias)
            conv = dict(stride=module.stride, padding=module.padding, dilation=module.dilation, groups=module.groups)
            return [self.add(name, "conv", preds, weight=_np(module.weight), bias=bias, make=conv)]
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return self.batch_norm(name, module, preds)
        if isinstance(module, VotingPool):
            target = self.last_if_foldable(preds, ("affine",))
            if target is None:
                raise _unsupported(name, module, "the voting average must follow a Linear layer to be folded into it")
            out, votes = target.weight.shape[0] // module.votes, module.votes
            target.weight = target.weight.reshape(out, votes, -1).mean(1)
            if target.bias is not None:
                target.bias = target.bias.reshape(out, votes).mean(1)
            return preds
        if isinstance(module, nn.Flatten):
            if module.start_dim == 0:
                raise _unsupported(name, module, "start_dim 0 flattens the batch; NIR's Flatten keeps it")
            shift = lambda d: d - 1 if d > 0 else d  # noqa: E731  (NIR counts dims without the batch)
            start, end = shift(module.start_dim), shift(module.end_dim)
            return [self.add(name, "other", preds, make=lambda shape: _nir().Flatten(
                np.array(shape), start_dim=start, end_dim=end))]
        if isinstance(module, nn.AvgPool2d):
            if module.ceil_mode or module.divisor_override is not None:
                raise _unsupported(name, module, "ceil_mode and divisor_override have no NIR equivalent")
            k, s, p = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), _pair(module.padding)
            return [self.add(name, "other", preds, make=lambda shape: _nir().AvgPool2d(k, s, p))]
        if type(module).__name__ == "SumPool2d":  # ours (from_nir) or e.g. sinabs' layer
            k = _pair(module.kernel_size)
            s = _pair(getattr(module, "stride", None) or module.kernel_size)
            p = _pair(getattr(module, "padding", 0) or 0)
            return [self.add(name, "other", preds, make=lambda shape: _nir().SumPool2d(k, s, p))]
        if isinstance(module, nn.AdaptiveAvgPool2d):
            return [self.add(name, "adaptive", preds, make=module)]
        if isinstance(module, Step):
            theta = float(module.threshold)
            return [self.add(name, "threshold", preds, make=theta)]
        if isinstance(module, Scale):
            factors = _np(module.scale)
            return [self.add(name, "other", preds, make=lambda shape: _nir().Scale(
                np.broadcast_to(factors, shape).astype(np.float32)))]
        if isinstance(module, nn.MaxPool2d) and self.max_pool == "spikes":
            return self.max_pool_on_spikes(name, module, preds)
        if isinstance(module, _MAX_POOLS):
            raise _unsupported(name, module, "NIR has no max pooling (only AvgPool2d and SumPool2d); only a "
                                             "MaxPool2d right after a neuron is written, as SumPool2d + Threshold "
                                             "(max_pool='spikes', the default); train with nn.AvgPool2d otherwise")
        if isinstance(module, PSN):
            raise _unsupported(name, module, "the PSN mixes all T steps with a T x T matrix; no NIR neuron does that")
        if type(module).__name__ == "BasicBlock" and all(
                hasattr(module, part) for part in ("conv1", "neuron1", "conv2", "shortcut", "neuron2")):
            return self.residual_block(name, module, preds)
        raise _unsupported(name, module, "not a supported layer (Linear, Conv2d, BatchNorm, Flatten, AvgPool2d, "
                                         "SumPool2d, Dropout, MPEPSN, LIF in an nn.Sequential)")

    def max_pool_on_spikes(self, name: str, module: nn.Module, preds: list[str]) -> list[str]:
        """On spikes (0 or 1) a max pool is ``1[sum over the window > 0.5]``: SumPool2d + Threshold, exact."""
        fed_by = [n for n in self.nodes if n.name in preds]
        if len(preds) != 1 or len(fed_by) != 1 or fed_by[0].kind != "neuron":
            raise _unsupported(name, module, "NIR has no max pooling; a max pool is written exactly (as SumPool2d + "
                                             "Threshold) only where its input is spikes, i.e. right after a neuron, "
                                             "and this one is not; train with nn.AvgPool2d here")
        if module.ceil_mode or _pair(module.dilation).tolist() != [1, 1]:
            raise _unsupported(name, module, "ceil_mode and dilation have no NIR SumPool2d equivalent")
        k, p = _pair(module.kernel_size), _pair(module.padding)
        s = _pair(module.stride if module.stride is not None else module.kernel_size)
        pooled = self.add(f"{name}.sum", "other", preds, make=lambda shape: _nir().SumPool2d(k, s, p))
        return [self.add(f"{name}.any", "threshold", [pooled], make=0.5)]

    def residual_block(self, name: str, module: nn.Module, preds: list[str]) -> list[str]:
        """``neuron2(conv2(neuron1(conv1(x))) + shortcut(x))``: two edges into neuron2, which NIR sums."""
        main = self.module(f"{name}.conv1", module.conv1, preds)
        main = self.module(f"{name}.neuron1", module.neuron1, main)
        main = self.module(f"{name}.conv2", module.conv2, main)
        shortcut = self.module(f"{name}.shortcut", module.shortcut, preds)
        return self.module(f"{name}.neuron2", module.neuron2, main + shortcut)

    def neuron(self, name: str, module: nn.Module, preds: list[str]) -> str:
        meta = {"dt": float(self.dt), "mpe_psn_neuron": type(module).__name__, "mpe_psn_tau": float(module.tau)}
        if isinstance(module, MPEPSN):
            meta.update(mpe_psn_estimator=module.eval_estimator, mpe_psn_refine_steps=int(module.refine_steps))
        threshold = _np(module.threshold)
        return self.add(name, "neuron", preds, make=(float(module.tau), threshold, meta))

    def batch_norm(self, name: str, module: nn.Module, preds: list[str]) -> list[str]:
        target = self.last_if_foldable(preds, ("affine", "conv"))
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

    def nir_network(self, name: str, network, preds: list[str]) -> list[str]:
        """A network imported with ``from_nir``: its own graph, node by node."""
        outputs: dict[str, list[str]] = {network.input_name: preds}
        for key, node_name, node_preds in network.plan:
            incoming = [p for pred in node_preds for p in outputs[pred]]
            outputs[node_name] = self.module(f"{name}.layers.{key}" if name else key, network.layers[key], incoming)
        return [p for pred in network.output_pred for p in outputs[pred]]


def _infer(nodes: list[_Node], input_shape: tuple[int, ...]):
    """Finish the NIR nodes in order, running a probe through each to know every shape."""
    import nir

    shapes: dict[str, tuple[int, ...]] = {"input": tuple(input_shape)}
    finished = {}
    for node in nodes:
        in_shapes = {shapes[p] for p in node.preds}
        if len(in_shapes) != 1:
            raise ValueError(f"layer {node.layer!r} adds inputs of different shapes {sorted(in_shapes)}")
        shape = in_shapes.pop()
        probe = torch.zeros((1, *shape))
        if node.kind == "affine":
            if shape[-1:] != (node.weight.shape[1],):
                raise ValueError(f"layer {node.layer!r} expects {node.weight.shape[1]} input features, gets shape {shape}")
            out = (*shape[:-1], node.weight.shape[0])
            finished[node.name] = (nir.Linear(node.weight) if node.bias is None
                                   else nir.Affine(node.weight, node.bias.astype(np.float32)))
        elif node.kind == "conv":
            if len(shape) != 3 or shape[0] != node.weight.shape[1] * node.make["groups"]:
                raise ValueError(f"layer {node.layer!r} (Conv2d) expects [{node.weight.shape[1]}, H, W] inputs, gets shape {shape}")
            out = tuple(torch.nn.functional.conv2d(probe, torch.from_numpy(node.weight), None, **node.make).shape[1:])
            finished[node.name] = nir.Conv2d(input_shape=shape[1:], weight=node.weight, bias=node.bias.astype(np.float32),
                                             **node.make)
        elif node.kind == "neuron":
            tau, threshold, meta = node.make
            params = lif_parameters(tau, np.broadcast_to(threshold, shape).copy(), float(meta["dt"]))
            if "r_folded_into_weights" in meta:
                params["r"] = np.ones_like(params["r"])
            finished[node.name] = (nir.IF if tau == 1.0 else nir.LIF)(**params, metadata=meta)
            out = shape
        elif node.kind == "threshold":
            finished[node.name] = nir.Threshold(np.full(shape, node.make, dtype=np.float32))
            out = shape
        elif node.kind == "adaptive":
            module = node.make
            size = _pair(module.output_size)
            if len(shape) != 3 or any(s is None or shape[1 + i] % int(s) for i, s in enumerate(size)):
                raise ValueError(f"layer {node.layer!r} (AdaptiveAvgPool2d) maps {shape[1:]} to {tuple(size)}, "
                                 f"which is not an even average pooling")
            k = np.array([shape[1] // size[0], shape[2] // size[1]])
            finished[node.name] = nir.AvgPool2d(k, k, np.array([0, 0]))
            out = (shape[0], int(size[0]), int(size[1]))
        else:
            built = node.make(shape)
            finished[node.name] = built
            if isinstance(built, nir.Flatten):
                out = tuple(int(v) for v in built.output_type["output"])
            elif isinstance(built, nir.Scale):
                out = shape
            else:  # pooling: compute with torch
                pool = torch.nn.functional.avg_pool2d
                out = tuple(pool(probe, tuple(built.kernel_size), tuple(built.stride), tuple(built.padding)).shape[1:])
        if isinstance(finished[node.name], (nir.AvgPool2d, nir.SumPool2d)):
            finished[node.name].input_type = {"input": np.array(shape)}
            finished[node.name].output_type = {"output": np.array(out)}
        shapes[node.name] = tuple(int(v) for v in out)
    return finished, shapes


def _fold_r(nodes: list[_Node]) -> None:
    """Write r = 1 and scale the layer feeding each neuron by r instead (same neuron, for readers ignoring r)."""
    for node in nodes:
        if node.kind != "neuron":
            continue
        tau = node.make[0]
        pred = next((n for n in nodes if len(node.preds) == 1 and n.name == node.preds[0]), None)
        readers = [n for n in nodes if pred is not None and pred.name in n.preds]
        if pred is None or pred.kind not in ("affine", "conv") or readers != [node]:
            raise ValueError(f"fold_r: neuron layer {node.layer!r} is not fed by a Linear or Conv2d of its own, "
                             f"so its input scale r cannot be folded into weights; export with fold_r=False")
        r = 1.0 / (1.0 - tau) if tau < 1.0 else 1.0 / node.make[2]["dt"]
        pred.weight = pred.weight * np.float32(r)
        pred.bias = None if pred.bias is None else pred.bias * np.float32(r)
        node.make[2]["r_folded_into_weights"] = float(r)


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

    from mpe_psn.export.nir_import import NIRNetwork
    from mpe_psn.models.base import SpikingNetwork

    if not isinstance(model, nn.Module):
        raise TypeError(f"to_nir takes an nn.Module, got {type(model).__name__}")
    if max_pool not in ("error", "spikes"):
        raise ValueError(f"max_pool must be 'error' or 'spikes', got {max_pool!r}")
    builder = _Builder(float(dt), max_pool)
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
    finished, shapes = _infer(builder.nodes, tuple(int(s) for s in input_shape))
    if len(outputs) != 1:
        raise ValueError(f"the network ends in {len(outputs)} branches ({outputs}); NIR export needs one output")
    nodes = {"input": nir.Input(np.array(input_shape)), **finished, "output": nir.Output(np.array(shapes[outputs[0]]))}
    edges = [(p, n.name) for n in builder.nodes for p in n.preds] + [(outputs[0], "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": float(dt), "source": "mpe-psn"})


def write_nir(graph, path: "str | os.PathLike[str]") -> None:
    """Write ``graph`` to ``path`` (HDF5, NIR's file format) atomically: no half file on failure."""
    import io

    import nir

    from mpe_psn.utils.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    nir.write(buffer, graph)
    atomic_write_bytes(path, buffer.getvalue())
