"""Summaries and pictures of a prepared dataset split (used by ``mpe-psn data``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mpe_psn.data.registry import build_dataset, dataset_info
from mpe_psn.utils.plotting import new_figure, save_figure

__all__ = ["prepare_splits", "summarize", "format_summary", "plot_samples", "sample_indices"]


def _events_per_sample(dataset) -> np.ndarray | None:
    counts = getattr(dataset, "events_per_sample", None)
    if counts is None:
        offsets = getattr(dataset, "offsets", None)  # temporal spike data (CSR): spikes per sample
        return np.diff(np.asarray(offsets)) if offsets is not None else None
    return np.asarray(counts() if callable(counts) else counts)


def summarize(dataset, T: int, max_frames: int = 2000) -> dict[str, Any]:
    """Samples, skipped, events per sample, and frame statistics over up to ``max_frames`` samples."""
    n = len(dataset)
    row: dict[str, Any] = {"split": getattr(dataset, "split", "?"), "samples": n, "skipped": getattr(dataset, "skipped", 0)}
    counts = _events_per_sample(dataset)
    if counts is not None and counts.size:
        row.update(events_mean=float(counts.mean()), events_min=int(counts.min()), events_max=int(counts.max()),
                   empty=int((counts == 0).sum()), fewer_than_T=int((counts < T).sum()))
    step = max(1, n // max_frames)
    total = nonzero = elements = 0.0
    peak = 0.0
    labels = []
    for i in range(0, n, step):
        frames, label = dataset[i]
        frames = frames.float()
        total += float(frames.sum())
        nonzero += float((frames != 0).sum())
        elements += frames.numel()
        peak = max(peak, float(frames.abs().max()))
        labels.append(label)
    if elements:
        row.update(frame_mean=total / elements, frame_nonzero=nonzero / elements, frame_max=peak,
                   frame_shape=list(frames.shape), classes_seen=len(set(labels)))
    return row


def prepare_splits(name: str, split: str = "both", *, T: int | None = None, **build_options: Any) -> tuple[list, str]:
    """Build ``split`` (``"train"``, ``"test"`` or ``"both"``) of dataset ``name``, which prepares its
    frame cache, and summarise it: ``(datasets, text)``, the text being :func:`format_summary`'s
    table and the recordings that were skipped as unreadable. ``build_options`` go to
    :func:`~mpe_psn.data.build_dataset`; its errors (a missing folder, a bad option) propagate."""
    steps = T or dataset_info(name).default_T
    datasets = [build_dataset(name, one, T=T, **build_options) for one in (("train", "test") if split == "both" else (split,))]
    rows = [summarize(dataset, steps) for dataset in datasets]
    lines = [format_summary(name, rows)]
    skipped = sum(r["skipped"] for r in rows)
    if skipped:
        lines.append(f"skipped {skipped} samples from unreadable recordings:")
        lines += [f"  {path}" for dataset in datasets for path in getattr(dataset, "skipped_files", [])]
    return datasets, "\n".join(lines)


def format_summary(name: str, rows: list[dict[str, Any]]) -> str:
    cols = [("split", "split", "{}"), ("samples", "samples", "{}"), ("skipped", "skipped", "{}"),
            ("events_mean", "events/sample", "{:.0f}"), ("events_min", "min", "{}"), ("events_max", "max", "{}"),
            ("empty", "empty", "{}"), ("fewer_than_T", "<T events", "{}"),
            ("frame_mean", "frame mean", "{:.4f}"), ("frame_nonzero", "nonzero", "{:.2%}"), ("frame_max", "frame max", "{:.1f}")]
    cols = [c for c in cols if any(c[0] in r for r in rows)]
    table = [[title for _, title, _ in cols]]
    for r in rows:
        table.append([fmt.format(r[key]) if key in r else "-" for key, _, fmt in cols])
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    lines = [f"dataset {name}: frames {rows[0].get('frame_shape', '?')} per sample"]
    for j, line in enumerate(table):
        lines.append("  ".join(cell.rjust(w) for cell, w in zip(line, widths)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def sample_indices(labels, n: int, count: int | None) -> list[int]:
    """Which samples to draw: the first of each class in class order, then the next ones in
    split order; ``count=None`` draws one per class (every sample when labels are unknown)."""
    if labels is None:
        count = n if count is None else min(count, n)
        return np.linspace(0, n - 1, count).round().astype(int).tolist()
    labels = np.asarray(labels)
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    if count is None:
        return firsts
    taken = set(firsts)
    return (firsts + [i for i in range(n) if i not in taken])[:min(count, n)]


def plot_samples(dataset, path: "str | os.PathLike[str]", class_names, count: int | None = None, max_T: int = 10) -> None:
    """PNG: one row per sample, one column per time step; ON - OFF counts in red/blue for event
    data, the image for static data. By default the first sample of each class (see
    :func:`sample_indices`); ``count`` draws that many rows instead."""
    n = len(dataset)
    if n == 0:
        raise ValueError("cannot plot an empty dataset")
    if count is not None and count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    indices = sample_indices(getattr(dataset, "labels", None), n, count)
    count = len(indices)
    first, _ = dataset[int(indices[0])]
    if first.dim() == 2:  # temporal spike data [T, channels]: one raster per sample
        _plot_rasters(dataset, indices, path, class_names)
        return
    T = min(first.shape[0], max_T)
    fig, axes = new_figure(count, T, width=1.3, height=1.3, squeeze=False)
    for row, index in enumerate(indices):
        frames, label = dataset[int(index)]
        for t in range(T):
            ax = axes[row, t]
            frame = frames[t]
            if frame.shape[0] == 2:
                image = (frame[1] - frame[0]).numpy()
                scale = max(float(np.abs(image).max()), 1e-6)
                ax.imshow(image, cmap="bwr", vmin=-scale, vmax=scale, interpolation="nearest")
            else:
                image = frame[:3].permute(1, 2, 0).numpy()
                image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6)
                ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if row == 0:
                ax.set_title(f"t={t}", fontsize=8)
            if t == 0:
                ax.set_ylabel(str(class_names[label]) if label < len(class_names) else str(label), fontsize=7)
    fig.suptitle(f"{getattr(dataset, 'name', '')} {getattr(dataset, 'split', '')}: ON (red) - OFF (blue) per frame", fontsize=9)
    save_figure(fig, path)


def _plot_rasters(dataset, indices, path, class_names) -> None:
    """One panel per sample: spike counts of [T, channels] frames, channels up, time right."""
    fig, axes = new_figure(len(indices), 1, width=6.0, height=1.6, squeeze=False)
    for row, index in enumerate(indices):
        frames, label = dataset[int(index)]
        ax = axes[row, 0]
        ax.imshow(frames.float().T.numpy(), aspect="auto", origin="lower", cmap="Greys", interpolation="nearest")
        ax.set_ylabel(str(class_names[label]) if label < len(class_names) else str(label), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(False)
    axes[-1, 0].set_xlabel("time step", fontsize=7)
    fig.suptitle(f"{getattr(dataset, 'name', '')} {getattr(dataset, 'split', '')}: spikes per channel (up) and step",
                 fontsize=9)
    save_figure(fig, path)
