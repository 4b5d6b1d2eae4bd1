"""Write benchmark results: JSON (the data), a markdown table, a PNG heat map of speed-ups."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mpe_psn.bench.layer import TARGET_ONLY
from mpe_psn.utils.atomic import atomic_write_json, atomic_write_text
from mpe_psn.utils.plotting import new_figure, save_figure


def _fmt_ms(value) -> str:
    return "-" if value is None else (f"{value:.3g}" if value < 100 else f"{value:.0f}")


def layer_markdown(result: dict) -> str:
    """Tables of fwd and fwd+bwd milliseconds per method, with the speed-up of MPE-PSN fused."""
    meta, rows = result["meta"], result["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    rivals = [m for m in methods if m != "mpe-fused" and m not in TARGET_ONLY]
    points = sorted({(r["T"], r["N"]) for r in rows})
    by = {(r["T"], r["N"], r["method"]): r for r in rows}
    backend = next((r.get("backend") for r in rows if r["method"] == "mpe-fused"), None)
    lines = [
        f"Layer benchmark on {meta['device']}, torch {meta['torch']}, {meta['date']}.",
        f"x [T, N] float32; median of {meta['grid']['repeats']} runs; milliseconds."
        + (f" mpe-fused ran the '{backend}' path." if backend else ""),
        "",
    ]
    tables = (
        ("fwdbwd_ms", "training step: forward + backward of spikes.sum() + 0.01 L_mem", methods),
        ("fwdbwd_spikes_ms", "forward + backward of spikes.sum() alone (MPE-PSN rows)",
         [m for m in methods if m.startswith("mpe-")]),
        ("fwd_ms", "forward under torch.no_grad()", methods),
        ("inference_ms", "forward under torch.inference_mode()", methods),
    )
    for key, title, table_methods in tables:
        if not any(key in r for r in rows):
            continue  # a result written before this column existed
        lines += [f"### {title}", ""]
        table_rivals = [m for m in rivals if m in table_methods] if "mpe-fused" in table_methods else []
        head = ["T", "N"] + table_methods + [f"{m} / mpe-fused" for m in table_rivals]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for T, N in points:
            cells = [str(T), f"2^{int(math.log2(N))}"]
            for m in table_methods:
                r = by.get((T, N, m))
                cells.append(_fmt_ms(r.get(key)) if r and r.get("status") == "ok" else "-")
            base = by.get((T, N, "mpe-fused"))
            for m in table_rivals:
                r = by.get((T, N, m))
                ok = r and base and r.get("status") == "ok" and base.get("status") == "ok" and key in r
                cells.append(f"{r[key] / base[key]:.2f}x" if ok else "-")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    largest = max(points, key=lambda p: (p[0] * p[1], p[1]))  # one point (T x N may tie across T)
    saved = [r for r in rows if r.get("status") == "ok" and (r["T"], r["N"]) == largest]
    if saved:
        lines += [f"Bytes kept for backward per element ({largest[0]} x 2^{int(math.log2(largest[1]))}): "
                  + ", ".join(f"{r['method']} {r['saved_bytes_per_element']:.2f}" for r in saved), ""]
    peaks = [r for r in rows if r.get("peak_bytes") is not None]
    if peaks:
        lines += [f"Peak CUDA memory of forward+backward (MiB) at {largest[0]} x 2^{int(math.log2(largest[1]))}: "
                  + ", ".join(f"{r['method']} {r['peak_bytes'] / 2**20:.0f}" for r in saved if r.get("peak_bytes") is not None), ""]
    lines += _fallback_lines(rows)
    if meta.get("skipped_methods"):
        lines += ["Not run: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped_methods"].items()), ""]
    lines += targets_markdown(result.get("targets", []))
    return "\n".join(lines)


def _fallback_lines(rows: list[dict]) -> list[str]:
    """A warning line (and a blank one) naming the MPE-PSN settings that ran on the reference."""
    fell_back = {k: v for r in rows for k, v in (r.get("fallbacks") or {}).items()}
    if not fell_back:
        return []
    return ["**Fell back to the reference during the run** (those timings are not the fused kernel's): "
            + "; ".join(f"{k} ({v})" for k, v in fell_back.items()), ""]


def _point(p: dict) -> str:
    """Where a target's ratio was measured: a layer's T x N, or a network's batch."""
    if "batch" in p:
        return f"batch {p['batch']}"
    return f"{p['T']} x 2^{int(math.log2(p['N']))}"


def _value(target: dict, point: dict) -> str:
    """A point's ratio (two decimals), or its time in microseconds for a target in ms."""
    if target.get("unit") == "ms":
        return f"{point['ratio'] * 1e3:.0f} us"
    return f"{point['ratio']:.2f}"


def _verdict(met: "bool | None") -> str:
    """What a target's row says: ``met``, ``not met``, or ``not run`` (its rows did not run)."""
    return "not run" if met is None else ("met" if met else "not met")


def targets_markdown(targets: list[dict]) -> list[str]:
    """The targets of one run: worst ratio over the grid, met or not, every point's ratio."""
    if not targets:
        return []
    lines = ["### targets", "", "| target | worst ratio (where) | met | every point |", "|---|---|---|---|"]
    for t in targets:
        points = ", ".join(f"{_point(p)}: {_value(t, p)}" for p in t["points"]) or "-"
        if t["name"] == "psn":
            ahead = [p for p in t["points"] if p["ratio"] < 1]
            verdict = f"PSN ahead at {len(ahead)} of {len(t['points'])} points" if t["points"] else "not run"
            lines.append(f"| {t['what']} | - | {verdict} | {points} |")
            continue
        if t["met"] is None:
            lines.append(f"| {t['what']} | - | {_verdict(None)} | - |")
            continue
        worst = t["worst"]
        lines.append(f"| {t['what']} | {_value(t, worst)} ({_point(worst)}) | {_verdict(t['met'])} | {points} |")
    return lines + [""]


def layer_heatmap(result: dict, path: "str | Path", mode: str = "fwdbwd") -> bool:
    """PNG: one panel per rival, speed-up of MPE-PSN fused over it on the T x N grid.

    Returns False (and writes nothing) when there is nothing to plot.
    """
    from matplotlib.colors import LogNorm  # imported here: matplotlib is slow to import (see utils/plotting.py)

    ups = result["speedups"]
    rivals = list(dict.fromkeys(s["rival"] for s in ups))
    if not rivals:
        return False
    Ts = sorted({s["T"] for s in ups})
    exps = sorted({int(math.log2(s["N"])) for s in ups})
    fig, axes = new_figure(1, len(rivals), width=3.6, height=2.8, squeeze=False)
    values = [s[mode] for s in ups]
    lim = max(max(values), 1 / min(values), 1.01)
    norm = LogNorm(vmin=1 / lim, vmax=lim)
    for ax, rival in zip(axes[0], rivals):
        grid = np.full((len(Ts), len(exps)), np.nan)
        for s in ups:
            if s["rival"] == rival:
                grid[Ts.index(s["T"]), exps.index(int(math.log2(s["N"])))] = s[mode]
        image = ax.imshow(grid, cmap="RdYlGn", norm=norm, aspect="auto", origin="lower")
        for i in range(len(Ts)):
            for j in range(len(exps)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(exps)), [f"2^{e}" for e in exps], fontsize=7)
        ax.set_yticks(range(len(Ts)), [str(T) for T in Ts])
        ax.set_xlabel("neurons N")
        ax.set_ylabel("time steps T")
        ax.set_title(f"{rival} / mpe-fused")
        ax.grid(False)
    fig.colorbar(image, ax=axes[0].tolist(), label=f"speed-up ({mode}), >1: MPE-PSN faster")
    fig.suptitle(f"MPE-PSN fused vs rivals: {result['meta']['device']}")
    save_figure(fig, path)
    return True


def net_markdown(result: dict) -> str:
    """One row per (precision, neuron): ms per training step and peak memory."""
    meta = result["meta"]
    lines = [
        f"Training-step benchmark on {meta['device']}, torch {meta['torch']}, {meta['date']}.",
        f"Model {meta['model']}, T = {meta['T']}, input {meta['input']}; one SGD step "
        f"(cross-entropy over all steps + 0.01 L_mem); inference: eval() under torch.inference_mode(); "
        f"medians of {meta['repeats']}. \"vs mpe\": the row's time over MPE-PSN's (above 1: MPE-PSN is faster).",
        "",
        "| batch | precision | neuron | train ms / step | vs mpe | inference ms | vs mpe | peak train memory (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ok = [r for r in result["rows"] if r.get("status") == "ok"]
    base = {(r["batch"], r["precision"]): r for r in ok if r["neuron"] == "mpe"}
    for r in result["rows"]:
        if r.get("status") != "ok":
            lines.append(f"| {r['batch']} | {r['precision']} | {r['neuron']} | {r.get('status')} | - | - | - | - |")
            continue
        peak = "-" if r.get("peak_bytes") is None else f"{r['peak_bytes'] / 2**20:.0f}"
        b = base.get((r["batch"], r["precision"]))
        cells = []
        for key in ("ms", "infer_ms"):
            value = r.get(key)
            cells += [_fmt_ms(value), f"{value / b[key]:.2f}x" if b and value is not None and b.get(key) else "-"]
        lines.append(f"| {r['batch']} | {r['precision']} | {r['neuron']} | " + " | ".join(cells) + f" | {peak} |")
    fallback = _fallback_lines(result["rows"])
    if fallback:
        lines += [""] + fallback[:-1]
    if meta.get("skipped"):
        lines += ["", "Not run: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items())]
    if result.get("targets"):
        lines += [""] + targets_markdown(result["targets"])
    return "\n".join(lines) + "\n"


def write_results(result: dict, out_dir: "str | Path", stem: str) -> list[Path]:
    """``<stem>.json``, ``<stem>.md`` and, for layer results, ``<stem>_speedup.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{stem}.json", out_dir / f"{stem}.md"]
    atomic_write_json(written[0], result)
    markdown = layer_markdown(result) if result["meta"]["kind"] == "layer" else net_markdown(result)
    atomic_write_text(written[1], markdown)
    if result["meta"]["kind"] == "layer" and layer_heatmap(result, out_dir / f"{stem}_speedup.png"):
        written.append(out_dir / f"{stem}_speedup.png")
    return written
