"""A trained checkpoint written as a file another toolchain reads (``mpe-psn export``).

:data:`FORMATS` maps each format to its writer; a writer takes the loaded network, its model
arguments, the output path and the format's own options, and returns the line that says what
it wrote. Options that belong to the other format are an error before the checkpoint is read.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable

import torch

from mpe_psn.export.neuron_map import DEFAULT_DT
from mpe_psn.export.nir_export import to_nir, write_nir
from mpe_psn.export.onnx_export import to_onnx
from mpe_psn.models.checkpoint import load_model

__all__ = ["FORMATS", "export_checkpoint"]

#: ``writer(model, model_args, path, **options) -> what was written``; its keyword-only
#: parameters are the format's options
Writer = Callable[..., str]


def _write_nir(model, model_args: dict, path: str, *, dt: float | None = None, max_pool: str | None = None,
               fold_r: bool = False) -> str:
    graph = to_nir(model, dt=DEFAULT_DT if dt is None else dt, max_pool=max_pool or "spikes", fold_r=fold_r)
    write_nir(graph, path)
    neurons = sum(type(node).__name__ in ("LIF", "IF") for node in graph.nodes.values())
    return (f"wrote {path}: NIR graph of {model_args['name']} / {model_args['neuron']} with "
            f"{len(graph.nodes)} nodes ({neurons} LIF), dt = {graph.metadata['dt']:g} s")


def _write_onnx(model, model_args: dict, path: str, *, exact_lif: bool = False) -> str:
    example = torch.zeros(model.T, 2, *model.sample_shape())  # the graph takes any batch
    info = to_onnx(model, path, example, exact_lif=exact_lif)
    kind = "exact LIF (refined to T - 1)" if exact_lif else "expected estimator"
    return (f"wrote {path}: ONNX graph of {model_args['name']} / {model_args['neuron']}, {kind}, "
            f"T = {info['T']}, {info['nodes']} nodes, {info['bytes'] / 1e6:.2f} MB, no loop over time")


FORMATS: dict[str, Writer] = {"nir": _write_nir, "onnx": _write_onnx}

#: why an option of another format is refused
_FOREIGN = {"nir": "--exact-lif is an ONNX option; NIR always holds the exact LIF",
            "onnx": "--dt, --fold-r and --max-pool are NIR options"}


def _options(format: str) -> list[str]:
    parameters = inspect.signature(FORMATS[format]).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def export_checkpoint(checkpoint: "str | os.PathLike[str]", format: str, out: "str | os.PathLike[str]",
                      **options: Any) -> str:
    """Write the network of ``checkpoint`` (a file or a run folder) as ``format`` at ``out``; returns
    the line saying what was written. ``options`` are the format's (unset ones: None or False)."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {list(FORMATS)}")
    known = {key for name in FORMATS for key in _options(name)}
    if set(options) - known:
        raise ValueError(f"unknown export option(s) {sorted(set(options) - known)}; the formats take {sorted(known)}")
    given = {key: value for key, value in options.items() if value is not None and value is not False}
    if any(key not in _options(format) for key in given):
        raise ValueError(_FOREIGN[format])
    model, config = load_model(checkpoint)
    return FORMATS[format](model, config["model_args"], os.fspath(out), **given)
