"""The splits of the built-in dataset: which clip each (seed, split, index) is, and a whole split as frames.

Sample ``index`` of a split has class ``index % 10`` (balanced classes) and its own random
stream, seeded by (seed, split, index), so every sample is a pure function of those three and
any sample can be made alone, in any order, in any process.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from mpe_psn.data.frames import integrate_events
from mpe_psn.data.synthetic_camera import CLASS_NAMES, SyntheticConfig, camera_events

__all__ = ["SPLITS", "synthetic_events", "generate_split"]

#: split -> its random stream (part of every sample's seed)
SPLITS = {"train": 0, "test": 1}


def _sample_rng(config: SyntheticConfig, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, SPLITS[split], index, 0x5E7])


def synthetic_events(config: SyntheticConfig, split: str, index: int) -> tuple[np.ndarray, int]:
    """The events (time-sorted ``EVENT_DTYPE`` array) and label of one sample."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    label = index % len(CLASS_NAMES)
    return camera_events(config, label, _sample_rng(config, split, index)), label


def generate_split(config: SyntheticConfig, split: str, progress: bool = False) -> dict[str, np.ndarray]:
    """Frames (uint8 [N, T, 2, size, size]), labels (int64 [N]) and events per sample (int64 [N])."""
    n = config.num_train if split == "train" else config.num_test
    frames = np.zeros((n, config.T, 2, config.size, config.size), dtype=np.uint8)
    labels = np.zeros(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    indices = range(n)
    if progress:
        indices = tqdm(indices, desc=f"synthetic {split}", unit="sample", leave=False)
    for i in indices:
        events, labels[i] = synthetic_events(config, split, i)
        counts[i] = events.shape[0]
        f = integrate_events(events, config.T, config.size, config.size, "time")
        frames[i] = np.minimum(f, 255)
    return {"frames": frames, "labels": labels, "events": counts}
