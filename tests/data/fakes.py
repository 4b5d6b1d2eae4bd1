"""Writers of small fake recordings in the real binary formats, for the reader tests."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

from mpe_psn.data.events import make_events


def random_events(n: int, height: int = 16, width: int = 20, seed: int = 0, t_max: int = 100_000) -> np.ndarray:
    """Sorted random events covering every field's range."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, size=n))
    return make_events(t, rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n))


def write_atis(path: Path, events: np.ndarray, overflow_after: tuple[int, ...] = ()) -> None:
    """ATIS .bin; an overflow marker (y = 240) is inserted after each listed event index and the
    later events' stored timestamps are reduced by 2**13 per marker, as a camera would write them."""
    out = bytearray()
    shift = 0
    for i, e in enumerate(events):
        t = int(e["t"]) - shift
        assert 0 <= t < 1 << 23
        out += bytes([int(e["x"]), int(e["y"]), (int(e["p"]) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
        if i in overflow_after:
            out += bytes([0, 240, 0, 0, 0])
            shift += 1 << 13
    path.write_bytes(bytes(out))


def write_aedat2(path: Path, events: np.ndarray, specials: int = 0) -> None:
    """jAER AEDAT 2.0 of a DVS128: big-endian (address, timestamp); specials have bit 15 set."""
    out = bytearray(b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format is int32 address, int32 timestamp\r\n")
    for e in events:
        address = (int(e["y"]) << 8) | (int(e["x"]) << 1) | (1 - int(e["p"]))
        out += struct.pack(">II", address, int(e["t"]))
    for k in range(specials):
        out += struct.pack(">II", 0x8000 | k, int(events["t"][-1]) + k)
    path.write_bytes(bytes(out))


AEDAT31_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01\r\n#!END-HEADER\r\n"


def aedat31_packet(events: np.ndarray, overflow: int = 0, invalid: int = 0, spare: int = 0) -> bytes:
    """One polarity packet: ``invalid`` extra events with the valid bit clear, ``spare`` unused slots."""
    body = bytearray()
    for e in events:
        data = (int(e["x"]) << 17) | (int(e["y"]) << 2) | (int(e["p"]) << 1) | 1
        body += struct.pack("<Ii", data, int(e["t"]) & 0x7FFFFFFF)
    for k in range(invalid):
        body += struct.pack("<Ii", (5 << 17) | (5 << 2), k)
    number = len(events) + invalid
    body += bytes(8 * spare)
    header = struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, number + spare, number, len(events))
    return header + bytes(body)


def other_packet(n: int = 3, size: int = 12) -> bytes:
    """A packet of another event type (e.g. IMU) that readers must skip."""
    return struct.pack("<hhiiiiii", 3, 1, size, 4, 0, n, n, n) + bytes(range(n * size))


def write_aedat31(path: Path, packets: list[bytes]) -> None:
    path.write_bytes(AEDAT31_HEADER + b"".join(packets))


def write_cifar_batch(path: Path, data: np.ndarray, labels, label_key: str = "labels") -> None:
    """A CIFAR-style batch: a dict with bytes keys, pickled at protocol 2 like the originals."""
    batch = {b"batch_label": b"fake batch", label_key.encode(): list(labels), b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]}
    path.write_bytes(pickle.dumps(batch, protocol=2))
