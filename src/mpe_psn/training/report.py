"""Evaluate a checkpoint on a dataset split: accuracy (over seeds for the Bernoulli estimator),
per-class accuracy, confusion matrix as data and as a PNG.

The result is a plain JSON-able dict (what ``mpe-psn eval --json`` prints).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from mpe_psn.data import build_dataset, build_loader, dataset_info
from mpe_psn.functional.checks import ESTIMATORS
from mpe_psn.training.checkpoint import CheckpointError, checkpoint_path, load_model
from mpe_psn.training.config import ConfigError
from mpe_psn.training.distributed import resolve_device
from mpe_psn.training.evaluate import EvalResult, evaluate, set_eval_estimator
from mpe_psn.utils.device import amp_dtype
from mpe_psn.utils.plotting import new_figure, save_figure

__all__ = ["evaluate_checkpoint", "format_report", "summarize", "plot_confusion"]


def summarize(results: Sequence[EvalResult], class_names: Sequence[str]) -> dict[str, Any]:
    """Mean and spread of accuracy over runs; per-class accuracy and confusion summed over runs."""
    accs = [r.accuracy for r in results]
    mean = sum(accs) / len(accs)
    std = math.sqrt(sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) if len(accs) > 1 else 0.0
    confusion = sum((r.confusion for r in results), torch.zeros_like(results[0].confusion))
    pooled = EvalResult(confusion, sum(r.loss_sum for r in results))
    per_class = pooled.per_class_accuracy()
    return {
        "accuracy": mean,
        "accuracy_std": std,
        "accuracy_min": min(accs),
        "accuracy_max": max(accs),
        "accuracy_per_run": accs,
        "loss": pooled.loss,
        "samples": results[0].total,
        "per_class_accuracy": {str(name): acc for name, acc in zip(class_names, per_class)},
        "confusion": confusion.tolist(),
    }


def plot_confusion(confusion: "torch.Tensor | list", class_names: Sequence[str], path: "str | os.PathLike[str]", title: str = "") -> None:
    """Row-normalised confusion matrix (true class down, predicted class across) as a PNG."""
    counts = torch.as_tensor(confusion, dtype=torch.float64)
    rows = counts.sum(1, keepdim=True).clamp_min(1)
    share = (counts / rows).numpy()
    n = len(class_names)
    side = min(12.0, 2.5 + 0.45 * n)
    fig, ax = new_figure(width=side, height=side * 0.9)
    image = ax.imshow(share, vmin=0.0, vmax=1.0, cmap="Blues")
    ax.grid(False)
    if n <= 40:
        ax.set_xticks(range(n), [str(c) for c in class_names], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [str(c) for c in class_names], fontsize=7)
        if n <= 20:
            for i in range(n):
                for j in range(n):
                    if counts[i, j]:
                        ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=6,
                                color="white" if share[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted class", ylabel="true class", title=title or "confusion matrix (row-normalised)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    save_figure(fig, path)


def evaluate_checkpoint(
    checkpoint: "str | os.PathLike[str]",
    *,
    split: str = "test",
    estimator: str | None = None,
    seeds: int = 5,
    T: int | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    dataset_options: dict[str, Any] | None = None,
    batch_size: int = 64,
    device: str = "auto",
    amp: str = "off",
    plot: "str | os.PathLike[str] | None" = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Accuracy of a checkpoint on ``split``; see the module docstring.

    ``estimator``: MPE-PSN's estimator at evaluation, ``"expected"`` (deterministic, one run)
    or ``"bernoulli"`` (sampled, averaged over ``seeds`` runs with their spread); ``None`` keeps
    the checkpoint's ``eval_estimator``. ``plot``: where to write the confusion PNG (``None``:
    next to the checkpoint; ``""``: no PNG).
    """
    path = checkpoint_path(checkpoint, prefer="best.pt")
    dev = resolve_device(device)
    model, config = load_model(path, map_location=dev)
    args = config["model_args"]
    if T is not None and T != args["T"]:
        raise CheckpointError(f"{path} was trained with T = {args['T']} time steps, not T = {T}; drop -T or pass -T {args['T']}")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    if estimator is not None:
        if estimator not in ESTIMATORS:
            raise ConfigError(f"--estimator must be one of {list(ESTIMATORS)}, got {estimator!r}")
        if set_eval_estimator(model, estimator) == 0:
            raise ConfigError(f"--estimator only applies to MPE-PSN networks; {path} uses neuron {args['neuron']!r}")
    used = estimator or (config.get("eval_estimator") if args["neuron"] == "mpe" else None)
    info = dataset_info(config["dataset"])
    options = dict(config.get("dataset_options") or {})
    options.update(dataset_options or {})
    options.setdefault("progress", progress)  # --quiet / --json: no dataset-preparation bar either
    dataset = build_dataset(
        config["dataset"], split, root=data_dir if data_dir is not None else config.get("data_dir"), T=args["T"],
        size=args["input_size"], augment=False, cache_dir=cache_dir if cache_dir is not None else config.get("cache_dir"),
        **options,
    )
    runs = seeds if used == "bernoulli" else 1
    results = []
    bar = None
    if progress:
        bar = tqdm(total=runs * len(dataset), desc=f"eval {split}", unit="sample", dynamic_ncols=True)
    for seed in range(runs):
        torch.manual_seed(seed)
        loader = build_loader(dataset, batch_size=batch_size, shuffle=False, device=str(dev), distributed=False)
        results.append(evaluate(model, loader, info.num_classes, dev, amp_dtype(amp, dev),
                                progress=bar.update if bar is not None else None))
    if bar is not None:
        bar.close()
    report = {
        "checkpoint": str(path),
        "dataset": config["dataset"],
        "split": split,
        "model": args["name"],
        "neuron": args["neuron"],
        "T": args["T"],
        "estimator": used,
        "runs": runs,
        **summarize(results, info.class_names),
        "class_names": list(info.class_names),
        "confusion_png": None,
    }
    if plot != "":
        png = Path(plot) if plot is not None else path.parent / f"confusion-{split}-{used or args['neuron']}.png"
        title = f"{args['name']} / {args['neuron']} on {config['dataset']} {split}: {100 * report['accuracy']:.2f}%"
        plot_confusion(report["confusion"], info.class_names, png, title)
        report["confusion_png"] = str(png)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report of :func:`evaluate_checkpoint` as the lines ``mpe-psn eval`` prints: the accuracy
    (with its spread over seeds), one line per class, the confusion PNG."""
    spread = ""
    if report["runs"] > 1:
        spread = (f" +- {100 * report['accuracy_std']:.2f} (sd over {report['runs']} seeds; "
                  f"min {100 * report['accuracy_min']:.2f}, max {100 * report['accuracy_max']:.2f})")
    estimator = f", estimator {report['estimator']}" if report["estimator"] else ""
    lines = [f"{report['model']} / {report['neuron']} (T = {report['T']}{estimator}) on {report['dataset']} "
             f"{report['split']} ({report['samples']} samples): accuracy {100 * report['accuracy']:.2f}%{spread}"]
    width = max(len(name) for name in report["per_class_accuracy"])
    for name, acc in report["per_class_accuracy"].items():
        lines.append(f"  {name:<{width}}  {'-' if acc is None else f'{100 * acc:6.2f}%'}")
    if report["confusion_png"]:
        lines.append(f"confusion matrix: {report['confusion_png']}")
    return "\n".join(lines)
