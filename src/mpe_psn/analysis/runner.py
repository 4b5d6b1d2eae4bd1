"""What ``mpe-psn analyze`` does: load checkpoints, build their data, run, write, print.

Output files in ``--out``:

* ``<analysis>.json``: ``{"analysis", "created", "machine", "options", "runs": [{"label",
  "neuron", "checkpoint", "model", "dataset", "T", "split", "result"}]}`` where ``result``
  is the analysis function's dict (documented in each module and in docs/analyses.md);
* ``<analysis>.png``: the figure (all runs in one picture);
* landscape only: ``landscape-<label>.npz`` per run (float arrays alphas, betas, loss,
  accuracy; load with ``numpy.load(path, allow_pickle=False)``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
from pathlib import Path
from typing import Any

from mpe_psn.utils.atomic import atomic_write_json

__all__ = ["AnalysisError", "run_analysis", "load_run", "data_batches", "fidelity_curves"]


class AnalysisError(Exception):
    """A problem the user can fix (bad checkpoint, missing data, wrong option); message says how."""


def _machine() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    import os

    return f"{os.cpu_count()}-core CPU ({platform.machine()}), no GPU"


def load_run(path: str, device: str) -> tuple[Any, dict]:
    """``(model, config)`` of a checkpoint file or run folder, with an error that says what to do."""
    try:
        from mpe_psn.training import load_model
    except ImportError as error:  # pragma: no cover - training is part of every full install
        raise AnalysisError(f"loading checkpoints needs mpe_psn.training ({error})") from error
    try:
        return load_model(path, map_location=device)
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise AnalysisError(str(error)) from error


def data_batches(config: dict, args: argparse.Namespace):
    """The loader of the checkpoint's dataset split, with the CLI's overrides."""
    from mpe_psn.data import build_dataset, build_loader

    options = dict(config.get("dataset_options") or {})
    try:
        dataset = build_dataset(
            config["dataset"],
            args.split,
            root=args.data_dir or config.get("data_dir"),
            T=config.get("T"),
            size=config.get("input_size"),
            cache_dir=args.cache_dir or config.get("cache_dir"),
            **options,
        )
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise AnalysisError(f"cannot build the {args.split} split of dataset {config.get('dataset')!r}: {error}") from error
    batch_size = args.batch_size or int(config.get("batch_size") or 32)
    return build_loader(dataset, batch_size=batch_size, shuffle=False, device=str(args.device))


def _resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AnalysisError(f"--device {name}: CUDA is not available here; use --device cpu")
    return name


def _labels(args: argparse.Namespace, neurons: list[str], paths: list[str]) -> list[str]:
    if args.labels:
        if len(args.labels) != len(paths):
            raise AnalysisError(f"--labels has {len(args.labels)} labels for {len(paths)} checkpoints; give one per checkpoint")
        return list(args.labels)
    labels = list(neurons)
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            labels[i] = f"{label} ({Path(paths[i]).resolve().name})"
    return labels


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "run"


def _analyse(name: str, model, loader, args: argparse.Namespace) -> dict:
    from mpe_psn.analysis.energy import energy
    from mpe_psn.analysis.fidelity import fidelity
    from mpe_psn.analysis.landscape import loss_landscape
    from mpe_psn.analysis.refine import refinement_dial
    from mpe_psn.analysis.spike_rates import spike_rates

    progress = not args.no_progress
    if name == "fidelity":
        return fidelity(model, loader, max_batches=args.batches, estimator=args.estimator,
                                 refine_steps=args.refine_steps, seed=args.seed, progress=progress)
    if name == "spike-rates":
        return spike_rates(model, loader, max_batches=args.batches, progress=progress)
    if name == "energy":
        return energy(model, loader, max_batches=args.batches, progress=progress)
    if name == "landscape":
        return loss_landscape(model, loader, steps=args.grid, span=args.span,
                                       max_batches=args.batches if args.batches is not None else 4,
                                       lambda_mem=args.lambda_mem, seed=args.seed, progress=progress)
    if name == "refine":
        return refinement_dial(model, loader, steps=args.steps, max_batches=args.batches,
                                         repeats=args.repeats, progress=progress)
    raise AnalysisError(f"unknown analysis {name!r}")


def _options(args: argparse.Namespace) -> dict:
    keys = ("split", "batches", "batch_size", "seed", "estimator", "refine_steps", "grid", "span", "lambda_mem", "steps", "repeats")
    return {k: getattr(args, k) for k in keys if hasattr(args, k)}


def run_analysis(args: argparse.Namespace) -> int:
    """The command: returns the exit status; raises :class:`AnalysisError` for user errors."""
    from mpe_psn.analysis import plots, tables

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"--out {out} exists and is not a folder")
    if args.train:
        if args.analysis != "fidelity":
            raise AnalysisError("--train applies to 'fidelity' only (the per-epoch fidelity logged by training)")
        return _run_training_fidelity(args, out)
    if args.batches is not None and args.batches < 1:
        raise AnalysisError(f"--batches must be a positive int, got {args.batches}")
    device = _resolve_device(args.device)
    args.device = device

    runs, loaded = [], []
    for path in args.checkpoints:
        model, config = load_run(path, device)
        loaded.append((path, model, config))
    neurons = [str(c.get("neuron") or c.get("model_args", {}).get("neuron", "?")) for _, _, c in loaded]
    labels = _labels(args, neurons, [p for p, _, _ in loaded])
    for (path, model, config), label, neuron in zip(loaded, labels, neurons):
        loader = data_batches(config, args)
        try:
            result = _analyse(args.analysis, model, loader, args)
        except ValueError as error:
            raise AnalysisError(f"{path}: {error}") from error
        runs.append({
            "label": label,
            "neuron": neuron,
            "checkpoint": str(path),
            "model": config.get("model"),
            "dataset": config.get("dataset"),
            "T": config.get("T"),
            "split": args.split,
            "result": result,
        })

    out.mkdir(parents=True, exist_ok=True)
    document = {
        "analysis": args.analysis,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "options": _options(args),
        "runs": runs,
    }
    stem = args.analysis
    atomic_write_json(out / f"{stem}.json", document)
    triples = [(r["label"], r["neuron"], r["result"]) for r in runs]
    draw = {
        "fidelity": plots.plot_fidelity,
        "spike-rates": plots.plot_spike_rates,
        "energy": plots.plot_energy,
        "landscape": plots.plot_landscape,
        "refine": plots.plot_refinement,
    }[args.analysis]
    draw(triples, out / f"{stem}.png")
    written = [out / f"{stem}.json", out / f"{stem}.png"]
    if args.analysis == "landscape":
        from mpe_psn.analysis.landscape import save_landscape_npz

        for r in runs:
            path = out / f"landscape-{_safe_name(r['label'])}.npz"
            save_landscape_npz(path, r["result"])
            written.append(path)
    print(tables.table(args.analysis, triples))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def fidelity_curves(run_dir: "str | Path") -> dict:
    """Per-epoch fidelity logged by training in ``<run_dir>/metrics.jsonl`` (rows with a
    ``"fidelity"`` object, as written by :func:`mpe_psn.analysis.fidelity.fidelity_summary`)."""
    path = Path(run_dir)
    metrics = path / "metrics.jsonl" if path.is_dir() else path
    if not metrics.is_file():
        raise AnalysisError(f"{metrics} not found: --train needs a run folder with metrics.jsonl")
    epochs, v_hat, mismatch = [], [], []
    for i, line in enumerate(metrics.read_text(encoding="utf-8").splitlines()):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line after a crash
        fid = row.get("fidelity") if isinstance(row, dict) else None
        if not isinstance(fid, dict):
            continue
        epochs.append(row.get("epoch", i))
        v_hat.append(float(fid["v_hat_mse"]))
        mismatch.append(float(fid["spike_mismatch"]))
    if not epochs:
        raise AnalysisError(
            f"{metrics} has no per-epoch 'fidelity' entries; train with fidelity logging on "
            "(see docs/analyses.md, 'fidelity during training')"
        )
    return {"epoch": epochs, "v_hat_mse": v_hat, "spike_mismatch": mismatch}


def _run_label(run_dir: Path) -> tuple[str, str]:
    config_path = run_dir / "config.json" if run_dir.is_dir() else run_dir.parent / "config.json"
    neuron, label = "mpe", run_dir.name
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            neuron = str(config.get("neuron", neuron))
            label = f"{neuron}, lambda_mem={config.get('lambda_mem')}"
        except (json.JSONDecodeError, AttributeError):
            pass
    return label, neuron


def _run_training_fidelity(args: argparse.Namespace, out: Path) -> int:
    from mpe_psn.analysis import plots

    curves = []
    for i, path in enumerate(args.checkpoints):
        label, neuron = _run_label(Path(path))
        if args.labels:
            if len(args.labels) != len(args.checkpoints):
                raise AnalysisError(f"--labels has {len(args.labels)} labels for {len(args.checkpoints)} run folders")
            label = args.labels[i]
        curves.append({"label": label, "neuron": neuron, "run": str(path), "result": fidelity_curves(path)})
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "analysis": "fidelity-training",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "runs": curves,
    }
    atomic_write_json(out / "fidelity-training.json", document)
    plots.plot_fidelity_training([(c["label"], c["neuron"], c["result"]) for c in curves], out / "fidelity-training.png")
    print(f"{'run':<32} {'epochs':>6} {'first MSE':>10} {'last MSE':>10} {'last mismatch':>14}")
    for c in curves:
        r = c["result"]
        print(f"{c['label']:<32} {len(r['epoch']):>6} {r['v_hat_mse'][0]:>10.4g} {r['v_hat_mse'][-1]:>10.4g} "
              f"{100 * r['spike_mismatch'][-1]:>13.2f}%")
    print(f"wrote {out / 'fidelity-training.json'}, {out / 'fidelity-training.png'}")
    return 0
