"""AEDAT 2.0 (jAER, CIFAR10-DVS) and AEDAT 3.1 (cAER, DVS128 Gesture) recordings.

Both start with text header lines beginning with ``#``; the first names the version
(``#!AER-DAT2.0`` or ``#!AER-DAT3.1``). At most ``MAX_HEADER_BYTES`` of header are read.

AEDAT 2.0: after the header, 8-byte big-endian records (uint32 address, uint32 timestamp
in us). DVS128 address: bit 0 = raw polarity (jAER: 1 = OFF, so ``p = 1 - bit0``), bits 1..7
= x, bits 8..14 = y, bit 15 set = a special (non-pixel) event, which is dropped.

AEDAT 3.1: packets, each a 28-byte little-endian header (int16 eventType, int16
eventSource, int32 eventSize, int32 eventTSOffset, int32 eventTSOverflow, int32
eventCapacity, int32 eventNumber, int32 eventValid) followed by eventCapacity * eventSize
bytes. Polarity packets (eventType 1, eventSize 8) hold (uint32 data, int32 timestamp):
data bit 0 = valid, bit 1 = polarity (1 = ON), bits 2..16 = y, bits 17..31 = x; the full
timestamp is ``eventTSOverflow << 31 | timestamp``. Other packet types are skipped; invalid
events are dropped. Header sizes are checked against the bytes left in the file.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from mpe_psn.data.events import EVENT_DTYPE, make_events
from mpe_psn.data.readers.errors import RecordingError

__all__ = ["read_aedat", "split_header", "decode_aedat2", "decode_aedat31", "POLARITY_EVENT"]

MAX_HEADER_BYTES = 1 << 20
POLARITY_EVENT = 1
_PACKET_HEADER = struct.Struct("<hhiiiiii")
_AEDAT2 = np.dtype([("address", ">u4"), ("t", ">u4")])
_AEDAT31_POLARITY = np.dtype([("data", "<u4"), ("t", "<i4")])


def split_header(raw: bytes, source: str) -> tuple[str, int]:
    """(version string, offset of the first data byte) of an AEDAT 2/3 file."""
    offset = 0
    version = None
    while offset < len(raw) and raw[offset : offset + 1] == b"#":
        end = raw.find(b"\n", offset, offset + MAX_HEADER_BYTES)
        if end < 0 or end > MAX_HEADER_BYTES:
            raise RecordingError(f"{source}: header line not terminated within {MAX_HEADER_BYTES} bytes (corrupt file?)")
        line = raw[offset:end].decode("latin-1").strip()
        if line.startswith("#!AER-DAT"):
            version = line[len("#!AER-DAT") :]
        offset = end + 1
        if line.startswith("#!END-HEADER"):
            break
    if version is None:
        raise RecordingError(f"{source}: no '#!AER-DAT<version>' header line; not an AEDAT 2/3 file")
    return version, offset


def decode_aedat2(payload: bytes, source: str) -> np.ndarray:
    if len(payload) % 8:
        raise RecordingError(f"{source}: {len(payload)} data bytes is not a whole number of 8-byte AEDAT 2.0 events (truncated)")
    records = np.frombuffer(payload, dtype=_AEDAT2)
    address = records["address"].astype(np.int64)
    pixel = (address & 0x8000) == 0
    address = address[pixel]
    t = records["t"][pixel].astype(np.int64)
    return make_events(t, (address >> 1) & 0x7F, (address >> 8) & 0x7F, 1 - (address & 1))


def decode_aedat31(payload: bytes, source: str) -> np.ndarray:
    chunks = []
    offset = 0
    size = len(payload)
    while offset < size:
        if size - offset < _PACKET_HEADER.size:
            raise RecordingError(f"{source}: truncated packet header at byte {offset} of the data")
        etype, _src, esize, _tsoff, overflow, capacity, number, _valid = _PACKET_HEADER.unpack_from(payload, offset)
        offset += _PACKET_HEADER.size
        if esize <= 0 or capacity < 0 or number < 0 or number > capacity or overflow < 0:
            raise RecordingError(
                f"{source}: corrupt packet header at byte {offset - _PACKET_HEADER.size} "
                f"(eventSize {esize}, capacity {capacity}, number {number})"
            )
        length = esize * capacity
        if length > size - offset:
            raise RecordingError(
                f"{source}: packet at byte {offset - _PACKET_HEADER.size} claims {length} bytes but only "
                f"{size - offset} remain (truncated file)"
            )
        if etype == POLARITY_EVENT:
            if esize != 8:
                raise RecordingError(f"{source}: polarity packet with eventSize {esize} (expected 8)")
            records = np.frombuffer(payload, dtype=_AEDAT31_POLARITY, count=number, offset=offset)
            data = records["data"].astype(np.int64)
            valid = (data & 1) == 1
            data = data[valid]
            t = (np.int64(overflow) << 31) | records["t"][valid].astype(np.int64)
            chunks.append(make_events(t, (data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, (data >> 1) & 1))
        offset += length
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)


def read_aedat(path: "str | os.PathLike[str]") -> np.ndarray:
    """Events of an AEDAT 2.0 or 3.1 file (the header says which)."""
    path = Path(path)
    raw = path.read_bytes()
    version, offset = split_header(raw, str(path))
    if version.startswith("2"):
        return decode_aedat2(raw[offset:], str(path))
    if version.startswith("3"):
        return decode_aedat31(raw[offset:], str(path))
    raise RecordingError(f"{path}: AEDAT version {version!r} is not supported here (2.0 and 3.1 are; AEDAT 4 uses .aedat4)")
