"""Datasets stored as one folder per class (CIFAR10-DVS, N-Caltech101) and their paper splits.

Files of a class are sorted by name (Python's ``sorted``, as torchvision's DatasetFolder
does); the first ``floor(n * test_fraction)`` are the test split, the rest train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mpe_psn.data.augment import EventAugment
from mpe_psn.data.event_dataset import EventFramesDataset, SampleRef
from mpe_psn.data.sources import missing

OPTIONS = ("split_by", "progress")


def class_folder_samples(
    info, root: Path, split: str, class_names: Sequence[str], suffixes: Sequence[str], test_fraction: float
) -> list[SampleRef]:
    samples = []
    absent = [name for name in class_names if not (root / name).is_dir()]
    if absent:
        raise missing(info, root, f"class folder(s) {absent[:5]}{' ...' if len(absent) > 5 else ''} not found")
    for label, name in enumerate(class_names):
        files = sorted(p.name for p in (root / name).iterdir() if p.suffix.lower() in suffixes and p.is_file())
        if not files:
            raise missing(info, root, f"folder {name}/ has no {'/'.join(suffixes)} files")
        n_test = int(len(files) * test_fraction)
        chosen = files[:n_test] if split == "test" else files[n_test:]
        samples += [SampleRef(str(root / name / f), label) for f in chosen]
    return samples


def build_folder_dataset(info, split, root: Path, samples, *, T, size, augment, cache_dir, skip_bad, split_by, progress):
    transform = EventAugment(pad=4, hflip=True) if augment else None
    return EventFramesDataset(
        info.name, split, samples, sensor=info.sensor, T=T, size=size, split_by=split_by,
        transform=transform, cache_dir=cache_dir, skip_bad=skip_bad, progress=progress,
    )
