"""Readers of event-camera recordings; :func:`read_events` picks one by file name and header."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["read_events", "RecordingError"]


from mpe_psn.data.readers.aedat import read_aedat
from mpe_psn.data.readers.aedat4 import read_aedat4
from mpe_psn.data.readers.atis import read_atis_bin
from mpe_psn.data.readers.errors import RecordingError
from mpe_psn.data.readers.tonic_npy import read_tonic_gesture_npy


def read_events(path: "str | os.PathLike[str]") -> np.ndarray:
    """All events of one recording as an ``EVENT_DTYPE`` array in file order.

    Supported: ``.bin`` (ATIS, N-Caltech101/N-MNIST), ``.aedat`` (AEDAT 2.0 of CIFAR10-DVS
    and AEDAT 3.1 of DVS128 Gesture, told apart by the header), ``.aedat4`` (AEDAT 4),
    ``.npy`` (Tonic's DVS Gesture layout: x, y, p, t in ms).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recording at {path}")
    suffix = path.suffix.lower()
    if suffix == ".bin":
        return read_atis_bin(path)
    if suffix == ".aedat":
        return read_aedat(path)
    if suffix == ".aedat4":
        return read_aedat4(path)
    if suffix == ".npy":
        return read_tonic_gesture_npy(path)
    raise RecordingError(f"{path}: unknown recording format {suffix!r} (expected .bin, .aedat, .aedat4 or .npy)")
