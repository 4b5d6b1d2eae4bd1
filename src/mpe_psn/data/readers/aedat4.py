"""AEDAT 4 recordings (DV software; the CIFAR10-DVS AEDAT 4 release), via the ``aedat`` decoder.

The file holds several streams (events, frames, IMU, triggers); the events of the lowest-id
event stream are returned, timestamps as stored (microseconds since the epoch). The decoder
(the optional ``events`` extra: ``pip install aedat``) checks the file's structure; any
failure is re-raised as :class:`RecordingError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mpe_psn.data.events import EVENT_DTYPE, make_events
from mpe_psn.data.readers.errors import RecordingError

__all__ = ["read_aedat4"]


def read_aedat4(path: "str | os.PathLike[str]") -> np.ndarray:
    try:
        import aedat
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("reading AEDAT 4 files needs the 'aedat' decoder: pip install 'mpe-psn[events]'") from error
    path = Path(path)
    try:
        decoder = aedat.Decoder(str(path))
        streams = [sid for sid, info in decoder.id_to_stream().items() if info.get("type") == "events"]
        if not streams:
            raise RecordingError(f"{path}: the AEDAT 4 file has no event stream")
        target = min(streams)
        chunks = [packet["events"] for packet in decoder if packet["stream_id"] == target and "events" in packet]
    except RecordingError:
        raise
    except Exception as error:  # the decoder raises plain exceptions on corrupt files
        raise RecordingError(f"{path}: cannot decode AEDAT 4 file ({type(error).__name__}: {error})") from error
    if not chunks:
        return np.empty(0, dtype=EVENT_DTYPE)
    ev = np.concatenate(chunks)
    return make_events(ev["t"].astype(np.int64), ev["x"], ev["y"], ev["on"].astype(np.uint8))
