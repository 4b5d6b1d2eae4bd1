"""A split of an event-camera dataset as frames, converted once and cached per sample.

A sample is a recording file, a label and optionally a time window [start, end) in the
recording (DVS Gesture cuts each recording into its gestures). On construction every
sample without a cache entry is converted (one read per recording, a progress bar), so that
bad recordings are found before training: they raise :class:`RecordingError` naming the
file, or with ``skip_bad=True`` are left out with a warning and counted in ``skipped``.

Conversion: read -> drop events outside the sensor, sort timestamps if needed
(:func:`mpe_psn.data.events.sanitize_events`) -> cut the window -> integrate T frames
(:func:`mpe_psn.data.frames.integrate_events`) -> resize to ``size`` -> cache (float32).
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from mpe_psn.data.cache import cache_path, load_entry, save_entry
from mpe_psn.data.events import sanitize_events
from mpe_psn.data.frames import integrate_events, resize_frames
from mpe_psn.data.readers import RecordingError, read_events

__all__ = ["SampleRef", "EventFramesDataset", "FRAMES_VERSION", "natural_key"]

#: Bumped whenever the conversion's output changes (old cache entries are then not reused).
FRAMES_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SampleRef:
    path: str
    label: int
    window: tuple[int, int] | None = None  # [start, end) in the recording's microseconds


def natural_key(name: str) -> tuple:
    """Sort key that orders ``img_2`` before ``img_10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


class EventFramesDataset(torch.utils.data.Dataset):
    """Frames [T, 2, H, W] float32 and labels of ``samples`` (see the module docstring)."""

    def __init__(
        self,
        name: str,
        split: str,
        samples: Sequence[SampleRef],
        *,
        sensor: tuple[int, int],
        T: int,
        size: tuple[int, int],
        split_by: str = "number",
        transform: Callable[[torch.Tensor, int], tuple[torch.Tensor, int]] | None = None,
        cache_dir=None,
        skip_bad: bool = False,
        reader: Callable[[str], np.ndarray] = read_events,
        progress: bool = True,
    ) -> None:
        self.name, self.split = name, split
        self.sensor, self.T, self.size, self.split_by = tuple(sensor), int(T), tuple(size), split_by
        self.transform = transform
        self.cache_dir = cache_dir
        self.reader = reader
        self.skipped = 0
        self.skipped_files: list[str] = []
        self.stats = {"outside": 0, "unsorted": 0}  # what the conversion fixed (new entries only)
        self._file_ids: dict[str, dict] = {}
        self.samples = self._prepare(list(samples), skip_bad, progress)
        self.labels = np.array([s.label for s in self.samples], dtype=np.int64)

    # -- cache keys -------------------------------------------------------------------
    def _file_id(self, path: str) -> dict:
        if path not in self._file_ids:
            st = os.stat(path)
            self._file_ids[path] = {"file": str(Path(path).resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        return self._file_ids[path]

    def entry_params(self, sample: SampleRef) -> dict:
        return {
            "dataset": self.name,
            "frames_version": FRAMES_VERSION,
            **self._file_id(sample.path),
            "window": list(sample.window) if sample.window is not None else None,
            "label": sample.label,
            "T": self.T,
            "size": list(self.size),
            "sensor": list(self.sensor),
            "split_by": self.split_by,
        }

    def _entry_path(self, sample: SampleRef) -> Path:
        return cache_path(self.cache_dir, self.name, self.entry_params(sample))

    # -- conversion -------------------------------------------------------------------
    def _convert(self, sample: SampleRef, events: np.ndarray) -> dict[str, np.ndarray]:
        if sample.window is not None:
            start, end = sample.window
            events = events[(events["t"] >= start) & (events["t"] < end)]
        counts = integrate_events(events, self.T, self.sensor[0], self.sensor[1], self.split_by)
        frames = resize_frames(torch.from_numpy(counts).float(), self.size).numpy().astype(np.float32)
        return {"frames": frames, "events": np.array([events.shape[0]], dtype=np.int64)}

    def _read(self, path: str) -> tuple[np.ndarray, dict]:
        events = self.reader(path)
        events, issues = sanitize_events(events, self.sensor[0], self.sensor[1], source=path)
        return events, issues

    def _prepare(self, samples: list[SampleRef], skip_bad: bool, progress: bool) -> list[SampleRef]:
        missing: dict[str, list[SampleRef]] = defaultdict(list)
        for sample in samples:
            if not self._entry_path(sample).is_file():
                missing[sample.path].append(sample)
        bad: set[str] = set()
        groups = list(missing.items())
        if progress and groups:
            groups = tqdm(groups, desc=f"{self.name} {self.split}: converting", unit="file")
        for path, group in groups:
            try:
                events, issues = self._read(path)
            except (RecordingError, OSError) as error:
                if not skip_bad:
                    raise
                warnings.warn(f"skipping bad recording: {error}", stacklevel=3)
                bad.add(path)
                continue
            self.stats["outside"] += issues["outside"]
            self.stats["unsorted"] += issues["unsorted"]
            for sample in group:
                arrays = self._convert(sample, events)
                save_entry(self._entry_path(sample), arrays, self.entry_params(sample), compress=True)
        if bad:
            self.skipped_files = sorted(bad)
            kept = [s for s in samples if s.path not in bad]
            self.skipped = len(samples) - len(kept)
            return kept
        return samples

    # -- access ------------------------------------------------------------------------
    def load(self, index: int) -> tuple[np.ndarray, int]:
        """(frames float32 [T, 2, H, W], events in the sample) from the cache, rebuilt if needed."""
        sample = self.samples[index]
        params = self.entry_params(sample)
        path = cache_path(self.cache_dir, self.name, params)
        arrays = load_entry(path, params)
        if arrays is None:
            events, _ = self._read(sample.path)
            arrays = self._convert(sample, events)
            save_entry(path, arrays, params, compress=True)
        return arrays["frames"], int(arrays["events"][0])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, _ = self.load(index)
        tensor, label = torch.from_numpy(frames), int(self.samples[index].label)
        if self.transform is not None:
            tensor, label = self.transform(tensor, label)
        return tensor, label

    def events_per_sample(self) -> np.ndarray:
        return np.array([self.load(i)[1] for i in range(len(self))], dtype=np.int64)
