"""A Tonic dataset already on disk as a training source: its events become cached frames.

``from_tonic(dataset, T=...)`` wraps any Tonic event dataset (``dataset[i] -> (events,
target)`` with a structured event array, and ``dataset.sensor_size = (width, height,
polarities)``) as a dataset of ``(frames float32 [T, 2, H, W], label)``, each event array
converted once (:func:`mpe_psn.data.events.as_events`: Tonic's field types and orders are all
accepted) and integrated like this project's own readers (:mod:`mpe_psn.data.frames`).

The registry names a few of Tonic's datasets (``tonic-nmnist``, ``tonic-dvsgesture``,
``tonic-pokerdvs``) so that ``mpe-psn train --dataset tonic-nmnist --data-dir <folder>``
reads the copy Tonic downloaded into ``<folder>`` (its ``save_to``). Tonic is imported only
then, and never downloads from here: a missing copy is an error saying what is expected.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from mpe_psn.data.augment import EventAugment
from mpe_psn.data.cache import cache_path, load_entry, save_entry
from mpe_psn.data.events import as_events, sanitize_events
from mpe_psn.data.frames import SPLIT_MODES, integrate_events, resize_frames
from mpe_psn.data.sources import check_options, missing, require_root

__all__ = ["TONIC_DATASETS", "TonicFrames", "build", "from_tonic"]

#: registry name -> (Tonic class, sensor (height, width), classes, frame side, default T)
TONIC_DATASETS: dict[str, tuple[str, tuple[int, int], tuple[str, ...], int, int]] = {
    "tonic-nmnist": ("NMNIST", (34, 34), tuple(str(d) for d in range(10)), 34, 10),
    "tonic-dvsgesture": (
        "DVSGesture", (128, 128),
        ("hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise", "right_arm_counter_clockwise",
         "left_arm_clockwise", "left_arm_counter_clockwise", "arm_roll", "air_drums", "air_guitar", "other_gestures"),
        64, 16,
    ),
    "tonic-pokerdvs": ("POKERDVS", (35, 35), ("club", "heart", "diamond", "spade"), 35, 10),
}
OPTIONS = ("split_by", "progress")
#: Bumped whenever the conversion's output changes (old cache entries are then not reused).
FRAMES_VERSION = 1


class TonicFrames(torch.utils.data.Dataset):
    """Frames [T, 2, H, W] float32 and labels of a Tonic dataset (see :func:`from_tonic`)."""

    def __init__(
        self,
        dataset: Any,
        *,
        T: int,
        split_by: str = "number",
        size: "int | tuple[int, int] | None" = None,
        sensor: "tuple[int, int] | None" = None,
        cache_dir=None,
        name: str | None = None,
        split: str = "?",
        transform: Callable[[torch.Tensor, int], tuple[torch.Tensor, int]] | None = None,
    ) -> None:
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"T must be a positive int, got {T!r}")
        if split_by not in SPLIT_MODES:
            raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"dataset must be indexable with a length (a Tonic dataset), got {type(dataset).__name__}")
        if getattr(dataset, "transform", None) is not None or getattr(dataset, "transforms", None) is not None:
            raise ValueError(
                f"{type(dataset).__name__} has a Tonic transform set; from_tonic integrates the raw events itself, "
                "so build the Tonic dataset without transform"
            )
        self.dataset, self.T, self.split_by, self.split = dataset, T, split_by, split
        self.name = name or f"tonic-{type(dataset).__name__.lower()}"
        self.sensor = tuple(sensor) if sensor is not None else _sensor_of(dataset)
        size = self.sensor if size is None else size
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.cache_dir, self.transform = cache_dir, transform
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def entry_params(self, index: int) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "tonic_class": type(self.dataset).__name__,
            "location": str(getattr(self.dataset, "location_on_system", "")),
            "train": getattr(self.dataset, "train", None),
            "index": index,
            "samples": len(self.dataset),
            "frames_version": FRAMES_VERSION,
            "T": self.T,
            "size": list(self.size),
            "sensor": list(self.sensor),
            "split_by": self.split_by,
        }

    def load(self, index: int) -> tuple[np.ndarray, int, int]:
        """(frames float32 [T, 2, H, W], label, events in the sample), cached when a cache folder is set."""
        params = self.entry_params(index)
        path = cache_path(self.cache_dir, self.name, params) if self.cache_dir is not None else None
        arrays = load_entry(path, params) if path is not None else None
        if arrays is None:
            raw, target = self.dataset[index]
            events, _ = sanitize_events(
                as_events(raw, source=f"{self.name}[{index}]"), self.sensor[0], self.sensor[1], source=f"{self.name}[{index}]"
            )
            counts = integrate_events(events, self.T, self.sensor[0], self.sensor[1], self.split_by)
            frames = resize_frames(torch.from_numpy(counts).float(), self.size).numpy().astype(np.float32)
            arrays = {"frames": frames, "label": np.array([int(target)]), "events": np.array([events.shape[0]])}
            if path is not None:
                save_entry(path, arrays, params, compress=True)
        return arrays["frames"], int(arrays["label"][0]), int(arrays["events"][0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, label, _ = self.load(index)
        tensor = torch.from_numpy(frames)
        if self.transform is not None:
            tensor, label = self.transform(tensor, label)
        return tensor, label

    @property
    def labels(self) -> np.ndarray:
        targets = getattr(self.dataset, "targets", None)
        if targets is not None and len(targets) == len(self):
            return np.asarray(targets, dtype=np.int64)
        return np.array([self.load(i)[1] for i in range(len(self))], dtype=np.int64)

    def events_per_sample(self) -> np.ndarray:
        return np.array([self.load(i)[2] for i in range(len(self))], dtype=np.int64)


def from_tonic(dataset: Any, T: int, split_by: str = "number", **options: Any) -> TonicFrames:
    """A Tonic dataset (already on disk) as ``(frames [T, 2, H, W], label)`` samples.

    ``split_by``: ``"number"`` or ``"time"`` (see :mod:`mpe_psn.data.frames`). Options:
    ``size`` (frame side or (h, w); default the sensor's), ``sensor`` ((height, width);
    default from ``dataset.sensor_size``), ``cache_dir`` (cache the frames there),
    ``name``, ``transform``.
    """
    return TonicFrames(dataset, T=T, split_by=split_by, **options)


def build(info, split, *, root, T, size, augment, cache_dir, skip_bad, split_by="number", progress=True, **options):
    """The registry's entry point for the ``tonic-*`` datasets (see the module docstring)."""
    check_options(info.name, options, OPTIONS)
    root = require_root(info, root)
    tonic_class = _tonic_class(info)
    try:
        dataset = tonic_class(save_to=str(root), train=(split == "train"))
    except _NoDownload:
        raise missing(info, root, f"Tonic's {tonic_class.__name__} files are not there (Tonic would download them)") from None
    transform = EventAugment(pad=4, hflip=True) if augment else None
    return TonicFrames(dataset, T=T, split_by=split_by, size=size, sensor=info.sensor, cache_dir=cache_dir,
                       name=info.name, split=split, transform=transform)


class _NoDownload(Exception):
    pass


def _refuse_download(self) -> None:
    raise _NoDownload


def _tonic_class(info):
    """Tonic's dataset class for a registry entry, with its download replaced by an error."""
    try:
        import tonic.datasets
    except ImportError as error:
        raise ImportError(f"dataset {info.name!r} needs Tonic: pip install tonic") from error
    base = getattr(tonic.datasets, TONIC_DATASETS[info.name][0])
    return type(base.__name__, (base,), {"download": _refuse_download})


def _sensor_of(dataset: Any) -> tuple[int, int]:
    sensor_size = getattr(dataset, "sensor_size", None)
    if sensor_size is None or len(sensor_size) < 2:
        raise ValueError(
            f"{type(dataset).__name__} has no sensor_size (width, height, polarities); pass sensor=(height, width)"
        )
    return int(sensor_size[1]), int(sensor_size[0])
