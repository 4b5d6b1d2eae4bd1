"""What ``mpe-psn analyze`` does: load checkpoints, build their data, run, write.

Output files in ``out``:

* ``<analysis>.json``: ``{"analysis", "created", "machine", "options", "runs": [{"label",
  "neuron", "checkpoint", "model", "dataset", "T", "split", "result"}]}`` where ``result``
  is the analysis function's dict (documented in each module and in docs/analyses.md);
* ``<analysis>.png``: the figure (all runs in one picture);
* landscape only: ``landscape-<label>.npz`` per run (float arrays alphas, betas, loss,
  accuracy; load with ``numpy.load(path, allow_pickle=False)``).

Everything here takes plain keyword arguments; the command (``mpe_psn.commands.analyze``) maps its
flags onto them and prints what comes back.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mpe_psn.analysis import plots
from mpe_psn.analysis.neurobench import NeuroBenchMissing
from mpe_psn.analysis.registry import get_analysis
from mpe_psn.data import build_dataset, build_loader
from mpe_psn.errors import UsageError
from mpe_psn.models.checkpoint import load_model
from mpe_psn.utils.atomic import atomic_write_json
from mpe_psn.utils.device import DeviceError, device_name, resolve_device

__all__ = ["AnalysisError", "AnalysisOutput", "run_analysis", "training_fidelity", "load_run", "data_batches",
           "fidelity_curves"]


class AnalysisError(UsageError):
    """A problem the user can fix (bad checkpoint, missing data, wrong option); message says how."""


@dataclass
class AnalysisOutput:
    """What an analysis wrote: the JSON document, the files, and the text table to show."""

    document: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    table: str = ""


def load_run(path: "str | Path", device: str) -> tuple[Any, dict]:
    """``(model, config)`` of a checkpoint file or run folder, with an error that says what to do."""
    try:
        return load_model(path, map_location=device)
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise AnalysisError(str(error)) from error


def data_batches(config: dict, *, split: str = "test", data_dir: str | None = None, cache_dir: str | None = None,
                 batch_size: int | None = None, device: str = "cpu"):
    """The loader of a checkpoint's dataset ``split``; ``None`` keeps the checkpoint's setting."""
    options = dict(config.get("dataset_options") or {})
    try:
        dataset = build_dataset(
            config["dataset"],
            split,
            root=data_dir or config.get("data_dir"),
            T=config.get("T"),
            size=config.get("input_size"),
            cache_dir=cache_dir or config.get("cache_dir"),
            **options,
        )
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise AnalysisError(f"cannot build the {split} split of dataset {config.get('dataset')!r}: {error}") from error
    batch_size = batch_size or int(config.get("batch_size") or 32)
    return build_loader(dataset, batch_size=batch_size, shuffle=False, device=str(device))


def _labels(labels: Sequence[str] | None, neurons: list[str], paths: list[str]) -> list[str]:
    if labels:
        if len(labels) != len(paths):
            raise AnalysisError(f"--labels has {len(labels)} labels for {len(paths)} checkpoints; give one per checkpoint")
        return list(labels)
    labels = list(neurons)
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            labels[i] = f"{label} ({Path(paths[i]).resolve().name})"
    return labels


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "run"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _out_folder(out: "str | Path") -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"--out {out} exists and is not a folder")
    return out


def run_analysis(
    analysis: str,
    checkpoints: Sequence["str | Path"],
    out: "str | Path",
    *,
    labels: Sequence[str] | None = None,
    split: str = "test",
    max_batches: int | None = None,
    batch_size: int | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    device: str = "cpu",
    progress: bool = True,
    **options: Any,
) -> AnalysisOutput:
    """Run ``analysis`` on each checkpoint (file or run folder) and write JSON, PNG (and arrays).

    ``options`` are the analysis's own keyword arguments (see ``analysis.registry.ANALYSES``),
    e.g. ``estimator="bernoulli"`` for fidelity or ``steps=5`` for landscape.
    """
    try:
        spec = get_analysis(analysis)
        spec.check_options(options)
    except ValueError as error:
        raise AnalysisError(str(error)) from error
    if spec.requires is not None:
        try:
            spec.requires()
        except NeuroBenchMissing as error:
            raise AnalysisError(str(error)) from error
    out = _out_folder(out)
    if max_batches is not None and max_batches < 1:
        raise AnalysisError(f"--batches must be a positive int, got {max_batches}")
    try:
        device = str(resolve_device(device))
    except DeviceError as error:
        raise AnalysisError(f"--device {device}: {error}") from error

    loaded = [(str(path), *load_run(path, device)) for path in checkpoints]
    neurons = [str(c.get("neuron") or c.get("model_args", {}).get("neuron", "?")) for _, _, c in loaded]
    run_labels = _labels(labels, neurons, [p for p, _, _ in loaded])
    runs = []
    for (path, model, config), label, neuron in zip(loaded, run_labels, neurons):
        loader = data_batches(config, split=split, data_dir=data_dir, cache_dir=cache_dir, batch_size=batch_size, device=device)
        try:
            result = spec(model, loader, max_batches=max_batches, progress=progress, **options)
        except NeuroBenchMissing as error:
            raise AnalysisError(str(error)) from error
        except ValueError as error:
            raise AnalysisError(f"{path}: {error}") from error
        runs.append({
            "label": label, "neuron": neuron, "checkpoint": path, "model": config.get("model"),
            "dataset": config.get("dataset"), "T": config.get("T"), "split": split, "result": result,
        })

    out.mkdir(parents=True, exist_ok=True)
    document = {
        "analysis": analysis,
        "created": _now(),
        "machine": device_name(device),
        "options": {"split": split, "batches": max_batches, "batch_size": batch_size, **options},
        "runs": runs,
    }
    atomic_write_json(out / f"{analysis}.json", document)
    triples = [(r["label"], r["neuron"], r["result"]) for r in runs]
    spec.plot(triples, out / f"{analysis}.png")
    written = [out / f"{analysis}.json", out / f"{analysis}.png"]
    if spec.save_arrays is not None:
        for r in runs:
            path = out / f"{analysis}-{_safe_name(r['label'])}.npz"
            spec.save_arrays(path, r["result"])
            written.append(path)
    return AnalysisOutput(document, written, spec.table(triples))


def fidelity_curves(run_dir: "str | Path") -> dict:
    """Per-epoch fidelity logged by training in ``<run_dir>/metrics.jsonl`` (rows with a
    ``"fidelity"`` object, as written by :func:`mpe_psn.analysis.fidelity.fidelity_summary`)."""
    path = Path(run_dir)
    metrics = path / "metrics.jsonl" if path.is_dir() else path
    if not metrics.is_file():
        raise AnalysisError(f"{metrics} not found: --train needs a run folder with metrics.jsonl")
    try:
        text = metrics.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AnalysisError(
            f"{metrics} is not a metrics.jsonl text file: --train takes run folders (or their metrics.jsonl), not checkpoints"
        ) from None
    epochs, v_hat, mismatch = [], [], []
    for i, line in enumerate(text.splitlines()):
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


def training_fidelity(run_dirs: Sequence["str | Path"], out: "str | Path", *, labels: Sequence[str] | None = None) -> AnalysisOutput:
    """The per-epoch fidelity logged by training in each run folder, as one JSON and one PNG."""
    out = _out_folder(out)
    if labels and len(labels) != len(run_dirs):
        raise AnalysisError(f"--labels has {len(labels)} labels for {len(run_dirs)} run folders")
    curves = []
    for i, path in enumerate(run_dirs):
        label, neuron = _run_label(Path(path))
        if labels:
            label = labels[i]
        curves.append({"label": label, "neuron": neuron, "run": str(path), "result": fidelity_curves(path)})
    out.mkdir(parents=True, exist_ok=True)
    document = {"analysis": "fidelity-training", "created": _now(), "runs": curves}
    atomic_write_json(out / "fidelity-training.json", document)
    plots.plot_fidelity_training([(c["label"], c["neuron"], c["result"]) for c in curves], out / "fidelity-training.png")
    lines = [f"{'run':<32} {'epochs':>6} {'first MSE':>10} {'last MSE':>10} {'last mismatch':>14}"]
    for c in curves:
        r = c["result"]
        lines.append(f"{c['label']:<32} {len(r['epoch']):>6} {r['v_hat_mse'][0]:>10.4g} {r['v_hat_mse'][-1]:>10.4g} "
                     f"{100 * r['spike_mismatch'][-1]:>13.2f}%")
    return AnalysisOutput(document, [out / "fidelity-training.json", out / "fidelity-training.png"], "\n".join(lines))
