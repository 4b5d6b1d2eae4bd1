"""One PNG per analysis, in the house style of ``mpe_psn.utils.plotting``.

Every function takes ``runs``: a list of ``(label, kind, result)`` where ``result`` is the
dict an analysis returned and ``kind`` the network's neuron (``"mpe"``, ``"lif"``, ...),
which picks the colour, so MPE-PSN and LIF checkpoints can be drawn side by side.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from mpe_psn.utils.plotting import NEURON_COLORS, new_figure, save_figure

__all__ = [
    "run_colors",
    "plot_fidelity",
    "plot_fidelity_training",
    "plot_spike_rates",
    "plot_energy",
    "plot_landscape",
    "plot_refinement",
]

Run = tuple[str, str, dict]
_FALLBACK = ["#9467bd", "#bcbd22", "#8c564b", "#e377c2", "#ff7f0e"]


def run_colors(runs: Sequence[Run]) -> list[str]:
    """The neuron's colour for each run; a second run of the same neuron gets a spare colour."""
    colors, used, spare = [], set(), iter(_FALLBACK * 4)
    for _, kind, _ in runs:
        color = NEURON_COLORS.get(kind)
        if color is None or color in used:
            color = next(spare)
        used.add(color)
        colors.append(color)
    return colors


def _grouped_bars(ax, names: list[str], runs: Sequence[Run], values, colors, ylabel: str, log: bool = False) -> None:
    """Bars per layer name (x), one bar per run; ``values(result)`` maps layer name -> value."""
    x = np.arange(len(names))
    width = 0.8 / max(1, len(runs))
    for r, ((label, _, result), color) in enumerate(zip(runs, colors)):
        by_name = values(result)
        heights = [by_name.get(n, np.nan) for n in names]
        ax.bar(x + (r - (len(runs) - 1) / 2) * width, heights, width, label=label, color=color)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")


def _layer_names(runs: Sequence[Run], key: str = "layers") -> list[str]:
    names: list[str] = []
    for _, _, result in runs:
        for layer in result[key]:
            if layer["name"] not in names:
                names.append(layer["name"])
    return names


def _steps(values: list) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def plot_fidelity(runs: Sequence[Run], path: "str | os.PathLike[str]") -> None:
    """Per-layer distance of the estimate and corrected potential, spike mismatch, and per step."""
    colors = run_colors(runs)
    names = _layer_names(runs)
    fig, axes = new_figure(1, 3, width=4.2, height=3.6)
    _grouped_bars(
        axes[0], names, runs, lambda r: {l["name"]: l["v_hat_mse"] for l in r["layers"]}, colors,
        "MSE(V_hat, V_LIF)",
    )
    axes[0].set_title("estimate vs exact LIF, per layer")
    _grouped_bars(
        axes[1], names, runs, lambda r: {l["name"]: 100 * l["spike_mismatch"] for l in r["layers"]}, colors,
        "spikes differing from LIF (%)",
    )
    axes[1].set_title("spike mismatch, per layer")
    for (label, _, result), color in zip(runs, colors):
        for i, layer in enumerate(result["layers"]):
            y = layer["per_step"]["v_hat_mse"]
            axes[2].plot(_steps(y), y, color=color, alpha=0.35 + 0.65 * (i + 1) / len(result["layers"]),
                         marker="o", ms=3, label=f"{label}: {layer['name']}")
    axes[2].set_xlabel("time step")
    axes[2].set_ylabel("MSE(V_hat, V_LIF)")
    axes[2].set_title("per time step (darker = deeper)")
    axes[0].legend()
    if sum(len(r[2]["layers"]) for r in runs) <= 8:
        axes[2].legend(fontsize=7)
    save_figure(fig, path)


def plot_fidelity_training(curves: Sequence[tuple[str, str, dict]], path: "str | os.PathLike[str]") -> None:
    """Fig. 3a over training: ``curves`` are ``(label, kind, {"epoch": [...], "v_hat_mse": [...],
    "spike_mismatch": [...]})``, one per run (e.g. with and without L_mem)."""
    colors = run_colors(curves)
    fig, axes = new_figure(1, 2, width=4.5, height=3.6)
    for (label, _, c), color in zip(curves, colors):
        axes[0].plot(c["epoch"], c["v_hat_mse"], color=color, marker="o", ms=3, label=label)
        axes[1].plot(c["epoch"], [100 * v for v in c["spike_mismatch"]], color=color, marker="o", ms=3, label=label)
    axes[0].set_ylabel("MSE(V_hat, V_LIF), all layers")
    axes[0].set_title("estimate vs exact LIF during training")
    axes[1].set_ylabel("spikes differing from LIF (%)")
    axes[1].set_title("spike mismatch during training")
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend()
    save_figure(fig, path)


def plot_spike_rates(runs: Sequence[Run], path: "str | os.PathLike[str]") -> None:
    """Per-layer firing rates (bars) and the per-step rate of every layer (lines)."""
    colors = run_colors(runs)
    names = _layer_names(runs)
    fig, axes = new_figure(1, 2, width=4.8, height=3.6)
    _grouped_bars(axes[0], names, runs, lambda r: {l["name"]: 100 * l["rate"] for l in r["layers"]}, colors,
                  "spike rate (%)")
    axes[0].set_title("firing rate per layer")
    axes[0].legend()
    for (label, _, result), color in zip(runs, colors):
        for i, layer in enumerate(result["layers"]):
            y = [100 * v for v in layer["per_step"]]
            axes[1].plot(_steps(y), y, color=color, alpha=0.35 + 0.65 * (i + 1) / len(result["layers"]),
                         marker="o", ms=3)
    axes[1].set_xlabel("time step")
    axes[1].set_ylabel("spike rate (%)")
    axes[1].set_title("per time step (one line per layer, darker = deeper)")
    save_figure(fig, path)


def plot_energy(runs: Sequence[Run], path: "str | os.PathLike[str]") -> None:
    """Operations per layer (log scale) and total energy per sample against a same-shape ANN."""
    colors = run_colors(runs)
    names = _layer_names(runs)
    fig, axes = new_figure(1, 2, width=4.8, height=3.6)
    _grouped_bars(axes[0], names, runs, lambda r: {l["name"]: l["ops_per_sample"] for l in r["layers"]}, colors,
                  "operations per sample", log=True)
    axes[0].set_title("MAC (first layer) and AC (after spikes)")
    axes[0].legend()
    labels = [label for label, _, _ in runs]
    values = [r["total"]["energy_uj_per_sample"] for _, _, r in runs]
    bar_colors = list(colors)
    ann = [r["total"]["ann_energy_uj_per_sample"] for _, _, r in runs]
    if all(abs(a - ann[0]) <= 1e-9 * abs(ann[0]) for a in ann):  # same network shape: one ANN bar
        labels, values, bar_colors = labels + ["ANN (same shape)"], values + [ann[0]], bar_colors + [NEURON_COLORS["copy"]]
    else:
        labels += [f"ANN like {label}" for label, _, _ in runs]
        values += ann
        bar_colors += [NEURON_COLORS["copy"]] * len(runs)
    bars = axes[1].bar(np.arange(len(labels)), values, color=bar_colors)
    axes[1].bar_label(bars, fmt="%.3g", fontsize=8)
    axes[1].set_xticks(np.arange(len(labels)), labels, rotation=15)
    axes[1].set_ylabel("energy per sample (uJ)")
    axes[1].set_title("0.9 pJ/AC, 4.6 pJ/MAC (45 nm)")
    save_figure(fig, path)


def plot_landscape(runs: Sequence[Run], path: "str | os.PathLike[str]") -> None:
    """Contour of the loss surface per run, on shared contour levels, trained weights at (0, 0)."""
    fig, axes = new_figure(1, len(runs), width=4.2, height=3.8, squeeze=False)
    grids = [np.asarray(r["loss"], dtype=float) for _, _, r in runs]
    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    levels = np.linspace(low, high if high > low else low + 1e-6, 15)
    for ax, (label, _, result), grid in zip(axes[0], runs, grids):
        a, b = np.asarray(result["alphas"]), np.asarray(result["betas"])
        contour = ax.contourf(a, b, grid.T, levels=levels, cmap="viridis")
        ax.contour(a, b, grid.T, levels=levels, colors="white", linewidths=0.4, alpha=0.6)
        ax.plot([0], [0], marker="*", color="white", ms=10, mec="black")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_title(f"{label}: loss {result['center_loss']:.3g} at centre")
        ax.grid(False)
    fig.colorbar(contour, ax=axes[0].tolist(), label="loss")
    save_figure(fig, path)


def plot_refinement(runs: Sequence[Run], path: "str | os.PathLike[str]") -> None:
    """Accuracy, spike mismatch and time per sample against the number of refinement passes."""
    colors = run_colors(runs)
    fig, axes = new_figure(1, 3, width=3.8, height=3.4)
    for (label, _, result), color in zip(runs, colors):
        k = [row["refine_steps"] for row in result["rows"]]
        axes[0].plot(k, [100 * row["accuracy"] for row in result["rows"]], color=color, marker="o", label=label)
        mismatch = [100 * row["spike_mismatch"] for row in result["rows"]]
        axes[1].plot(k, [max(m, 1e-4) for m in mismatch], color=color, marker="o", label=label)
        axes[2].plot(k, [row["ms_per_sample"] for row in result["rows"]], color=color, marker="o", label=label)
        exact = result.get("exact_lif")
        if exact:
            axes[2].axhline(exact["ms_per_sample"], color=NEURON_COLORS["lif"], ls="--", lw=1,
                            label="sequential LIF" if len(runs) == 1 else f"{label}: sequential LIF")
            axes[0].axhline(100 * exact["accuracy"], color=NEURON_COLORS["lif"], ls="--", lw=1)
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("spikes differing from LIF (%)")
    axes[1].set_yscale("log")
    axes[1].set_title("0 drawn at 1e-4 %", fontsize=8)
    axes[2].set_ylabel("forward time (ms per sample)")
    for ax in axes:
        ax.set_xlabel("refinement passes k (T-1 = exact)")
    axes[0].legend()
    axes[2].legend(fontsize=8)
    save_figure(fig, path)
