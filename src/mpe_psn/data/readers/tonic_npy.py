"""Tonic's prepared DVS Gesture layout: ``ibmGesture{Train,Test}/userNN_<light>/<label>.npy``.

Each file is an [N, 4] array of (x, y, p, t) with t in milliseconds; loaded with
``allow_pickle=False`` and converted to microseconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mpe_psn.data.events import make_events
from mpe_psn.data.readers.errors import RecordingError

__all__ = ["read_tonic_gesture_npy"]


def read_tonic_gesture_npy(path: "str | os.PathLike[str]") -> np.ndarray:
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise RecordingError(f"{path}: not a readable .npy array ({error})") from error
    if array.ndim != 2 or array.shape[1] != 4:
        raise RecordingError(f"{path}: expected an [N, 4] array of (x, y, p, t), got shape {array.shape}")
    p = array[:, 2].astype(np.int64)
    if len(p) and not np.isin(p, (0, 1)).all():
        raise RecordingError(f"{path}: polarity column holds values other than 0 and 1")
    t_us = np.round(array[:, 3].astype(np.float64) * 1000).astype(np.int64)
    return make_events(t_us, array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), p)
