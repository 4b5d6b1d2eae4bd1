"""DVS128 Gesture: the original release or Tonic's prepared layout.

Original release (root = the ``DvsGesture`` folder or its parent): ``userNN_<light>.aedat``
(AEDAT 3.1), ``userNN_<light>_labels.csv`` (``class,startTime_usec,endTime_usec``, class
1..11) and the official trial lists ``trials_to_train.txt`` / ``trials_to_test.txt``
(1176 / 288 samples). Each labelled row is one sample: the events with
``start <= t < end``; label = class - 1.

Tonic layout (root holds ``ibmGestureTrain`` / ``ibmGestureTest``): one ``<label>.npy``
per sample in ``userNN_<light>/`` folders (see :mod:`mpe_psn.data.readers.tonic_npy`).

Options: ``split_by`` ("number", the paper's, or "time").
"""

from __future__ import annotations

import csv
from pathlib import Path

from mpe_psn.data.augment import EventAugment
from mpe_psn.data.event_dataset import EventFramesDataset, SampleRef, natural_key
from mpe_psn.data.sources import check_options, missing, require_root

OPTIONS = ("split_by", "progress")


def _original_root(root: Path) -> Path | None:
    for candidate in (root, root / "DvsGesture"):
        if (candidate / "trials_to_train.txt").is_file() or (candidate / "trials_to_test.txt").is_file():
            return candidate
    return None


def _read_labels(csv_path: Path, num_classes: int) -> list[tuple[int, int, int]]:
    rows = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if not row or not row[0].strip() or not row[0].strip().lstrip("-").isdigit():
                continue  # header or blank line
            try:
                cls, start, end = (int(v) for v in row[:3])
            except ValueError:
                raise ValueError(f"{csv_path}:{line_no}: expected 'class,startTime_usec,endTime_usec', got {row}") from None
            if not 1 <= cls <= num_classes or end <= start:
                raise ValueError(f"{csv_path}:{line_no}: class {cls} not in 1..{num_classes} or empty window [{start}, {end})")
            rows.append((cls - 1, start, end))
    return rows


def original_samples(info, folder: Path, split: str) -> list[SampleRef]:
    trials = folder / f"trials_to_{split}.txt"
    if not trials.is_file():
        raise missing(info, folder, f"no {trials.name}")
    samples = []
    for line in trials.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if not name:
            continue
        recording = folder / name
        labels = folder / (Path(name).stem + "_labels.csv")
        if not recording.is_file() or not labels.is_file():
            raise missing(info, folder, f"{trials.name} lists {name} but {recording.name} or {labels.name} is absent")
        for label, start, end in _read_labels(labels, info.num_classes):
            samples.append(SampleRef(str(recording), label, (start, end)))
    return samples


def tonic_samples(info, root: Path, split: str) -> list[SampleRef]:
    folder = root / ("ibmGestureTrain" if split == "train" else "ibmGestureTest")
    if not folder.is_dir():
        raise missing(info, root, f"no folder {folder.name}")
    samples = []
    for user in sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        for file in sorted(user.glob("*.npy"), key=lambda p: natural_key(p.name)):
            if not file.stem.isdigit() or not 0 <= int(file.stem) < info.num_classes:
                raise missing(info, root, f"unexpected file {file} (names are <label 0..10>.npy)")
            samples.append(SampleRef(str(file), int(file.stem)))
    if not samples:
        raise missing(info, root, f"no .npy samples under {folder}")
    return samples


def find_samples(info, root: Path, split: str) -> list[SampleRef]:
    folder = _original_root(root)
    if folder is not None:
        return original_samples(info, folder, split)
    if (root / "ibmGestureTrain").is_dir() or (root / "ibmGestureTest").is_dir():
        return tonic_samples(info, root, split)
    raise missing(info, root, "found neither trials_to_train.txt/trials_to_test.txt (original) nor ibmGestureTrain/ibmGestureTest (Tonic)")


def build(info, split, *, root, T, size, augment, cache_dir, skip_bad, split_by="number", progress=True, **options):
    check_options(info.name, options, OPTIONS)
    root = require_root(info, root)
    samples = find_samples(info, root, split)
    transform = EventAugment(pad=4, hflip=True) if augment else None
    return EventFramesDataset(
        info.name, split, samples, sensor=info.sensor, T=T, size=size, split_by=split_by,
        transform=transform, cache_dir=cache_dir, skip_bad=skip_bad, progress=progress,
    )
