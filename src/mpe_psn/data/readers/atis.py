"""ATIS binary recordings (N-MNIST, N-Caltech101): 5 bytes per event.

Bytes of one event, big-endian bit numbering over the 40 bits:

    byte 0: x (8 bits)        byte 1: y (8 bits)
    byte 2: bit 7 = polarity (1 = ON), bits 6..0 = timestamp bits 22..16
    byte 3: timestamp bits 15..8    byte 4: timestamp bits 7..0   (microseconds)

An event with ``y == 240`` is not a pixel event but a timestamp-overflow marker: every later
event's timestamp grows by 2**13 (8192 us), as in the N-MNIST tools. Markers are removed.
A file whose length is not a multiple of 5 is truncated and raises :class:`RecordingError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mpe_psn.data.events import make_events
from mpe_psn.data.readers.errors import RecordingError

__all__ = ["read_atis_bin", "decode_atis", "OVERFLOW_Y", "OVERFLOW_STEP"]

OVERFLOW_Y = 240
OVERFLOW_STEP = 1 << 13


def decode_atis(raw: bytes, source: str = "buffer") -> np.ndarray:
    if len(raw) % 5:
        raise RecordingError(
            f"{source}: {len(raw)} bytes is not a whole number of 5-byte ATIS events (truncated or not an ATIS .bin file)"
        )
    data = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = data[:, 0], data[:, 1]
    p = (data[:, 2] >> 7) & 1
    t = ((data[:, 2] & 0x7F) << 16) | (data[:, 3] << 8) | data[:, 4]
    overflow = y == OVERFLOW_Y
    if overflow.any():
        t = t + OVERFLOW_STEP * np.cumsum(overflow)
        keep = ~overflow
        x, y, p, t = x[keep], y[keep], p[keep], t[keep]
    return make_events(t, x, y, p)


def read_atis_bin(path: "str | os.PathLike[str]") -> np.ndarray:
    """Events of one ATIS ``.bin`` file (see the module docstring)."""
    path = Path(path)
    return decode_atis(path.read_bytes(), str(path))

