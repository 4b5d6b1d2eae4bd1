"""The short text tables ``mpe-psn analyze`` prints, one per analysis, and :func:`format_rows`,
the layout they share (an analysis with its own module, such as ``deploy``, uses it too).

This module imports no other analysis module: the registry picks each analysis's table from
here, never the other way round.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["format_rows", "fidelity_table", "spike_rates_table", "energy_table", "landscape_table", "refinement_table",
           "neurobench_table"]


def format_rows(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    """``header`` and ``rows`` as aligned text columns (first column left, the rest right)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


Run = tuple[str, str, dict]  # (label, neuron, result)


def fidelity_table(runs: Sequence[Run]) -> str:
    header = ("run", "layer", "MSE(V_hat,V_LIF)", "MSE(V,V_LIF)", "spike mismatch")
    rows: list[Sequence[str]] = []
    for label, _, r in runs:
        for l in r["layers"]:
            rows.append((label, l["name"], f"{l['v_hat_mse']:.4g}", f"{l['v_mse']:.4g}", f"{100 * l['spike_mismatch']:.2f}%"))
        t = r["total"]
        rows.append((label, "all", f"{t['v_hat_mse']:.4g}", f"{t['v_mse']:.4g}", f"{100 * t['spike_mismatch']:.2f}%"))
    return format_rows(header, rows)


def spike_rates_table(runs: Sequence[Run]) -> str:
    header = ("run", "layer", "neurons", "rate", "spikes/sample")
    rows: list[Sequence[str]] = []
    for label, _, r in runs:
        for l in r["layers"]:
            rows.append((label, l["name"], str(l["neurons"]), f"{100 * l['rate']:.2f}%", f"{l['spikes_per_sample']:.4g}"))
        rows.append((label, "all", "", f"{100 * r['total']['rate']:.2f}%", f"{r['total']['spikes_per_sample']:.4g}"))
    return format_rows(header, rows)


def energy_table(runs: Sequence[Run]) -> str:
    header = ("run", "MACs/sample", "ACs/sample", "energy uJ/sample", "same-shape ANN uJ", "counting")
    rows: list[Sequence[str]] = []
    for label, _, r in runs:
        t = r["total"]
        rows.append((label, f"{t['macs_per_sample']:.4g}", f"{t['acs_per_sample']:.4g}",
                     f"{t['energy_uj_per_sample']:.4g}", f"{t['ann_energy_uj_per_sample']:.4g}",
                     r.get("counting", "dense")))
    return format_rows(header, rows)


def landscape_table(runs: Sequence[Run]) -> str:
    header = ("run", "centre loss", "min loss", "max loss", "centre acc", "grid")
    rows: list[Sequence[str]] = []
    for label, _, r in runs:
        flat = [v for row in r["loss"] for v in row]
        rows.append((label, f"{r['center_loss']:.4g}", f"{min(flat):.4g}", f"{max(flat):.4g}",
                     f"{100 * r['center_accuracy']:.1f}%", f"{r['steps']}x{r['steps']} on +-{r['span']:g}"))
    return format_rows(header, rows)


def refinement_table(runs: Sequence[Run]) -> str:
    header = ("run", "k", "accuracy", "spike mismatch", "ms/sample", "time vs k=0")
    rows: list[Sequence[str]] = []
    for label, _, r in runs:
        for row in r["rows"]:
            rel = row["relative_time"]
            rows.append((label, str(row["refine_steps"]), f"{100 * row['accuracy']:.2f}%",
                         f"{100 * row['spike_mismatch']:.3f}%", f"{row['ms_per_sample']:.3g}",
                         f"{rel:.2f}x" if rel is not None else "-"))
        exact = r.get("exact_lif")
        if exact:
            rel = exact["relative_time"]
            rows.append((label, "LIF", f"{100 * exact['accuracy']:.2f}%", "(sequential)",
                         f"{exact['ms_per_sample']:.3g}", f"{rel:.2f}x" if rel is not None else "-"))
    return format_rows(header, rows)


def _count(value) -> str:
    return "-" if value is None else f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def neurobench_table(runs: Sequence[Run]) -> str:
    """One row per metric, one column per run: NeuroBench's numbers, then mpe-psn's membrane updates."""
    header = ("metric", *(label for label, _, _ in runs))
    metrics = [
        ("ClassificationAccuracy", lambda r: f"{100 * r['workload']['ClassificationAccuracy']:.2f}%"),
        ("ActivationSparsity", lambda r: f"{r['workload']['ActivationSparsity']:.5f}"),
        ("Effective_MACs /sample", lambda r: _count(r["workload"]["SynapticOperations"]["Effective_MACs"])),
        ("Effective_ACs /sample", lambda r: _count(r["workload"]["SynapticOperations"]["Effective_ACs"])),
        ("Dense /sample", lambda r: _count(r["workload"]["SynapticOperations"]["Dense"])),
        ("MembraneUpdates /sample", lambda r: _count(r["workload"]["MembraneUpdates"])),
        ("ParameterCount", lambda r: _count(r["static"]["ParameterCount"])),
        ("Footprint (bytes)", lambda r: _count(r["static"]["Footprint"])),
        ("ConnectionSparsity", lambda r: f"{r['static']['ConnectionSparsity']:.4g}"),
        ("LIF membrane updates /sample (mpe-psn)", lambda r: _count(r["membrane_updates_per_sample"])),
    ]
    rows = [(name, *(value(r) for _, _, r in runs)) for name, value in metrics]
    versions = sorted({str(r.get("neurobench_version")) for _, _, r in runs})
    return format_rows(header, rows) + f"\n(NeuroBench {', '.join(versions)}; '-': the network has no sequential LIF layer)"

