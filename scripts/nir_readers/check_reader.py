"""Run one NIR reader on graphs exported by mpe-psn and save what it computes.

Runs INSIDE the reader's own virtual environment (made by ``setup_envs.sh``); it imports only
numpy, h5py, nir and the reader, never ``mpe_psn``, whose pins conflict with the readers'::

    .venv-nir/sinabs/bin/python scripts/nir_readers/check_reader.py sinabs WORK

``WORK`` is the folder ``compare.py`` filled: ``manifest.json`` (the graph files and how to
run them), ``inputs.npz`` (the input frames and, for each neuron layer, what entered its
``Affine``/``Conv2d`` when the project's exact LIF ran the whole graph). Writes
``WORK/<reader>.npz`` (every output, time-major ``[T, B, ...]``, channels first) and
``WORK/<reader>.json`` (versions, which node kinds the reader maps, every error). It never
patches the reader; where an older ``nir`` cannot read the file, a field it lacks is dropped
if all its values are 0 (``v_reset``), and that is recorded; any other unknown field is an
error.

Three runs per graph set:

* ``full``: the reader imports the whole graph and runs it (its output only).
* ``forced``: each neuron layer alone (``Input -> Affine/Conv2d -> LIF -> Output``), fed the
  exact input the project's LIF layer received, so a difference is that layer's alone.
* ``chain``: the layers of ``forced`` one after another, each fed the reader's own previous
  spikes; the nodes between them that are not a layer (SumPool2d, Threshold, Flatten, the
  final Affine) are computed here in numpy, exactly as NIR defines them.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

import numpy as np


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) < 600 else text[:600] + " ..."


# -- reading the file with whichever nir the reader pins ------------------------------------------

def load_graph(path: Path):
    """``(graph, notes)``: ``nir.read``, or, for a nir without some field, the file without it.

    A field is dropped only if every value of it is 0 (``v_reset`` = 0, which older NIR has
    no field for); anything else is an error.
    """
    import h5py
    import nir

    try:
        return nir.read(str(path)), []
    except TypeError as error:
        first = _error(error)
    from nir.serialization import hdf2dict

    with h5py.File(str(path), "r") as handle:
        tree = hdf2dict(handle["node"])
    notes: list[str] = [f"nir {_version('nir')} cannot read the file: {first}"]

    def strip(node: dict, name: str) -> None:
        if node.get("type") == "NIRGraph":
            for key, child in node["nodes"].items():
                strip(child, key)
            return
        while True:  # build a copy; on "unexpected keyword argument 'X'" drop X if it is all 0
            try:
                nir.dict2NIRNode(copy.deepcopy(node))
                return
            except TypeError as error:
                found = re.search(r"unexpected keyword argument '(\w+)'", str(error))
                if not found or found.group(1) not in node:
                    raise
                key = found.group(1)
            values = np.asarray(node[key])
            if values.dtype.kind not in "biuf" or np.any(values != 0):
                raise ValueError(f"node {name!r}: field {key!r} is not in nir {_version('nir')} and is not 0")
            del node[key]
            notes.append(f"dropped {node['type']}.{key} (all 0) from node {name!r}")

    strip(tree, "graph")
    return nir.dict2NIRNode(tree), notes


def chain_order(graph) -> list[str]:
    """The graph's nodes from input to output; the exported graphs are chains (checked)."""
    succ: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        succ.setdefault(src, []).append(dst)
    order, name = [], "input"
    while name != "output":
        nxt = succ.get(name, [])
        if len(nxt) != 1:
            raise ValueError(f"node {name!r} has {len(nxt)} successors; the chain run needs a chain")
        name = nxt[0]
        if name != "output":
            order.append(name)
    return order


# -- the NIR nodes between layers, in numpy (NIR's definitions, channels first) ------------------

def _pool_sum(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Sum over each window of x [N, C, H, W], zero padding."""
    (kh, kw), (sh, sw), (ph, pw) = (tuple(int(v) for v in np.broadcast_to(a, 2)) for a in (kernel, stride, padding))
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    h = (x.shape[2] - kh) // sh + 1
    w = (x.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (h, w), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            out += x[:, :, i:i + sh * h:sh, j:j + sw * w:sw]
    return out


def glue(node, x: np.ndarray) -> np.ndarray:
    """One stateless NIR node on x [T, B, ...]."""
    import nir

    T, B = x.shape[:2]
    flat = x.reshape((T * B,) + x.shape[2:]).astype(np.float64)
    if isinstance(node, nir.SumPool2d):
        out = _pool_sum(flat, node.kernel_size, node.stride, node.padding)
    elif isinstance(node, nir.AvgPool2d):
        out = _pool_sum(flat, node.kernel_size, node.stride, node.padding) / float(np.prod(node.kernel_size))
    elif isinstance(node, nir.Threshold):
        out = (flat > np.asarray(node.threshold)).astype(np.float64)
    elif isinstance(node, nir.Flatten):
        start = int(node.start_dim) + 1 if int(node.start_dim) >= 0 else int(node.start_dim)
        end = int(node.end_dim) + 1 if int(node.end_dim) >= 0 else flat.ndim + int(node.end_dim)
        out = flat.reshape(flat.shape[:start] + (-1,) + flat.shape[end + 1:])
    elif isinstance(node, (nir.Affine, nir.Linear)):
        out = flat @ np.asarray(node.weight, dtype=np.float64).T
        if isinstance(node, nir.Affine):
            out = out + np.asarray(node.bias, dtype=np.float64)
    else:
        raise ValueError(f"no numpy glue for {type(node).__name__}")
    return out.reshape((T, B) + out.shape[1:]).astype(np.float32)


# -- the readers ------------------------------------------------------------------------------------

class Reader:
    """What differs between readers: how a node is mapped, how a graph is run."""

    name = ""
    packages: tuple[str, ...] = ()

    def versions(self) -> dict[str, str | None]:
        return {p: _version(p) for p in ("nir", "nirtorch", "numpy", "torch", "jax", "flax") + self.packages}

    def map_node(self, node):
        """The reader's module for one node (None: the reader has none for it)."""
        raise NotImplementedError

    def run(self, graph, x: np.ndarray, dt: float) -> np.ndarray:
        """The graph's output for x [T, B, ...] (channels first), as [T, B, ...] (channels first)."""
        raise NotImplementedError


class Sinabs(Reader):
    name, packages = "sinabs", ("sinabs", "samna")

    def map_node(self, node):
        from sinabs.nir import _import_sinabs_module  # the reader's own per-node dispatch

        return _import_sinabs_module(node, batch_size=1, num_timesteps=1)

    def run(self, graph, x, dt):
        import torch
        from sinabs.nir import from_nir

        T, B = x.shape[:2]
        model = from_nir(graph, batch_size=B, num_timesteps=T)  # a fresh model: no state kept
        # sinabs' Squeeze layers take batch-major [B * T, ...]
        data = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1))).float().reshape((B * T,) + x.shape[2:])
        with torch.no_grad():
            out = model(data)
        if isinstance(out, tuple):
            out = out[0]
        out = out.detach().numpy().reshape((B, T) + tuple(out.shape[1:]))
        return np.swapaxes(out, 0, 1)


class Spyx(Reader):
    name, packages = "spyx", ("spyx",)

    def map_node(self, node):
        from flax import nnx
        from spyx.nir import _nir_node_to_spyx_module  # the reader's own per-node dispatch

        return _nir_node_to_spyx_module(node, nnx.Rngs(0))

    def run(self, graph, x, dt):
        import jax.numpy as jnp
        from spyx.nir import from_nir

        # spyx runs channels last: [T, B, C, H, W] -> [T, B, H, W, C]
        data = np.moveaxis(x, 2, -1) if x.ndim == 5 else x
        _, out = from_nir(graph, jnp.asarray(data, dtype=jnp.float32), dt=dt)
        out = np.asarray(out)
        return np.moveaxis(out, -1, 2) if out.ndim == 5 else out


class Rockpool(Reader):
    name, packages = "rockpool", ("rockpool",)

    def map_node(self, node):
        from rockpool.nn.modules.torch.nir import _convert_nir_to_rockpool  # the reader's own dispatch

        return _convert_nir_to_rockpool(node)

    def run(self, graph, x, dt):
        import torch
        from rockpool.nn.modules.torch.nir import from_nir

        model = from_nir(graph)  # first, so that the reader's own refusal is what is reported
        if x.ndim != 3:
            raise ValueError(f"rockpool modules take [batch, time, channels]; this input is {x.shape[2:]} per step")
        data = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1))).float()  # [B, T, N]
        with torch.no_grad():
            out = model(data)
        while isinstance(out, tuple):
            out = out[0]
        return np.swapaxes(out.detach().numpy(), 0, 1)


READERS = {r.name: r for r in (Sinabs(), Spyx(), Rockpool())}


# -- the runs ---------------------------------------------------------------------------------------

def node_kinds(reader: Reader, graph) -> dict[str, dict]:
    """For each node kind of the graph: which of its nodes the reader's per-node mapping takes
    (``accepted``: node names) and which it refuses (``refused``: node name -> error)."""
    kinds: dict[str, dict] = {}
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind in ("Input", "Output"):
            continue
        entry = kinds.setdefault(kind, {"accepted": [], "refused": {}, "modules": []})
        try:
            module = reader.map_node(node)
        except Exception as error:  # noqa: BLE001  (each reader raises its own kinds)
            entry["refused"][name] = _error(error)
            continue
        if module is None:
            entry["refused"][name] = "the reader maps this node to nothing (returns None)"
        else:
            entry["accepted"].append(name)
            if type(module).__name__ not in entry["modules"]:
                entry["modules"].append(type(module).__name__)
    return kinds


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in READERS:
        print(f"usage: check_reader.py {{{','.join(READERS)}}} WORK", file=sys.stderr)
        return 2
    reader, work = READERS[argv[0]], Path(argv[1])
    manifest = json.loads((work / "manifest.json").read_text())
    inputs = dict(np.load(work / "inputs.npz"))
    report: dict = {"reader": reader.name, "versions": reader.versions(), "python": sys.version.split()[0],
                    "sets": {}}
    arrays: dict[str, np.ndarray] = {}
    for set_name in manifest["readers"].get(reader.name, []):
        spec = manifest["sets"][set_name]
        dt = float(spec["dt"])
        entry: dict = {"load_notes": [], "errors": {}, "seconds": {}}
        report["sets"][set_name] = entry
        try:
            graph, notes = load_graph(work / spec["full"])
            entry["load_notes"] = notes
        except Exception as error:  # noqa: BLE001
            entry["errors"]["read"] = _error(error)
            continue
        entry["node_kinds"] = node_kinds(reader, graph)

        start = time.perf_counter()
        try:
            arrays[f"{set_name}/full/output"] = reader.run(graph, inputs["frames"], dt)
        except Exception as error:  # noqa: BLE001
            entry["errors"]["full"] = _error(error)
            entry["errors"]["full_traceback_tail"] = [  # file names from site-packages on, not this machine's paths
                re.sub(r'File "[^"]*(site-packages|scripts)/', r'File "\1/', line)
                for line in traceback.format_exc().strip().splitlines()[-3:]]
        entry["seconds"]["full"] = round(time.perf_counter() - start, 2)

        layers: dict = {}
        start = time.perf_counter()
        for layer, seg in spec["segments"].items():
            try:
                sub, _ = load_graph(work / seg["file"])
                layers[layer] = sub
                arrays[f"{set_name}/forced/{layer}"] = reader.run(sub, inputs[seg["input"]], dt)
            except Exception as error:  # noqa: BLE001
                entry["errors"][f"forced/{layer}"] = _error(error)
        entry["seconds"]["forced"] = round(time.perf_counter() - start, 2)

        start = time.perf_counter()
        try:
            value, skip = inputs["frames"], None
            for name in chain_order(graph):
                if name == skip:
                    continue
                by_weight = {seg["weight"]: layer for layer, seg in spec["segments"].items()}
                if name in by_weight:  # a layer: the reader runs it
                    layer = by_weight[name]
                    if layer not in layers:
                        raise ValueError(f"layer {layer!r} did not run alone (see forced/{layer})")
                    value = reader.run(layers[layer], value, dt)
                    arrays[f"{set_name}/chain/{layer}"] = value
                    skip = layer
                else:
                    value = glue(graph.nodes[name], value)
            arrays[f"{set_name}/chain/output"] = value
        except Exception as error:  # noqa: BLE001
            entry["errors"]["chain"] = _error(error)
        entry["seconds"]["chain"] = round(time.perf_counter() - start, 2)

    np.savez_compressed(work / f"{reader.name}.npz", **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    (work / f"{reader.name}.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"{reader.name}: {len(arrays)} arrays, errors: "
          f"{ {s: sorted(e['errors']) for s, e in report['sets'].items()} }")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
