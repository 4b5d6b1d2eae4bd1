"""PNG of the training curves of one run: losses, accuracies, membrane loss per epoch."""

from __future__ import annotations

import os
from typing import Any, Sequence

from mpe_psn.utils.plotting import NEURON_COLORS, new_figure, save_figure

__all__ = ["plot_training_curves", "plot_run_comparison"]


def plot_training_curves(rows: Sequence[dict[str, Any]], path: "str | os.PathLike[str]", title: str | None = None) -> None:
    """Three panels from ``metrics.jsonl`` rows: loss, accuracy (%), L_mem (log scale)."""
    fig, (ax_loss, ax_acc, ax_mem) = new_figure(1, 3, width=4.2, height=3.2)
    epochs = [r["epoch"] + 1 for r in rows]
    color = NEURON_COLORS.get(str(rows[0].get("neuron", "")), "#444444") if rows else "#444444"

    def series(key: str) -> list[float]:
        return [float(r.get(key, float("nan"))) for r in rows]

    ax_loss.plot(epochs, series("train_loss"), color=color, label="train (total)")
    ax_loss.plot(epochs, series("test_loss"), color=color, linestyle="--", label="test (TET)")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * v for v in series("train_acc")], color=color, label="train")
    ax_acc.plot(epochs, [100 * v for v in series("test_acc")], color=color, linestyle="--", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax_acc.legend()
    mem = series("mem_loss")
    ax_mem.plot(epochs, mem, color=color)
    if any(v > 0 for v in mem):
        ax_mem.set_yscale("log")
    ax_mem.set(xlabel="epoch", ylabel="L_mem (sum over layers)", title="membrane loss")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def plot_run_comparison(runs: dict[str, Sequence[dict[str, Any]]], path: "str | os.PathLike[str]", title: str | None = None) -> None:
    """Test accuracy and training TET loss per epoch of several runs (label -> metrics rows), one colour per neuron."""
    fig, (ax_acc, ax_loss) = new_figure(1, 2, width=4.6, height=3.4)
    for label, rows in runs.items():
        neuron = str(rows[0].get("neuron", "")) if rows else ""
        style = "--" if "no L_mem" in label or "nomem" in label else "-"
        color = NEURON_COLORS.get(neuron, "#444444")
        epochs = [r["epoch"] + 1 for r in rows]
        ax_acc.plot(epochs, [100 * r["test_acc"] for r in rows], style, color=color, marker="o", markersize=3, label=label)
        ax_loss.plot(epochs, [r.get("train_tet", r["train_loss"]) for r in rows], style, color=color, label=label)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    ax_loss.set(xlabel="epoch", ylabel="TET loss (training set)", title="classification loss", yscale="log")
    ax_acc.legend()
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
