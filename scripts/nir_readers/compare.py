"""Compare other NIR readers (Sinabs, Spyx, Rockpool, Lava-dl) with this project's exact LIF.

Runs in the project's environment::

    bash scripts/nir_readers/setup_envs.sh                       # once: .venv-nir/<reader>
    .venv/bin/mpe-psn train --epochs 2 --out runs --name small
    .venv/bin/python scripts/nir_readers/compare.py --run runs/small \
        --out docs/data/nir-readers-2026-12-04.json

What it does:

1. exports the trained run with ``mpe-psn export RUN --format nir`` (the user's command);
2. takes the first ``--samples`` samples of the built-in test split and runs the exported graph
   with the project's exact LIF (``from_nir(graph, neuron="lif")``), keeping every node's output;
3. writes, for each neuron layer, a graph of that layer alone (``Input -> Affine/Conv2d -> LIF
   -> Output``) and the input it saw, plus reader-specific variants of the graph where a reader
   needs a different (equivalent) one, and runs ``check_reader.py`` in each reader's
   environment (``.venv-nir/<reader>/bin/python``; a reader without one is reported as such);
4. compares every layer's spikes and the output with the exact LIF, and compares each reader's
   spikes with a small model of that reader's documented semantics (written here, from its
   equations), to tell whether a mismatch is explained by those semantics;
5. measures the deployment gap of chip-style neurons (8-bit weights, no leak, subtractive
   reset) on the whole test split with a small independent NIR interpreter (checked against
   the project's exact LIF first);
6. writes everything to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
READERS = ("sinabs", "spyx", "rockpool", "lava-dl")
#: the graph sets each reader runs (see ``variants``)
READER_SETS = {"sinabs": ["exported", "one_value", "one_value_exp_decay"], "spyx": ["exported"],
               "rockpool": ["exported", "cuba"]}


# -- the reference: the project's exact LIF on the exported graph ---------------------------------

def reference_outputs(graph, frames: torch.Tensor) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every node's output [T, B, ...] and the logits of ``from_nir(graph, neuron="lif")``."""
    from mpe_psn.export import from_nir

    T, B = frames.shape[:2]
    net = from_nir(graph, neuron="lif", T=T).eval()
    seen: dict[str, np.ndarray] = {}

    def hook(name):
        def keep(module, args, out):
            seen[name] = out.detach().reshape((T, B) + tuple(out.shape[1 if out.shape[0] == T * B else 2:])).numpy()
        return keep

    handles = [net.layers[key].register_forward_hook(hook(name)) for key, name, _ in net.plan]
    with torch.no_grad():
        logits = net(frames).numpy()
    for handle in handles:
        handle.remove()
    return seen, logits


def neuron_layers(graph) -> dict[str, str]:
    """``{neuron node: the Affine/Conv2d node feeding it}`` for every LIF/IF node."""
    import nir

    preds: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        preds.setdefault(dst, []).append(src)
    layers = {}
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.LIF, nir.IF)):
            (weight,) = preds[name]
            if not isinstance(graph.nodes[weight], (nir.Affine, nir.Linear, nir.Conv2d)):
                raise ValueError(f"neuron {name!r} is fed by {type(graph.nodes[weight]).__name__}, not a weight layer")
            layers[name] = weight
    return layers


def _pred(graph, name: str) -> str:
    (src,) = [s for s, d in graph.edges if d == name]
    return src


def segment(graph, weight: str, neuron: str, in_shape: tuple[int, ...]):
    """``Input -> weight -> neuron -> Output``, a graph of one layer."""
    import nir

    nodes = {"input": nir.Input(np.array(in_shape)), weight: copy.deepcopy(graph.nodes[weight]),
             neuron: copy.deepcopy(graph.nodes[neuron]),
             "output": nir.Output(np.array(graph.nodes[neuron].output_type["output"]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", weight), (weight, neuron), (neuron, "output")],
                        metadata=dict(graph.metadata or {}))


def variants(graph) -> dict[str, tuple[object, float, str]]:
    """``{set name: (graph, dt the reader is told, what changed)}``.

    * ``exported``: the file as ``mpe-psn export`` writes it (forward Euler at dt = 1e-4 s).
    * ``one_value``: every LIF parameter written as one value per layer (shape ``(1,)``), which
      is what this project's neurons hold; Sinabs 3.1.3 cannot read a LIF whose parameters
      have more than one dimension (``any(node.v_leak)`` on a [C, H, W] array).
    * ``one_value_exp_decay``: the same, with ``tau`` rewritten to ``-1 / ln(decay)`` for
      readers that take ``tau`` in time steps and decay by ``exp(-1/tau)`` per step (Sinabs), so
      that the per-step decay is the project's ``tau``; Sinabs ignores ``r`` and adds the input
      unscaled, which is the project's input scale 1.
    * ``cuba``: for readers that read ``CubaLIF`` but not ``LIF`` (Rockpool): each ``LIF`` as a
      ``CubaLIF`` whose synaptic current forgets within a step in Rockpool's discretisation
      (``exp(-dt/tau_syn)`` = 1e-3, the weights before it scaled by 1e3 to undo that factor;
      1e-3 of each input leaks into the next step: a near-, not an exact, equivalent).
    """
    import nir

    dt = float(graph.metadata["dt"])

    def rewritten(exp_decay: bool):
        new = copy.deepcopy(graph)
        for node in new.nodes.values():
            if not isinstance(node, nir.LIF):
                continue
            if exp_decay:
                node.tau = (-1.0 / np.log(1.0 - dt / np.asarray(node.tau, np.float64))).astype(np.float32)
            for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
                values = np.asarray(getattr(node, field), np.float32).reshape(-1)
                if not np.allclose(values, values[0]):
                    raise ValueError(f"{field} differs within a layer; no one-value graph")
                setattr(node, field, values[:1].copy())
        if exp_decay:
            new.metadata = dict(new.metadata, dt=1.0)
        return new

    cuba = copy.deepcopy(graph)
    syn = 1e-3
    for name, weight in neuron_layers(graph).items():
        node = cuba.nodes[name]
        if not isinstance(node, nir.LIF):
            continue
        decay = 1.0 - dt / np.asarray(node.tau, np.float64)
        tau_mem = -dt / np.log(decay)
        # Rockpool reads its dt back as min(tau_mem / (1 + r)): choose r so that this is dt
        r = tau_mem / dt - 1.0
        cuba.nodes[name] = nir.CubaLIF(
            tau_syn=np.full(node.tau.shape, -dt / math.log(syn), np.float32), tau_mem=tau_mem.astype(np.float32),
            r=r.astype(np.float32), v_leak=np.zeros(node.tau.shape, np.float32),
            v_threshold=np.asarray(node.v_threshold, np.float32), w_in=np.ones(node.tau.shape, np.float32),
            metadata=dict(node.metadata))
        w = cuba.nodes[weight]
        w.weight = (np.asarray(w.weight) / syn).astype(np.float32)
        if getattr(w, "bias", None) is not None:
            w.bias = (np.asarray(w.bias) / syn).astype(np.float32)
    return {"exported": (graph, dt, "as written by mpe-psn export"),
            "one_value": (rewritten(False), dt, "LIF parameters as one value per layer, shape (1,)"),
            "one_value_exp_decay": (rewritten(True), 1.0, "one value per layer; tau = -1/ln(decay) in time steps "
                                                           "(exponential decay at dt = 1 step)"),
            "cuba": (cuba, dt, "each LIF as a CubaLIF with exp(-dt/tau_syn) = 1e-3 and the weights before it x 1e3")}


# -- small models of each reader's documented neuron, from its equations --------------------------

def _current(graph, weight: str, x: np.ndarray) -> torch.Tensor:
    """The weight layer of ``graph`` on x [T, B, ...] (float32, as the readers compute it)."""
    import nir

    node = graph.nodes[weight]
    T, B = x.shape[:2]
    flat = torch.from_numpy(np.ascontiguousarray(x)).float().flatten(0, 1)
    w = torch.from_numpy(np.asarray(node.weight, np.float32))
    bias = None if isinstance(node, nir.Linear) else torch.from_numpy(np.asarray(node.bias, np.float32))
    if isinstance(node, nir.Conv2d):
        out = torch.nn.functional.conv2d(flat, w, bias, tuple(int(s) for s in np.broadcast_to(node.stride, 2)),
                                         tuple(int(p) for p in np.broadcast_to(node.padding, 2)),
                                         tuple(int(d) for d in np.broadcast_to(node.dilation, 2)), int(node.groups))
    else:
        out = torch.nn.functional.linear(flat, w, bias)
    return out.unflatten(0, (T, B))


def neuron_steps(current: torch.Tensor, decay, theta, *, reset: str = "zero", multi: str | None = None,
                 delayed: bool = False) -> torch.Tensor:
    """A discrete LIF over current [T, ...]: ``v <- decay * v + I``, a spike when ``v > theta``.

    ``reset``: ``"zero"`` (this project) or ``"subtract"`` (v -= spikes * theta).
    ``multi``: ``None`` (one spike at most), ``"trunc"`` (Sinabs: ``trunc(v / theta)`` spikes
    where ``v > 0``), ``"floor"`` (Rockpool: ``floor(v / theta)`` where ``v >= theta``).
    ``delayed``: Spyx's order: the spike of step t is decided on the potential of step t - 1
    (``s = 1[v - theta > 0]``, then ``v <- decay * v + I - s * theta``).
    """
    decay = torch.as_tensor(decay, dtype=current.dtype)
    theta = torch.as_tensor(theta, dtype=current.dtype)
    v = torch.zeros_like(current[0])
    spikes = []
    for x_t in current:
        if delayed:
            s = (v - theta > 0).to(current.dtype)
            v = decay * v + x_t - s * theta
        else:
            v = decay * v + x_t
            if multi == "trunc":
                s = (v > 0) * torch.div(v, theta, rounding_mode="trunc")
            elif multi == "floor":
                s = (v >= theta) * torch.floor(v / theta)
            else:
                s = (v > theta).to(current.dtype)
            v = v - s * theta if reset == "subtract" else v * (1 - s)
        spikes.append(s)
    return torch.stack(spikes)


def reader_neuron(reader: str, set_name: str, node, current: torch.Tensor, dt: float) -> torch.Tensor | None:
    """What ``reader`` computes for one neuron node on current [T, ...], by its own equations
    (None: no model of that reader)."""
    theta = torch.from_numpy(np.asarray(node.v_threshold, np.float32))
    if reader == "sinabs":  # alpha = exp(-1/tau_mem), tau in steps; r ignored; MultiSpike; MembraneSubtract
        decay = torch.exp(-1.0 / torch.from_numpy(np.asarray(node.tau, np.float32)))
        return neuron_steps(current, decay, theta, reset="subtract", multi="trunc")
    if reader == "spyx":  # beta = clip(1 - dt/tau, 0, 1); r ignored; spike on the previous V; subtract
        beta = torch.clamp(1 - dt / torch.from_numpy(np.asarray(node.tau, np.float32)), 0, 1)
        return neuron_steps(current, beta, theta, delayed=True)
    if reader == "rockpool" and set_name == "cuba":
        # LIFTorch: isyn = (isyn + I) * exp(-dt/tau_syn); v = exp(-dt/tau_mem) v + isyn; floor spikes; subtract
        syn = torch.exp(-dt / torch.from_numpy(np.asarray(node.tau_syn, np.float32)))
        mem = torch.exp(-dt / torch.from_numpy(np.asarray(node.tau_mem, np.float32)))
        isyn, v, spikes = torch.zeros_like(current[0]), torch.zeros_like(current[0]), []
        for x_t in current:
            isyn = (isyn + x_t) * syn
            v = mem * v + isyn
            s = (v >= theta) * torch.floor(v / theta)
            v = v - s * theta
            spikes.append(s)
        return torch.stack(spikes)
    return None


# -- a small independent interpreter of the exported graph, for the deployment gap ---------------

def quantise(values: np.ndarray, step: float) -> np.ndarray:
    return (np.round(values / step) * step).astype(np.float32)


def interpret(graph, frames: torch.Tensor, *, leak: bool = True, reset: str = "zero", multi: str | None = None,
              weight_bits: int | None = None, neuron=None, drop_threshold: bool = False,
              flatten_channels_last: bool = False) -> torch.Tensor:
    """Logits [T, B, classes] of the chain ``graph`` on frames, with chip-style neurons.

    The exact LIF is ``leak=True, reset="zero"``: ``v <- (1 - dt/tau) v + (r dt/tau) I``,
    spike when ``v > v_threshold``, reset to 0 (NIR's LIF by forward Euler). ``leak=False``
    keeps no leak (IAF: decay 1, same threshold). ``weight_bits``: every Affine/Conv2d weight
    rounded to a signed grid of that many bits per layer (step = max|W| / (2^(bits-1) - 1)),
    its bias and the threshold of the neuron it feeds rounded to the same step (integers in
    weight units, as on a chip).

    To model a reader: ``neuron(node, current) -> spikes`` replaces every neuron,
    ``drop_threshold`` skips Threshold nodes, ``flatten_channels_last`` flattens [C, H, W] in
    (H, W, C) order (what a channels-last reader does).
    """
    import nir

    dt = float(graph.metadata["dt"])
    feeds = {w: n for n, w in neuron_layers(graph).items()}
    steps: dict[str, float] = {}
    value = frames
    T, B = frames.shape[:2]
    succ = dict(graph.edges)  # the exported graphs are chains
    order, name = [], "input"
    while succ[name] != "output":
        name = succ[name]
        order.append(name)
    for name in order:
        node = graph.nodes[name]
        flat = value.flatten(0, 1)
        if isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d)):
            w = np.asarray(node.weight, np.float32)
            b = None if isinstance(node, nir.Linear) else np.asarray(node.bias, np.float32)
            if weight_bits:
                step = float(np.abs(w).max()) / (2 ** (weight_bits - 1) - 1)
                w, b = quantise(w, step), None if b is None else quantise(b, step)
                if name in feeds:
                    steps[feeds[name]] = step
            wt, bt = torch.from_numpy(w), None if b is None else torch.from_numpy(b)
            if isinstance(node, nir.Conv2d):
                out = torch.nn.functional.conv2d(flat, wt, bt, tuple(int(s) for s in np.broadcast_to(node.stride, 2)),
                                                 tuple(int(p) for p in np.broadcast_to(node.padding, 2)),
                                                 tuple(int(d) for d in np.broadcast_to(node.dilation, 2)),
                                                 int(node.groups))
            else:
                out = torch.nn.functional.linear(flat, wt, bt)
            value = out.unflatten(0, (T, B))
        elif neuron is not None and isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            value = neuron(node, value)
        elif isinstance(node, (nir.LIF, nir.IF)):
            theta = np.asarray(node.v_threshold, np.float32)
            if isinstance(node, nir.LIF):
                tau_nir = np.asarray(node.tau, np.float64)
                decay, scale = 1.0 - dt / tau_nir, np.asarray(node.r, np.float64) * dt / tau_nir
            else:
                decay, scale = np.ones_like(theta, np.float64), np.asarray(node.r, np.float64) * dt
            if not np.allclose(scale, 1.0, rtol=1e-5):
                value = value * torch.from_numpy(scale.astype(np.float32))
            if name in steps:
                theta = quantise(theta, steps[name])
            decay = decay.astype(np.float32) if leak else np.ones_like(theta)
            value = neuron_steps(value, torch.from_numpy(decay), torch.from_numpy(theta), reset=reset, multi=multi)
        elif isinstance(node, nir.SumPool2d):
            k = tuple(int(v) for v in node.kernel_size)
            out = torch.nn.functional.avg_pool2d(flat, k, tuple(int(v) for v in node.stride),
                                                 tuple(int(v) for v in node.padding), divisor_override=1)
            value = out.unflatten(0, (T, B))
        elif isinstance(node, nir.Threshold) and drop_threshold:
            pass
        elif isinstance(node, nir.Threshold):
            value = (value > torch.from_numpy(np.asarray(node.threshold, np.float32))).float()
        elif isinstance(node, nir.Flatten) and flatten_channels_last and value.dim() == 5:
            value = value.permute(0, 1, 3, 4, 2).flatten(2)
        elif isinstance(node, nir.Flatten):
            end = int(node.end_dim)
            value = value.flatten(2 + int(node.start_dim), end if end < 0 else 2 + end)
        else:
            raise ValueError(f"the interpreter has no {type(node).__name__} ({name!r})")
    return value


# -- comparing -----------------------------------------------------------------------------------

def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.asarray(a, np.float64) == np.asarray(b, np.float64)))


def _outputs(logits: np.ndarray, ref_logits: np.ndarray, labels: np.ndarray) -> dict:
    ours, theirs = ref_logits.mean(0).argmax(-1), logits.mean(0).argmax(-1)
    return {"class_agreement": float(np.mean(ours == theirs)), "accuracy": float(np.mean(theirs == labels)),
            "max_abs_logit_difference": float(np.abs(logits - ref_logits).max())}


def compare_reader(reader: str, work: Path, report: dict, ref: dict, ref_logits: np.ndarray, labels: np.ndarray,
                   graphs: dict, layers: dict[str, str], inputs: dict[str, np.ndarray]) -> dict:
    arrays = dict(np.load(work / f"{reader}.npz"))
    result = {"versions": report["versions"], "python": report["python"], "sets": {}}
    for set_name, entry in report["sets"].items():
        graph, dt, _ = graphs[set_name]
        out: dict = {"load_notes": entry.get("load_notes", []), "node_kinds": entry.get("node_kinds", {}),
                     "errors": entry["errors"], "seconds": entry.get("seconds", {}), "layers": {}}
        for neuron, weight in layers.items():
            ref_spikes = ref[neuron]
            row: dict = {"spike_rate_exact_lif": float(ref_spikes.mean())}
            forced = arrays.get(f"{set_name}/forced/{neuron}")
            if forced is not None:
                row["forced_agreement"] = _agreement(forced, ref_spikes)
                row["reader_spike_rate"] = float(forced.mean())
                row["reader_values_above_1"] = float(np.mean(forced > 1))
                row["forced_agreement_spike_or_not"] = _agreement(forced > 0, ref_spikes > 0)
                model = reader_neuron(reader, set_name, graph.nodes[neuron],
                                      _current(graph, weight, inputs[f"in_{neuron}"]), dt)
                if model is not None:
                    row["forced_agreement_with_reader_semantics"] = _agreement(forced, model.numpy())
                    row["reader_semantics_agreement_with_exact_lif"] = _agreement(model.numpy(), ref_spikes)
                if reader == "spyx":  # its spikes are one step late: compare spike t with ours at t - 1
                    row["forced_agreement_shifted_one_step"] = _agreement(forced[1:], ref_spikes[:-1])
            chain = arrays.get(f"{set_name}/chain/{neuron}")
            if chain is not None:
                row["chain_agreement"] = _agreement(chain, ref_spikes)
            out["layers"][neuron] = row
        frames = torch.from_numpy(inputs["frames"])
        for mode in ("chain", "full"):
            logits = arrays.get(f"{set_name}/{mode}/output")
            if logits is None:
                continue
            if logits.shape != ref_logits.shape:
                out[f"{mode}_output"] = {"shape": list(logits.shape), "expected_shape": list(ref_logits.shape)}
                continue
            out[f"{mode}_output"] = _outputs(logits, ref_logits, labels)
            # the whole graph by the reader's own semantics (for "full": also its handling of the nodes
            # it maps differently: Spyx drops Threshold and flattens channels last)
            model_options = {"drop_threshold": True, "flatten_channels_last": True} if (
                mode == "full" and reader == "spyx") else {}
            if reader in ("sinabs", "spyx") or (reader, set_name) == ("rockpool", "cuba"):  # as reader_neuron
                with torch.no_grad():
                    model = interpret(graph, frames, **model_options,
                                      neuron=lambda node, cur: reader_neuron(reader, set_name, node, cur, dt)).numpy()
                out[f"{mode}_output"]["reader_semantics_model"] = {
                    "options": model_options,
                    "class_agreement_with_reader": _agreement(model.mean(0).argmax(-1), logits.mean(0).argmax(-1)),
                    "max_abs_logit_difference_to_reader": float(np.abs(model - logits).max()),
                }
        result["sets"][set_name] = out
    return result


def lava_dl_probe(venvs: Path) -> dict:
    """What setup_envs.sh found out about lava-dl (it is not installed: see the probe)."""
    probe = venvs / "lava-dl-probe.json"
    if probe.exists():
        return json.loads(probe.read_text())
    return {"status": "not probed (run setup_envs.sh)"}


def prepare(graph, frames: torch.Tensor, work: Path) -> dict:
    """Run the exact LIF on ``graph`` and write what the readers need into ``work``.

    Returns ``{"ref": node outputs, "ref_logits", "layers": {neuron: weight}, "graphs":
    variants(graph), "inputs": the arrays of inputs.npz}``.
    """
    import nir

    ref, ref_logits = reference_outputs(graph, frames)
    layers = neuron_layers(graph)
    graphs = variants(graph)
    inputs = {"frames": frames.numpy()}
    manifest: dict = {"T": int(frames.shape[0]), "samples": int(frames.shape[1]), "sets": {}, "readers": READER_SETS}
    for neuron, weight in layers.items():
        src = _pred(graph, weight)
        inputs[f"in_{neuron}"] = frames.numpy() if src == "input" else ref[src]
    for set_name, (g, dt, _) in graphs.items():
        spec = {"full": f"{set_name}.nir", "dt": dt, "segments": {}}
        nir.write(str(work / spec["full"]), g)
        for neuron, weight in layers.items():
            seg = segment(g, weight, neuron, inputs[f"in_{neuron}"].shape[2:])
            nir.write(str(work / f"{set_name}-{neuron}.nir"), seg)
            spec["segments"][neuron] = {"file": f"{set_name}-{neuron}.nir", "input": f"in_{neuron}", "weight": weight}
        manifest["sets"][set_name] = spec
    np.savez_compressed(work / "inputs.npz", **inputs)
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return {"ref": ref, "ref_logits": ref_logits, "layers": layers, "graphs": graphs, "inputs": inputs}


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or "cpu")
    return (f"{platform.machine()}, {os.cpu_count()} cores ({model}), torch with {torch.get_num_threads()} threads, "
            f"no GPU")


def reader_python(reader: str, venvs: Path) -> Path:
    return Path(venvs) / reader / "bin" / "python"


def run_reader(reader: str, work: Path, venvs: Path, timeout: float = 900) -> dict:
    """Run check_reader.py in the reader's environment: ``{"status": "ran", "report": ...}`` or why not."""
    python = reader_python(reader, venvs)
    if not python.exists():
        return {"status": f"no environment at {python} (run scripts/nir_readers/setup_envs.sh)"}
    proc = subprocess.run([str(python), str(HERE / "check_reader.py"), reader, str(work)], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0 or not (work / f"{reader}.json").exists():
        return {"status": f"check_reader.py failed ({proc.returncode})",
                "stderr_tail": proc.stderr.strip().splitlines()[-8:]}
    return {"status": "ran", "report": json.loads((work / f"{reader}.json").read_text())}


# -- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a trained run folder or checkpoint (mpe-psn train)")
    parser.add_argument("--out", default=str(ROOT / "docs/data/nir-readers-2026-12-04.json"))
    parser.add_argument("--work", default=None, help="folder for the graphs and arrays (default: a temp folder)")
    parser.add_argument("--venvs", default=str(ROOT / ".venv-nir"), help="where setup_envs.sh made the environments")
    parser.add_argument("--samples", type=int, default=128, help="test samples the readers run (default 128)")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--no-gap", action="store_true", help="skip the deployment-gap measurements")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per reader")
    args = parser.parse_args(argv)

    from mpe_psn.data.registry import build_dataset
    from mpe_psn.export import as_lif, read_nir
    from mpe_psn.models.checkpoint import load_model

    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="nir-readers-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    subprocess.run([sys.executable, "-m", "mpe_psn", "export", args.run, "--format", "nir",
                    "--out", str(work / "exported.nir")], check=True)
    graph = read_nir(work / "exported.nir")
    model, config = load_model(args.run)
    T = int(config["T"])
    test = build_dataset(config["dataset"], "test", T=T, size=config["input_size"], cache_dir=config["cache_dir"],
                         progress=False, **config["dataset_options"])
    count = min(args.samples, len(test))
    frames = torch.stack([test[i][0] for i in range(count)], dim=1)
    labels = np.array([test[i][1] for i in range(count)])

    with torch.no_grad():
        model_logits = as_lif(model).eval()(frames).numpy()
    case = prepare(graph, frames, work)
    ref, ref_logits, layers, graphs, inputs = (case[k] for k in ("ref", "ref_logits", "layers", "graphs", "inputs"))

    results: dict = {
        "date": "2026-12-04",
        "machine": _machine(),
        "python": platform.python_version(), "torch": torch.__version__, "nir": metadata.version("nir"),
        "run": {k: config.get(k) for k in ("dataset", "model", "neuron", "T", "input_size", "epochs", "seed", "tau",
                                           "estimator", "eval_estimator")},
        "T": T, "samples": count, "dt": float(graph.metadata["dt"]),
        "graph": {"nodes": {k: type(v).__name__ for k, v in graph.nodes.items()},
                  "edges": [list(e) for e in graph.edges]},
        "variants": {k: v[2] for k, v in graphs.items()},
        "reference": {
            "what": "from_nir(exported graph, neuron='lif'): the project's exact LIF",
            "accuracy": float(np.mean(ref_logits.mean(0).argmax(-1) == labels)),
            "class_agreement_with_trained_model_as_lif": float(np.mean(
                ref_logits.mean(0).argmax(-1) == model_logits.mean(0).argmax(-1))),
            "max_abs_logit_difference_to_trained_model_as_lif": float(np.abs(ref_logits - model_logits).max()),
            "spike_rates": {n: float(ref[n].mean()) for n in layers},
        },
        "readers": {},
    }
    venvs = Path(args.venvs)
    for reader in [r.strip() for r in args.readers.split(",") if r.strip()]:
        if reader == "lava-dl":
            results["readers"][reader] = {"status": "not run", "probe": lava_dl_probe(venvs)}
            continue
        t0 = time.time()
        status = run_reader(reader, work, venvs, args.timeout)
        if status["status"] != "ran":
            results["readers"][reader] = status
            continue
        report = status.pop("report")
        results["readers"][reader] = {**status, "seconds": round(time.time() - t0, 1),
                                      **compare_reader(reader, work, report, ref, ref_logits, labels, graphs, layers,
                                                       inputs)}
        print(f"{reader}: done in {time.time() - t0:.0f} s", flush=True)

    if not args.no_gap:
        results["deployment_gap"] = deployment_gap(graph, test, ref_logits, count, model)
    results["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out} ({results['seconds']} s); work folder {work}")
    return 0


def deployment_gap(graph, test, ref_logits: np.ndarray, checked: int, model=None) -> dict:
    """Accuracy on the whole test split of the exported graph with chip-style neurons.

    Each neuron keeps its trained threshold (nothing is re-tuned for the new neuron): the
    accuracy of mapping the trained network as it is.
    """
    from mpe_psn.export import as_lif
    modes = {
        "exact LIF (as exported)": {},
        "8-bit weights (per layer; bias, threshold on the same step)": {"weight_bits": 8},
        "no leak (IF, tau = 1), reset to 0": {"leak": False},
        "subtractive reset": {"reset": "subtract"},
        "subtractive reset, multi-spike (Sinabs' LIF with its decay set right)": {"reset": "subtract",
                                                                                  "multi": "trunc"},
        "no leak + subtractive reset (IAF)": {"leak": False, "reset": "subtract"},
        "no leak + subtractive reset + 8-bit weights": {"leak": False, "reset": "subtract", "weight_bits": 8},
    }
    frames = torch.stack([test[i][0] for i in range(len(test))], dim=1)
    labels = np.array([test[i][1] for i in range(len(test))])
    check = interpret(graph, frames[:, :checked]).numpy()
    out = {"samples": len(test), "what": "accuracy of the exported graph run by the interpreter in compare.py",
           "interpreter_vs_exact_lif": {"class_agreement": float(np.mean(check.mean(0).argmax(-1) ==
                                                                          ref_logits.mean(0).argmax(-1))),
                                        "max_abs_logit_difference": float(np.abs(check - ref_logits).max())},
           "accuracy": {}}
    for label, options in modes.items():
        with torch.no_grad():
            logits = torch.cat([interpret(graph, frames[:, i:i + 100], **options)
                                for i in range(0, frames.shape[1], 100)], 1)
        out["accuracy"][label] = float(np.mean(logits.mean(0).argmax(-1).numpy() == labels))
    if model is not None:  # the same number by the project's own code: the trained model as its exact LIF
        lif = as_lif(model).eval()
        with torch.no_grad():
            logits = torch.cat([lif(frames[:, i:i + 100]) for i in range(0, frames.shape[1], 100)], 1)
        out["project_as_lif_accuracy"] = float(np.mean(logits.mean(0).argmax(-1).numpy() == labels))
    return out


if __name__ == "__main__":
    sys.exit(main())
