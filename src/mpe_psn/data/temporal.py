"""Temporal spike data ([T, channels] frames): binning, true lengths, the time-shuffle control.

A temporal dataset (the Spiking Heidelberg Digits, the built-in temporal task) stores each
sample as a list of spikes ``(time in seconds, channel)``; all samples of a split live in three
flat arrays (compressed sparse rows)::

    times    float32 [S]   spike times in seconds, >= 0
    units    int     [S]   channel of each spike, in [0, channels) (kept in its own dtype, uint16 in SHD)
    offsets  int64   [N+1] sample i owns spikes offsets[i]:offsets[i+1]

An item is binned when it is read, so one cache serves every T and bin width:
frame ``t`` counts the spikes with ``t * dt <= time < (t + 1) * dt`` (spikes at or after
``T * dt`` are dropped). A sample shorter than ``T * dt`` is padded with empty steps. Its *true
length* is ``1 +`` the last step with a spike (0 for a sample without spikes in the window):
that is all a spike file says about where a sample ends, and it is the same number that
:func:`mpe_psn.models.batches.input_lengths` reads back from a padded batch.

``shuffle_time=True`` is the control for "does the model use time": the true-length steps of
each sample are permuted (a fixed permutation per sample and seed), which keeps every
channel's spike count and destroys order and intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["bin_spikes", "true_length", "TemporalSpikes", "resolve_bins", "bin_width", "TEMPORAL_OPTIONS"]

#: Options every temporal dataset takes (besides its own).
TEMPORAL_OPTIONS = ("dt", "duration", "shuffle_time", "shuffle_seed")


def resolve_bins(T: int, dt: "float | None", duration: float) -> float:
    """The bin width in seconds: ``dt`` if given, else ``duration / T``."""
    for name, value in (("duration", duration),) + ((("dt", dt),) if dt is not None else ()):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(dt) if dt is not None else float(duration) / T


def bin_width(name: str, T: int, dt: "float | None", duration: "float | None", default_duration: float) -> float:
    """The bin width of dataset ``name`` at ``T`` steps: ``dt``, or ``duration`` (else
    ``default_duration``) / T; ``dt`` with a ``duration`` other than ``T * dt`` is an error."""
    if dt is not None and duration is not None and not np.isclose(T * dt, duration, rtol=1e-9, atol=0):
        raise ValueError(f"dataset {name!r}: give dt or duration, not both (T * dt = {T * dt:g} s but "
                         f"duration = {duration:g} s)")
    return resolve_bins(T, dt, duration if duration is not None else default_duration)


def bin_spikes(times: np.ndarray, units: np.ndarray, T: int, dt: float, channels: int) -> np.ndarray:
    """Spike counts float32 [T, channels]: frame ``t`` counts spikes with ``t*dt <= time < (t+1)*dt``."""
    steps = np.floor(np.asarray(times, dtype=np.float64) / dt).astype(np.int64)
    keep = (steps >= 0) & (steps < T)
    flat = steps[keep] * channels + np.asarray(units, dtype=np.int64)[keep]
    return np.bincount(flat, minlength=T * channels).astype(np.float32).reshape(T, channels)


def true_length(frames: "np.ndarray | torch.Tensor") -> int:
    """1 + the last step of ``frames [T, ...]`` with any spike; 0 for a sample without spikes."""
    active = np.flatnonzero(np.asarray(frames).reshape(frames.shape[0], -1).any(axis=1))
    return int(active[-1]) + 1 if active.size else 0


def _lengths(times: np.ndarray, offsets: np.ndarray, T: int, dt: float) -> np.ndarray:
    """1 + the last step < T with a spike, per sample of CSR spikes (0 for a sample without one)."""
    steps = np.floor(times.astype(np.float64) / dt)
    steps[steps >= T] = -1  # after the window: not part of the sample's frames
    counts = np.diff(offsets)
    last = np.full(counts.shape[0], -1.0)
    filled = counts > 0
    if steps.size:
        last[filled] = np.maximum.reduceat(steps, offsets[:-1][filled])
    return (last + 1).astype(np.int64)


class TemporalSpikes(torch.utils.data.Dataset):
    """Items ``(frames float32 [T, channels], label int)`` binned on read from CSR spike arrays.

    ``lengths`` (int64 [N]) holds every sample's true length at this T and bin width.
    """

    def __init__(self, name: str, class_names: tuple[str, ...], times: np.ndarray, units: np.ndarray,
                 offsets: np.ndarray, labels: np.ndarray, *, T: int, dt: float, channels: int,
                 shuffle_time: bool = False, shuffle_seed: int = 0) -> None:
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"T must be a positive int, got {T!r}")
        self.name, self.class_names = name, tuple(class_names)
        self.times = np.asarray(times, dtype=np.float32)
        self.units = np.asarray(units)
        if not np.issubdtype(self.units.dtype, np.integer):
            raise ValueError(f"units must be integers, got dtype {self.units.dtype}")
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.offsets.shape != (self.labels.shape[0] + 1,) or self.offsets[0] != 0 or self.offsets[-1] != self.times.shape[0]:
            raise ValueError("offsets must have N + 1 entries from 0 to the number of spikes")
        self.T, self.dt, self.channels = T, float(dt), int(channels)
        self.shuffle_time, self.shuffle_seed = bool(shuffle_time), int(shuffle_seed)
        self.skipped = 0
        self.lengths = _lengths(self.times, self.offsets, T, self.dt)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def spikes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (seconds) and channels of sample ``index``."""
        lo, hi = self.offsets[index], self.offsets[index + 1]
        return self.times[lo:hi], self.units[lo:hi]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index %= len(self)
        frames = bin_spikes(*self.spikes(index), self.T, self.dt, self.channels)
        if self.shuffle_time:
            n = int(self.lengths[index])
            order = np.random.default_rng([self.shuffle_seed, index, 0x7135]).permutation(n)
            frames[:n] = frames[order]
        return torch.from_numpy(frames), int(self.labels[index])

    def describe(self) -> dict[str, Any]:
        """What the frames are: T, bin width, channels, mean true length, spikes per sample."""
        return {"T": self.T, "dt": self.dt, "channels": self.channels, "samples": len(self),
                "mean_length": float(self.lengths.mean()) if len(self) else 0.0,
                "spikes_per_sample": float(np.diff(self.offsets).mean()) if len(self) else 0.0,
                "shuffle_time": self.shuffle_time}
