"""Export a network to ONNX as one graph over all T time steps, with no loop over time.

MPE-PSN is parallel in time, so its inference graph is a fixed set of tensor operations on
[T, B, ...]: a sigmoid for the estimate, a shift, an add and a compare. With
``exact_lif=True`` every ``MPEPSN`` runs ``refine_steps = T - 1`` correction passes, which is
the exact LIF, still as T - 1 unrolled parallel passes (no Loop or Scan node). A ``LIF``
layer is unrolled step by step by the exporter (T small graphs in a row).

The network is exported in eval mode with the deterministic ``"expected"`` estimator and the
reference (pure PyTorch) path of every neuron; ``model`` itself is not changed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings

import torch
from torch import nn

from mpe_psn.neurons import MPEPSN, configure, set_step_mode
from mpe_psn.utils.atomic import atomic_write_bytes

__all__ = ["to_onnx", "prepare_for_export", "LOOP_OPS"]

#: ONNX operators that loop; a parallel export must contain none of them.
LOOP_OPS = frozenset({"Loop", "Scan", "If"})


def prepare_for_export(model: nn.Module, T: int, exact_lif: bool = False) -> nn.Module:
    """A copy of ``model`` in eval mode and step mode ``"m"``, every MPE-PSN on the reference path
    with the expected estimator."""
    model = copy.deepcopy(model).eval()
    exact = {"refine_steps": max(T - 1, 0)} if exact_lif else {}
    configure(model, MPEPSN, eval_estimator="expected", backend="reference", **exact)
    return set_step_mode(model, "m")  # the graph is the multi-step call


def to_onnx(model: nn.Module, path: "str | os.PathLike[str]", example_input: torch.Tensor, *,
            exact_lif: bool = False, dynamic_batch: bool = True, opset: int | None = None,
            dynamo: bool = True) -> dict:
    """Write ``model`` as an ONNX file at ``path`` (atomically); returns a short summary.

    Args:
        model: a network on time-major input [T, B, ...] (this project's networks, a network
            from :func:`~mpe_psn.export.from_nir`, or any module of supported ops).
        example_input: one input batch [T, B, ...]; fixes T (and the sample shape) of the graph.
        exact_lif: export MPE-PSN refined to T - 1 passes, i.e. the exact LIF (still loop-free).
        dynamic_batch: let the batch dimension (dim 1) vary in the ONNX graph.
        opset: ONNX opset version (default: the exporter's).
        dynamo: PyTorch's ``torch.export``-based exporter (the default), or with ``False`` the
            older TorchScript tracer: about ten times faster to export, but it bakes the example's
            batch size into the graph (so it needs ``dynamic_batch=False``), and recent PyTorch
            marks it deprecated. Both unroll every time loop.

    Returns ``{"path", "bytes", "nodes", "ops", "T", "exact_lif"}``.
    """
    import onnx

    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 2:
        raise ValueError("example_input must be a tensor [T, B, ...] (time-major), got "
                         f"{getattr(example_input, 'shape', type(example_input).__name__)}")
    T = int(example_input.shape[0])
    device = next(model.parameters(), torch.zeros(())).device
    prepared = prepare_for_export(model, T, exact_lif)
    example = example_input.to(device=device, dtype=torch.float32)
    kwargs = {"input_names": ["frames"], "output_names": ["output"], "dynamo": dynamo, "verbose": False}
    if opset is not None:
        kwargs["opset_version"] = opset
    if dynamic_batch and not dynamo:
        raise ValueError("dynamo=False (the TorchScript tracer) bakes the example's batch size into the graph; "
                         "pass dynamic_batch=False with it, or keep dynamo=True")
    if dynamic_batch:
        kwargs["dynamic_shapes"] = ({1: torch.export.Dim("batch", min=1)},)
        if example.shape[1] == 1:  # torch.export specialises a size of 1 to a constant
            example = example.expand(example.shape[0], 2, *example.shape[2:]).contiguous()
    buffer = io.BytesIO()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shape checks traced as constants, deprecation notes: expected here
        program = torch.onnx.export(prepared, (example,), None if dynamo else buffer, **kwargs)
    proto = program.model_proto if dynamo else onnx.load_from_string(buffer.getvalue())
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[1]
    if dynamic_batch and not batch_dim.dim_param:
        raise RuntimeError(f"the exporter fixed the batch size to {batch_dim.dim_value}; export with dynamic_batch=False")
    loops = sorted({node.op_type for node in proto.graph.node} & LOOP_OPS)
    if loops:  # not expected: every time loop here is unrolled at export
        raise RuntimeError(f"the exported graph loops over time ({loops}); please report this network")
    data = onnx._serialize(proto) if hasattr(onnx, "_serialize") else proto.SerializeToString()
    atomic_write_bytes(path, data)
    return {"path": os.fspath(path), "bytes": len(data), "nodes": len(proto.graph.node),
            "ops": sorted({node.op_type for node in proto.graph.node}), "T": T, "exact_lif": exact_lif}
