"""The short text tables ``mpe-psn analyze`` prints, one per analysis."""

from __future__ import annotations

from typing import Sequence

__all__ = ["table"]


def _rows(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(analysis: str, runs: Sequence[tuple[str, str, dict]]) -> str:
    """A table of the headline numbers of ``runs`` (``(label, neuron, result)``)."""
    rows: list[Sequence[str]] = []
    if analysis == "fidelity":
        header = ("run", "layer", "MSE(V_hat,V_LIF)", "MSE(V,V_LIF)", "spike mismatch")
        for label, _, r in runs:
            for l in r["layers"]:
                rows.append((label, l["name"], f"{l['v_hat_mse']:.4g}", f"{l['v_mse']:.4g}", f"{100 * l['spike_mismatch']:.2f}%"))
            t = r["total"]
            rows.append((label, "all", f"{t['v_hat_mse']:.4g}", f"{t['v_mse']:.4g}", f"{100 * t['spike_mismatch']:.2f}%"))
    elif analysis == "spike-rates":
        header = ("run", "layer", "neurons", "rate", "spikes/sample")
        for label, _, r in runs:
            for l in r["layers"]:
                rows.append((label, l["name"], str(l["neurons"]), f"{100 * l['rate']:.2f}%", f"{l['spikes_per_sample']:.4g}"))
            rows.append((label, "all", "", f"{100 * r['total']['rate']:.2f}%", f"{r['total']['spikes_per_sample']:.4g}"))
    elif analysis == "energy":
        header = ("run", "MACs/sample", "ACs/sample", "energy uJ/sample", "same-shape ANN uJ")
        for label, _, r in runs:
            t = r["total"]
            rows.append((label, f"{t['macs_per_sample']:.4g}", f"{t['acs_per_sample']:.4g}",
                         f"{t['energy_uj_per_sample']:.4g}", f"{t['ann_energy_uj_per_sample']:.4g}"))
    elif analysis == "landscape":
        header = ("run", "centre loss", "min loss", "max loss", "centre acc", "grid")
        for label, _, r in runs:
            flat = [v for row in r["loss"] for v in row]
            rows.append((label, f"{r['center_loss']:.4g}", f"{min(flat):.4g}", f"{max(flat):.4g}",
                         f"{100 * r['center_accuracy']:.1f}%", f"{r['steps']}x{r['steps']} on +-{r['span']:g}"))
    elif analysis == "refine":
        header = ("run", "k", "accuracy", "spike mismatch", "ms/sample", "time vs k=0")
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
    else:
        raise ValueError(f"unknown analysis {analysis!r}")
    return _rows(header, rows)
