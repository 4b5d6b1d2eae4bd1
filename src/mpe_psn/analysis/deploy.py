"""The deployment gap of one trained network: ``mpe-psn analyze deploy CHECKPOINT``.

The test accuracy of the same weights run as MPE-PSN with the expected estimator, with the
Bernoulli estimator (mean +- sd over ``seeds``), after each number of correction passes
k = 1 .. T-1 (k = T-1 is the exact LIF in parallel), and with every MPE-PSN layer replaced by
the sequential LIF of the same tau and threshold (what a NIR target runs). The computation is
:func:`mpe_psn.models.deployment_gap.deployment_gap`; this module adds the figure and table.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

from torch import nn

from mpe_psn.analysis.tables import format_rows
from mpe_psn.models.batches import Batch, model_device, time_major_batches
from mpe_psn.models.deployment_gap import deployment_gap
from mpe_psn.utils.plotting import NEURON_COLORS, new_figure, save_figure

__all__ = ["deploy_gap", "plot_deploy", "deploy_table"]

Run = tuple[str, str, dict]  # (label, neuron, result)


def deploy_gap(model: nn.Module, batches: Iterable[Batch], *, max_batches: int | None = None,
               progress: bool = False, seeds: int = 5) -> dict:
    """:func:`deployment_gap` on ``max_batches`` of ``batches`` (loader pairs ``x [B, T, ...], y``).

    Returns ``{"T", "samples", "expected", "bernoulli": {"mean", "sd", "runs"}, "refine": {"k": acc},
    "lif", "gap"}`` (``refine`` keyed by strings so that it round-trips through JSON; ``sd`` is
    None for one seed).
    """
    data = time_major_batches(batches, max_batches, model_device(model), progress=progress, desc="deploy batches")
    result = deployment_gap(model, data, seeds=seeds)
    result["refine"] = {str(k): acc for k, acc in result["refine"].items()}
    if result["bernoulli"]["sd"] != result["bernoulli"]["sd"]:  # one seed: no sd (null in JSON, not NaN)
        result["bernoulli"]["sd"] = None
    return result


def _modes(result: dict) -> list[tuple[str, float, float | None]]:
    """(mode, accuracy, sd or None) in the order of the figure and table."""
    rows = [("expected", result["expected"], None),
            ("Bernoulli", result["bernoulli"]["mean"], result["bernoulli"]["sd"])]
    rows += [(f"refine k={k}", acc, None) for k, acc in sorted(result["refine"].items(), key=lambda kv: int(kv[0]))]
    rows.append(("exact LIF", result["lif"], None))
    return rows


def deploy_table(runs: Sequence[Run]) -> str:
    """One row per run and mode: accuracy (Bernoulli: mean +- sd) and the drop from ``expected``."""
    header = ("run", "mode", "accuracy", "vs expected")
    rows: list[Sequence[str]] = []
    for label, _, result in runs:
        for mode, acc, sd in _modes(result):
            shown = f"{100 * acc:.2f}%" + (f" +- {100 * sd:.2f}" if sd is not None and sd == sd else "")
            rows.append((label, mode, shown, f"{100 * (acc - result['expected']):+.2f}"))
    return format_rows(header, rows)


def plot_deploy(runs: Sequence[Run], path: "str | os.PathLike[str]") -> None:
    """Accuracy of each way to run the network (bars per run; Bernoulli with its sd)."""
    fig, axes = new_figure(1, 1, width=max(5.0, 1.2 + 0.9 * sum(len(_modes(r)) for _, _, r in runs) / max(1, len(runs))),
                           height=3.6)
    ax = axes
    width = 0.8 / max(1, len(runs))
    palette = [NEURON_COLORS["mpe"], "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]  # exact LIF: the LIF colour
    for i, (label, _, result) in enumerate(runs):
        modes = _modes(result)
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(modes))]
        colors = [NEURON_COLORS["lif"] if m == "exact LIF" else palette[i % len(palette)] for m, _, _ in modes]
        ax.bar(xs, [100 * a for _, a, _ in modes], width=width, color=colors, label=label)
        for x, (_, a, sd) in zip(xs, modes):
            if sd is not None and sd == sd:  # Bernoulli: mean +- sd over the seeds
                ax.errorbar(x, 100 * a, yerr=100 * sd, color="black", capsize=3, lw=1)
        ax.set_xticks(range(len(modes)), [m for m, _, _ in modes], rotation=45, ha="right", fontsize=8)
    low = min(100 * a for _, _, r in runs for _, a, _ in _modes(r))
    ax.set_ylim(max(0.0, low - 10), 100.5)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("the same weights run each way (exact LIF: what a NIR target runs)", fontsize=9)
    if len(runs) > 1:
        ax.legend(fontsize=8)
    save_figure(fig, path)
