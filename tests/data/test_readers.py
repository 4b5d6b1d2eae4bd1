"""Readers on small fake files in the real binary formats, on the shared real recordings, and
against Tonic / the aedat decoder where installed."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from mpe_psn.data import read_events
from mpe_psn.data.events import make_events
from mpe_psn.data.readers import RecordingError
from mpe_psn.data.readers.cifar_pickle import read_cifar_batch, safe_load_pickle
from tests.data.fakes import (
    aedat31_packet, other_packet, random_events, write_aedat2, write_aedat31, write_atis, write_cifar_batch,
)


def assert_same(got, expected):
    for field in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(got[field], expected[field], err_msg=field)


# -- ATIS .bin --------------------------------------------------------------------------
def atis_events(n=300):
    ev = random_events(n, height=180, width=240, seed=1, t_max=(1 << 23) + 3 * 8192)
    ev["x"][:2], ev["y"][:2] = (0, 239), (0, 179)  # extreme coordinates
    return ev


def test_atis_round_trip_with_overflow(tmp_path):
    ev = atis_events()  # times beyond 2**23: only representable through overflow markers
    _write_with_markers(tmp_path / "a.bin", ev)
    assert_same(read_events(tmp_path / "a.bin"), ev)


def _write_with_markers(path, ev):
    """Encode with markers so that each stored timestamp is t mod 8192 (what ATIS cameras do)."""
    out = bytearray()
    epoch = 0
    for e in ev:
        while int(e["t"]) >> 13 > epoch:
            out += bytes([0, 240, 0, 0, 0])
            epoch += 1
        t = int(e["t"]) & 0x1FFF
        out += bytes([int(e["x"]), int(e["y"]), (int(e["p"]) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    path.write_bytes(bytes(out))


def test_atis_plain_fields(tmp_path):
    ev = make_events([0, 9000, (1 << 23) - 1], [0, 255, 7], [0, 239, 15], [0, 1, 1])
    write_atis(tmp_path / "b.bin", ev)
    assert_same(read_events(tmp_path / "b.bin"), ev)
    write_atis(tmp_path / "c.bin", ev, overflow_after=(0,))
    assert_same(read_events(tmp_path / "c.bin"), ev)


def test_atis_matches_tonic(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    ev = atis_events()
    _write_with_markers(tmp_path / "a.bin", ev)
    ref = tonic_io.read_mnist_file(str(tmp_path / "a.bin"), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    assert_same(read_events(tmp_path / "a.bin"), ref)


def test_atis_truncated(tmp_path):
    write_atis(tmp_path / "a.bin", atis_events(10))
    data = (tmp_path / "a.bin").read_bytes()
    (tmp_path / "t.bin").write_bytes(data[:-2])
    with pytest.raises(RecordingError, match=r"t\.bin.*not a whole number of 5-byte"):
        read_events(tmp_path / "t.bin")


def test_atis_real_sample(real_samples):
    ev = read_events(real_samples / "nmnist_sample.bin")
    assert len(ev) == 4325
    assert (int(ev[0]["x"]), int(ev[0]["y"]), int(ev[0]["t"]), int(ev[0]["p"])) == (7, 15, 654, 1)
    assert ev["t"].min() == 654 and ev["t"].max() == 311_175 and ev["x"].max() <= 33 and ev["y"].max() <= 33
    tonic_io = pytest.importorskip("tonic.io")
    ref = tonic_io.read_mnist_file(str(real_samples / "nmnist_sample.bin"), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    assert_same(ev, ref)


# -- AEDAT 2.0 ----------------------------------------------------------------------------
def test_aedat2_round_trip(tmp_path):
    ev = random_events(300, height=128, width=128, seed=2, t_max=1 << 31)
    ev["x"][:2], ev["y"][:2] = (0, 127), (127, 0)
    write_aedat2(tmp_path / "r.aedat", ev, specials=3)
    assert_same(read_events(tmp_path / "r.aedat"), ev)  # special events dropped


def test_aedat2_matches_tonic_records(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    ev = random_events(200, height=128, width=128, seed=3)
    write_aedat2(tmp_path / "r.aedat", ev)
    version, start, _ = tonic_io.read_aedat_header_from_file(str(tmp_path / "r.aedat"))
    raw = tonic_io.get_aer_events_from_file(str(tmp_path / "r.aedat"), version, start)
    got = read_events(tmp_path / "r.aedat")
    np.testing.assert_array_equal(got["t"], raw["timeStamp"])
    np.testing.assert_array_equal(got["x"], (raw["address"] >> 1) & 0x7F)
    np.testing.assert_array_equal(got["y"], (raw["address"] >> 8) & 0x7F)


def test_aedat2_truncated_and_bad_header(tmp_path):
    write_aedat2(tmp_path / "r.aedat", random_events(20, 128, 128))
    data = (tmp_path / "r.aedat").read_bytes()
    (tmp_path / "t.aedat").write_bytes(data[:-3])
    with pytest.raises(RecordingError, match=r"t\.aedat.*truncated"):
        read_events(tmp_path / "t.aedat")
    (tmp_path / "n.aedat").write_bytes(b"no header here")
    with pytest.raises(RecordingError, match=r"n\.aedat.*AER-DAT"):
        read_events(tmp_path / "n.aedat")


# -- AEDAT 3.1 ----------------------------------------------------------------------------
def test_aedat31_round_trip(tmp_path):
    ev = random_events(300, height=128, width=128, seed=4, t_max=1 << 30)
    ev["x"][:2], ev["y"][:2] = (0, 127), (127, 0)
    late = random_events(50, height=128, width=128, seed=5, t_max=1000)
    packets = [aedat31_packet(ev[:120], invalid=4, spare=2), other_packet(), aedat31_packet(ev[120:]),
               aedat31_packet(late, overflow=2)]
    write_aedat31(tmp_path / "g.aedat", packets)
    got = read_events(tmp_path / "g.aedat")
    late_expected = late.copy()
    late_expected["t"] += 2 << 31
    assert_same(got, np.concatenate([ev, late_expected]))


def test_aedat31_matches_tonic_records(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    ev = random_events(200, height=128, width=128, seed=6)
    write_aedat31(tmp_path / "g.aedat", [aedat31_packet(ev[:90]), aedat31_packet(ev[90:])])
    version, start, _ = tonic_io.read_aedat_header_from_file(str(tmp_path / "g.aedat"))
    raw = tonic_io.get_aer_events_from_file(str(tmp_path / "g.aedat"), version, start)
    got = read_events(tmp_path / "g.aedat")
    np.testing.assert_array_equal(got["t"], raw["timeStamp"])
    np.testing.assert_array_equal(got["x"], (raw["address"] >> 17) & 0x1FFF)
    np.testing.assert_array_equal(got["y"], (raw["address"] >> 2) & 0x1FFF)
    np.testing.assert_array_equal(got["p"], (raw["address"] >> 1) & 1)


def test_aedat31_truncated_and_corrupt(tmp_path):
    ev = random_events(40, 128, 128)
    write_aedat31(tmp_path / "g.aedat", [aedat31_packet(ev)])
    data = (tmp_path / "g.aedat").read_bytes()
    (tmp_path / "t.aedat").write_bytes(data[:-8])
    with pytest.raises(RecordingError, match=r"t\.aedat.*only .* remain \(truncated"):
        read_events(tmp_path / "t.aedat")
    from tests.data.fakes import AEDAT31_HEADER

    (tmp_path / "h.aedat").write_bytes(data[: len(AEDAT31_HEADER) + 10])  # cut inside the packet header
    with pytest.raises(RecordingError, match=r"h\.aedat.*truncated packet header"):
        read_events(tmp_path / "h.aedat")
    huge = aedat31_packet(ev)
    huge = huge[:20] + (2**31 - 1).to_bytes(4, "little", signed=True) + huge[24:]  # eventNumber > capacity
    write_aedat31(tmp_path / "c.aedat", [huge])
    with pytest.raises(RecordingError, match=r"c\.aedat.*corrupt packet header"):
        read_events(tmp_path / "c.aedat")
    big = aedat31_packet(ev)
    big = big[:16] + (2**31 - 1).to_bytes(4, "little") + big[20:]  # capacity claims ~16 GiB
    write_aedat31(tmp_path / "b.aedat", [big])
    with pytest.raises(RecordingError, match=r"b\.aedat.*claims"):
        read_events(tmp_path / "b.aedat")


# -- AEDAT 4 (real file, via the aedat decoder) ------------------------------------------
def test_aedat4_real_sample(real_samples, tmp_path):
    pytest.importorskip("aedat")
    ev = read_events(real_samples / "sample.aedat4")
    assert len(ev) == 111_954
    assert ev["t"][0] == 1_605_537_493_718_345
    assert ev["x"].max() < 320 and ev["y"].max() < 240 and set(np.unique(ev["p"])) == {0, 1}
    tonic_io = pytest.importorskip("tonic.io")
    ref = tonic_io.read_aedat4(str(real_samples / "sample.aedat4"))
    np.testing.assert_array_equal(ev["t"], ref["t"])
    np.testing.assert_array_equal(ev["x"], ref["x"])
    np.testing.assert_array_equal(ev["p"], ref["on"].astype(np.uint8))
    data = (real_samples / "sample.aedat4").read_bytes()
    (tmp_path / "cut.aedat4").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=r"cut\.aedat4"):
        read_events(tmp_path / "cut.aedat4")


# -- Tonic's DVS Gesture .npy, unknown formats --------------------------------------------
def test_tonic_npy_and_unknown(tmp_path):
    xypt = np.array([[1, 2, 1, 0.5], [127, 0, 0, 12.0]], dtype=np.float64)
    np.save(tmp_path / "3.npy", xypt)
    ev = read_events(tmp_path / "3.npy")
    assert ev["t"].tolist() == [500, 12000] and ev["x"].tolist() == [1, 127] and ev["p"].tolist() == [1, 0]
    (tmp_path / "x.dat").write_bytes(b"")
    with pytest.raises(RecordingError, match="unknown recording format"):
        read_events(tmp_path / "x.dat")
    with pytest.raises(FileNotFoundError, match="no recording"):
        read_events(tmp_path / "absent.bin")


# -- CIFAR pickles --------------------------------------------------------------------------
def test_cifar_batch_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(7, 3072), dtype=np.uint8)
    write_cifar_batch(tmp_path / "data_batch_1", data, [0, 1, 2, 3, 4, 5, 9])
    images, labels = read_cifar_batch(tmp_path / "data_batch_1", "labels", 10)
    assert images.shape == (7, 32, 32, 3) and labels.tolist() == [0, 1, 2, 3, 4, 5, 9]
    np.testing.assert_array_equal(images[2, :, :, 1].reshape(-1), data[2, 1024:2048])  # channel-major rows


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch should_not_exist",))


def test_cifar_refuses_code_in_pickles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    with pytest.raises(RecordingError, match=r"evil.*refusing to load (posix|os|nt)\.system"):
        safe_load_pickle(tmp_path / "evil")
    assert not (tmp_path / "should_not_exist").exists()


def test_cifar_bad_batches(tmp_path):
    write_cifar_batch(tmp_path / "b", np.zeros((2, 3072), np.uint8), [0, 10])
    with pytest.raises(RecordingError, match="labels outside 0..9"):
        read_cifar_batch(tmp_path / "b", "labels", 10)
    write_cifar_batch(tmp_path / "s", np.zeros((2, 100), np.uint8), [0, 1])
    with pytest.raises(RecordingError, match=r"uint8 \[N, 3072\]"):
        read_cifar_batch(tmp_path / "s", "labels", 10)
    data = (tmp_path / "s").read_bytes()
    (tmp_path / "t").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match="cannot read the pickle"):
        read_cifar_batch(tmp_path / "t", "labels", 10)
