"""SHD / SSC from HDF5: frames against an independent binning, the cache, every bad-file case,
missing files, options, and a cross-check against Tonic's reader (all on small fake files in
the published layout, see tests/data/fakes_hdf5.py)."""

from __future__ import annotations

import gzip
import math
import os
import struct
import sys
import time

import h5py
import numpy as np
import pytest
import torch

from mpe_psn.data import build_dataset, dataset_info
from mpe_psn.data.registry import check_dataset_options
from mpe_psn.data import shd
from mpe_psn.data.readers import hdf5_spikes
from mpe_psn.data.readers.errors import RecordingError
from mpe_psn.data.sources import DatasetNotFoundError
from tests.data.fakes_hdf5 import KEYS, fake_samples, write_fake_split, write_shd_folder, write_spike_file

CH = 700


def reference(times, units, T, dt):
    """Plain-loop binning: frame k counts the spikes with k*dt <= t < (k+1)*dt; true length."""
    frames = np.zeros((T, CH), dtype=np.float32)
    last = -1
    for t, u in zip(times, units):
        k = math.floor(float(np.float32(t)) / dt)
        if 0 <= k < T:
            frames[k, int(u)] += 1
            last = max(last, k)
    return frames, last + 1


def build(root, tmp_path, split="train", name="shd", **kwargs):
    kwargs.setdefault("progress", False)
    return build_dataset(name, split, root=root, cache_dir=tmp_path / "cache", **kwargs)


def assert_matches(dataset, times, units, labels, T, dt):
    assert len(dataset) == len(labels)
    for i in range(len(labels)):
        frames, label = dataset[i]
        expected, length = reference(times[i], units[i], T, dt)
        assert frames.dtype == torch.float32 and frames.shape == (T, CH)
        np.testing.assert_array_equal(frames.numpy(), expected, err_msg=f"sample {i}")
        assert label == int(labels[i]) and dataset.lengths[i] == length
        assert not frames[length:].any()  # padding after the true length is zeros


# -- frames -----------------------------------------------------------------------------
def test_frames_equal_independent_binning(tmp_path):
    times, units, labels = write_fake_split(tmp_path / "shd_train.h5", 30, seed=1)
    ds = build(tmp_path, tmp_path, T=40)
    assert ds.dt == pytest.approx(1.0 / 40) and ds.split == "train" and ds.skipped == 0
    assert_matches(ds, times, units, labels, 40, 1.0 / 40)
    late = sum(int((np.asarray(t, np.float32) >= 1.0).sum()) for t in times)
    assert late > 0  # the fake has spikes after the 1 s window: they are dropped
    kept = sum(int((np.asarray(t, np.float32) < 1.0).sum()) for t in times)
    assert sum(float(ds[i][0].sum()) for i in range(len(ds))) == kept
    assert any(ds.lengths == 0) and any((ds.lengths > 0) & (ds.lengths < 40))  # empty and short samples


def test_custom_dt_and_duration(tmp_path):
    times, units, labels = write_fake_split(tmp_path / "shd_train.h5", 20, seed=2)
    assert_matches(build(tmp_path, tmp_path, T=60, dt=0.005), times, units, labels, 60, 0.005)  # window 0.3 s
    assert_matches(build(tmp_path, tmp_path, T=25, duration=0.5), times, units, labels, 25, 0.02)
    assert build(tmp_path, tmp_path, T=10, dt=0.05, duration=0.5).dt == 0.05  # consistent: accepted
    with pytest.raises(ValueError, match="not both"):
        build(tmp_path, tmp_path, T=10, dt=0.05, duration=1.0)


def test_float32_times_and_ssc(tmp_path):
    times, units, labels = fake_samples(36, num_classes=35, seed=3, times_dtype=np.float32)
    write_spike_file(tmp_path / "ssc_test.h5", times, units, labels, times_dtype=np.float32, keys=KEYS["ssc"])
    ds = build(tmp_path, tmp_path, split="test", name="ssc", T=30)
    assert ds.labels.max() == 34 and ds.class_names == dataset_info("ssc").class_names
    assert_matches(ds, times, units, labels, 30, 1.0 / 30)


def test_build_dataset_and_loader_shapes(tmp_path):
    write_shd_folder(tmp_path, n_train=12, n_test=6)
    train, test = build(tmp_path, tmp_path, T=16), build(tmp_path, tmp_path, split="test", T=16)
    assert (len(train), len(test)) == (12, 6)
    x, y = next(iter(torch.utils.data.DataLoader(train, batch_size=5, shuffle=False)))
    assert x.shape == (5, 16, CH) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.tolist() == [0, 1, 2, 3, 4]


def test_shuffle_time_options_reach_the_dataset(tmp_path):
    write_fake_split(tmp_path / "shd_train.h5", 10, seed=4)
    plain = build(tmp_path, tmp_path, T=20)
    shuffled = build(tmp_path, tmp_path, T=20, shuffle_time=True, shuffle_seed=3)
    assert shuffled.shuffle_time and shuffled.shuffle_seed == 3
    for i in range(10):
        a, b = plain[i][0], shuffled[i][0]
        assert torch.equal(a.sum(0), b.sum(0))  # each channel's count is kept
        assert not b[int(plain.lengths[i]):].any()


# -- cache ------------------------------------------------------------------------------
def test_cache_round_trip_and_changed_file(tmp_path, monkeypatch):
    path = tmp_path / "shd_train.h5"
    times, units, labels = write_fake_split(path, 15, seed=5)
    first = build(tmp_path, tmp_path, T=20)
    assert len(list((tmp_path / "cache" / "shd").glob("*.npz"))) == 1
    real_reader = hdf5_spikes.read_hdf5_spikes

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read again")

    monkeypatch.setattr(hdf5_spikes, "read_hdf5_spikes", no_read)
    second = build(tmp_path, tmp_path, T=33)  # another T: same cache entry (binning happens on read)
    assert_matches(second, times, units, labels, 33, 1.0 / 33)
    np.testing.assert_array_equal(second.offsets, first.offsets)

    times2, units2, labels2 = write_fake_split(path, 9, seed=6)  # the file changes: size and mtime
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="read again"):
        build(tmp_path, tmp_path, T=20)
    monkeypatch.setattr(hdf5_spikes, "read_hdf5_spikes", real_reader)
    assert_matches(build(tmp_path, tmp_path, T=20), times2, units2, labels2, 20, 0.05)


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    times, units, labels = write_fake_split(tmp_path / "shd_train.h5", 8, seed=7)
    build(tmp_path, tmp_path, T=10)
    (entry,) = (tmp_path / "cache" / "shd").glob("*.npz")
    entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        ds = build(tmp_path, tmp_path, T=10)
    assert_matches(ds, times, units, labels, 10, 0.1)


# -- bad files --------------------------------------------------------------------------
def good_samples(n=6):
    return fake_samples(n, seed=11, max_spikes=20)


def edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)
    return path


def bad_file(kind, path):
    times, units, labels = good_samples()
    times, units, labels = list(times), list(units), list(labels)
    if kind == "missing_times":
        return edit(write_spike_file(path, times, units, labels), lambda f: f.__delitem__("spikes/times"))
    if kind == "missing_units":
        return edit(write_spike_file(path, times, units, labels), lambda f: f.__delitem__("spikes/units"))
    if kind == "missing_labels":
        return edit(write_spike_file(path, times, units, labels), lambda f: f.__delitem__("labels"))
    if kind == "more_times":
        return write_spike_file(path, times + [np.zeros(2)], units, labels)
    if kind == "fewer_units":
        return write_spike_file(path, times, units[:-1], labels)
    if kind == "ragged":
        units[2] = units[2][:-1] if len(units[2]) else np.array([1])
        return write_spike_file(path, times, units, labels)
    if kind == "negative_time":
        times[1] = np.array([0.1, -0.01, 0.2])
        units[1] = np.array([1, 2, 3])
        return write_spike_file(path, times, units, labels)
    if kind in ("nan_time", "inf_time"):
        times[4] = np.array([0.1, np.nan if kind == "nan_time" else np.inf])
        units[4] = np.array([5, 6])
        return write_spike_file(path, times, units, labels, times_dtype=np.float32)
    if kind == "unit_700":
        units[0] = np.full(len(times[0]), 700)
        return write_spike_file(path, times, units, labels)
    if kind == "negative_unit":
        units[1] = np.full(len(times[1]), -1)
        return write_spike_file(path, times, units, labels, units_dtype=np.int16)
    if kind == "label_20":
        labels[5] = 20
        return write_spike_file(path, times, units, labels)
    if kind == "times_not_vlen":
        path = write_spike_file(path, times, units, labels)
        return edit(path, lambda f: (f.__delitem__("spikes/times"),
                                     f.create_dataset("spikes/times", data=np.zeros(6, np.float16))))
    if kind == "spikes_dataset":
        path = write_spike_file(path, times, units, labels)
        return edit(path, lambda f: (f.__delitem__("spikes"), f.create_dataset("spikes", data=np.zeros(6))))
    if kind == "labels_float":
        path = write_spike_file(path, times, units, labels)
        return edit(path, lambda f: (f.__delitem__("labels"), f.create_dataset("labels", data=np.zeros(6))))
    raise AssertionError(kind)


BAD = [  # kind, key named in the message, is it one sample's problem (skip_bad skips it)
    ("missing_times", "'spikes/times'", False),
    ("missing_units", "'spikes/units'", False),
    ("missing_labels", "'labels'", False),
    ("more_times", "'spikes/times' holds 7 samples but 'labels' holds 6", False),
    ("fewer_units", "'spikes/units' holds 5 samples", False),
    ("ragged", "spikes/times[2] has", True),
    ("negative_time", "spikes/times[1]", True),
    ("nan_time", "spikes/times[4]", True),
    ("inf_time", "spikes/times[4]", True),
    ("unit_700", "spikes/units[0]: unit 700 is not in 0..699", True),
    ("negative_unit", "spikes/units[1]: unit -1", True),
    ("label_20", "labels[5]: label 20 is not in 0..19", True),
    ("times_not_vlen", "'spikes/times' has type", False),
    ("labels_float", "'labels' has type float64", False),
    ("spikes_dataset", "'spikes' is a dataset, expected a group", False),
]


@pytest.mark.parametrize("kind, key, per_sample", BAD, ids=[b[0] for b in BAD])
def test_bad_file_names_file_and_key(tmp_path, kind, key, per_sample):
    path = bad_file(kind, tmp_path / "shd_train.h5")
    with pytest.raises(RecordingError) as error:
        build(tmp_path, tmp_path, T=10)
    assert str(path) in str(error.value) and key in str(error.value)
    if per_sample:
        with pytest.warns(UserWarning, match="skipped 1 bad sample"):
            ds = build(tmp_path, tmp_path, T=10, skip_bad=True)
        assert len(ds) == 5 and ds.skipped == 1 and key in ds.skipped_files[0]
    else:  # a problem of the whole file raises even with skip_bad
        with pytest.raises(RecordingError, match="shd_train.h5"):
            build(tmp_path, tmp_path, T=10, skip_bad=True)


def test_skip_bad_keeps_the_good_samples_in_order(tmp_path):
    times, units, labels = (list(x) for x in fake_samples(10, seed=12))
    units[2] = np.append(units[2], 3)  # ragged
    units[5] = np.full(len(times[5]), 701)
    labels[8] = 99
    write_spike_file(tmp_path / "shd_train.h5", times, units, labels)
    with pytest.warns(UserWarning, match="skipped 3 bad sample"):
        ds = build(tmp_path, tmp_path, T=10, skip_bad=True)
    keep = [0, 1, 3, 4, 6, 7, 9]
    assert ds.skipped == 3 and len(ds.skipped_files) == 3
    assert_matches(ds, [times[i] for i in keep], [units[i] for i in keep], [labels[i] for i in keep], 10, 0.1)
    # the cache remembers the bad samples: without skip_bad it still fails, with it the count is kept
    with pytest.raises(RecordingError, match=r"spikes/times\[2\].*and 2 more"):
        build(tmp_path, tmp_path, T=10)
    with pytest.warns(UserWarning, match="skipped 3"):
        assert build(tmp_path, tmp_path, T=10, skip_bad=True).skipped == 3


def test_not_hdf5_and_truncated(tmp_path):
    path = tmp_path / "shd_train.h5"
    path.write_bytes(b"not an hdf5 file\n" * 100)
    with pytest.raises(RecordingError, match=f"{path}: not a readable HDF5 file"):
        build(tmp_path, tmp_path, T=10)
    write_fake_split(path, 10, seed=13)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RecordingError, match="shd_train.h5"):
        build(tmp_path, tmp_path, T=10)


def test_lying_sequence_length_is_an_error(tmp_path):
    """A row whose stored length claims 10^8 spikes (more than its heap object) fails cleanly."""
    times = [np.array([0.5]), np.linspace(0.1, 0.9, 777), np.array([0.25])]
    units = [np.array([1]), np.arange(777) % 700, np.array([2])]
    path = write_spike_file(tmp_path / "shd_train.h5", times, units, [0, 1, 2])
    raw = bytearray(path.read_bytes())
    needle = struct.pack("<I", 777)
    hits = [i for i in range(len(raw) - 3) if raw[i:i + 4] == needle]
    assert hits
    for i in hits:
        raw[i:i + 4] = struct.pack("<I", 10**8)
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match=r"spikes/(times|units)\[1\]"):
        build(tmp_path, tmp_path, T=10)


def test_storage_tricks_are_refused(tmp_path):
    times, units, labels = good_samples()
    other = write_spike_file(tmp_path / "other.h5", times, units, labels)
    path = tmp_path / "shd_train.h5"
    with h5py.File(path, "w") as f:  # spikes live in another file
        f["spikes"] = h5py.ExternalLink(str(other), "/spikes")
        f["labels"] = np.asarray(labels, np.uint16)
    with pytest.raises(RecordingError, match="'spikes' is a ExternalLink"):
        build(tmp_path, tmp_path, T=10)

    raw = tmp_path / "labels.raw"
    raw.write_bytes(np.asarray(labels, np.uint16).tobytes())
    write_spike_file(path, times, units, labels)
    edit(path, lambda f: (f.__delitem__("labels"),
                          f.create_dataset("labels", (6,), np.uint16, external=[(str(raw), 0, 12)])))
    with pytest.raises(RecordingError, match="'labels' keeps its data outside the file"):
        build(tmp_path, tmp_path, T=10)

    write_spike_file(path, times, units, labels)
    edit(path, lambda f: (f.__delitem__("labels"),
                          f.create_dataset("labels", data=np.asarray(labels, np.uint16), maxshape=(None,),
                                           chunks=(1 << 24,))))
    with pytest.raises(RecordingError, match="'labels' has chunks of 33554432 bytes"):
        build(tmp_path, tmp_path, T=10)


def test_claimed_sizes_are_bounded_by_the_file(tmp_path, monkeypatch):
    times, units, labels = good_samples()
    path = write_spike_file(tmp_path / "shd_train.h5", times, units, labels)
    edit(path, lambda f: (f.__delitem__("labels"),  # 10^9 labels that take no space (never written)
                          f.create_dataset("labels", (10**9,), np.uint16, chunks=(1 << 16,), compression="gzip")))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(RecordingError, match="'labels' claims 1000000000 samples"):
        build(tmp_path, tmp_path, T=10)

    # spike payloads: more spikes than the file's bytes could hold is refused (file size faked small)
    times, units, labels = fake_samples(10, seed=14, max_spikes=300)
    path = write_spike_file(tmp_path / "big.h5", times, units, labels)
    real_stat = os.stat

    def small_stat(p, *args, **kwargs):
        st = real_stat(p, *args, **kwargs)
        return os.stat_result((*st[:6], 400, *st[7:])) if os.fspath(p) == str(path) else st

    monkeypatch.setattr(hdf5_spikes.os, "stat", small_stat)
    with pytest.raises(RecordingError, match="claim more spike data than the file holds"):
        hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20, skip_bad=True, isolate=False)


def test_isolated_and_in_process_reads_agree(tmp_path):
    times, units, labels = (list(x) for x in fake_samples(9, seed=15))
    units[4] = np.full(len(times[4]), 900)
    path = write_spike_file(tmp_path / "a.h5", times, units, labels, keys=KEYS["shd"])
    a = hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20, skip_bad=True, isolate=True)
    b = hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20, skip_bad=True, isolate=False)
    for field in ("times", "units", "offsets", "labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        assert getattr(a, field).dtype == getattr(b, field).dtype
    assert a.problems == b.problems and len(a.problems) == 1 and a.keys == b.keys == KEYS["shd"]
    with pytest.raises(RecordingError, match=r"spikes/units\[4\]: unit 900"):
        hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20, isolate=True)


def test_a_hanging_hdf5_read_is_stopped(tmp_path):
    """A damaged global-heap object size on which HDF5 (2.0) loops forever: stopped, not hung."""
    path = tmp_path / "shd_train.h5"
    write_fake_split(path, 12, seed=3)
    raw = bytearray(path.read_bytes())
    needle = struct.pack("<Q", 4) + b"male"  # the size field of the extra/meta_info/gender strings
    second = raw.find(needle, raw.find(needle) + 1)
    assert second > 0
    raw[second] = 0xA1
    path.write_bytes(bytes(raw))
    start = time.monotonic()
    with pytest.raises(RecordingError, match="shd_train.h5"):
        hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20, stall_timeout=2)
    assert time.monotonic() - start < 30


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_the_reader_process_memory_is_capped(tmp_path):
    path = tmp_path / "shd_train.h5"
    write_fake_split(path, 10)
    assert len(hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20).labels) == 10
    with pytest.raises(RecordingError, match="shd_train.h5"):  # no room for any new allocation
        hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20, memory_limit=1 << 20)


def test_a_crashing_reader_process_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "shd_train.h5"
    write_fake_split(path, 4)
    monkeypatch.setattr(hdf5_spikes, "_CHILD", "import os; os.abort()")  # as HDF5 aborting on a damaged file
    with pytest.raises(RecordingError, match="shd_train.h5: the reader process failed"):
        hdf5_spikes.read_hdf5_spikes(path, channels=CH, num_classes=20)


def test_keys_that_disagree_are_reported(tmp_path):
    times, units, labels = good_samples()
    write_spike_file(tmp_path / "shd_train.h5", times, units, labels, keys=list(reversed(KEYS["shd"])))
    with pytest.warns(UserWarning, match="does not match"):
        build(tmp_path, tmp_path, T=10)


# -- missing files, options ---------------------------------------------------------------
def test_missing_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="root=<folder>"):
        build_dataset("shd", "train", root=None)
    with pytest.raises(DatasetNotFoundError) as error:
        build(tmp_path, tmp_path, T=10)
    message = str(error.value)
    assert "shd_train.h5" in message and str(tmp_path) in message and "zenkelab.org/datasets" in message
    write_fake_split(tmp_path / "x.h5", 4)
    (tmp_path / "shd_test.h5.gz").write_bytes(gzip.compress((tmp_path / "x.h5").read_bytes()))
    with pytest.raises(DatasetNotFoundError, match=r"gunzip .*shd_test\.h5\.gz"):
        build(tmp_path, tmp_path, split="test", T=10)
    (tmp_path / "SHD").mkdir()  # Tonic's folder is also searched
    (tmp_path / "x.h5").rename(tmp_path / "SHD" / "shd_test.h5")
    assert len(build(tmp_path, tmp_path, split="test", T=10)) == 4


def test_ssc_valid_file(tmp_path):
    write_shd_folder(tmp_path, n_train=4, n_test=5, n_valid=7, dataset="ssc")
    assert len(build(tmp_path, tmp_path, split="test", name="ssc", T=10)) == 5
    assert len(build(tmp_path, tmp_path, split="test", name="ssc", T=10, holdout="valid")) == 7
    assert len(build(tmp_path, tmp_path, split="train", name="ssc", T=10, holdout="valid")) == 4
    with pytest.raises(ValueError, match="holdout='valid' is for 'ssc'"):
        build(tmp_path, tmp_path, split="test", T=10, holdout="valid")


@pytest.mark.parametrize("options, match", [
    ({"frame_size": 3}, "unknown option"),
    ({"dt": 0}, "dt must be a positive"),
    ({"dt": -0.01}, "dt must be a positive"),
    ({"dt": "fast"}, "dt must be a positive"),
    ({"duration": float("nan")}, "duration must be a positive"),
    ({"duration": True}, "duration must be a positive"),
    ({"shuffle_time": "yes"}, "shuffle_time must be true or false"),
    ({"shuffle_seed": -1}, "shuffle_seed must be an int"),
    ({"shuffle_seed": 1.5}, "shuffle_seed must be an int"),
    ({"holdout": "dev"}, "holdout must be"),
    ({"progress": 1}, "progress must be true or false"),
])
def test_bad_options(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        shd.validate_options(options)
    with pytest.raises(ValueError, match=match):
        check_dataset_options("ssc", options)
    with pytest.raises(ValueError, match=match):  # before looking for any file
        build_dataset("shd", "train", root=tmp_path, **options)


def test_good_options_and_no_frame_size_or_augment(tmp_path):
    check_dataset_options("shd", {"dt": 0.001, "duration": 1, "shuffle_time": True, "shuffle_seed": 2,
                                  "holdout": "valid", "progress": False})
    write_fake_split(tmp_path / "shd_train.h5", 4)
    assert len(build(tmp_path, tmp_path, T=10, size=1)) == 4  # 1 x 1 is what the registry passes
    with pytest.raises(ValueError, match="no frame size"):
        build(tmp_path, tmp_path, T=10, size=32)
    with pytest.raises(ValueError, match="no augmentation"):
        build(tmp_path, tmp_path, T=10, augment=True)


def test_h5py_is_imported_only_on_use(monkeypatch):
    source = open(hdf5_spikes.__file__, encoding="utf-8").read() + open(shd.__file__, encoding="utf-8").read()
    assert "\nimport h5py" not in source and "\nfrom h5py" not in source
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        hdf5_spikes.require_h5py()


def test_data_command_on_shd(tmp_path, capsys):
    from mpe_psn.commands.cli import main

    write_shd_folder(tmp_path / "data", n_train=8, n_test=4)
    png = tmp_path / "shd.png"
    rc = main(["data", "shd", "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"),
               "-T", "12", "-o", "progress=false", "--png", str(png), "--samples", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "dataset shd: frames [12, 700]" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["train"], ["test"])}
    assert rows["train"][1:3] == ["8", "0"] and rows["test"][1:3] == ["4", "0"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- Tonic --------------------------------------------------------------------------------
def test_same_spikes_and_frames_as_tonic(tmp_path, monkeypatch):
    """Tonic's SHD reader on the same file: events (t in us, truncated; x = unit), labels, and
    its ToFrame (10 ms windows from 0 to 1 s) equal to our frames at T=100."""
    tonic = pytest.importorskip("tonic")
    times, units, labels = write_fake_split(tmp_path / "SHD" / "shd_train.h5", 24, seed=21)
    # Tonic treats the data as present when shd_train.h5.zip exists (it checks no checksum then)
    # and an .h5 file is in save_to/SHD; an empty placeholder avoids any download.
    (tmp_path / "SHD" / "shd_train.h5.zip").write_bytes(b"")
    monkeypatch.setattr(tonic.datasets.SHD, "download", lambda self: pytest.fail("Tonic tried to download"))
    theirs = tonic.datasets.SHD(save_to=str(tmp_path), train=True)
    ours = build(tmp_path, tmp_path, T=100)
    to_frame = tonic.transforms.ToFrame(sensor_size=(CH, 1, 1), time_window=10_000, start_time=0, end_time=1_000_000)
    assert len(theirs) == len(ours) == 24
    compared = 0
    for i in range(24):
        events, target = theirs[i]
        t, u = ours.spikes(i)
        np.testing.assert_array_equal(events["t"], np.trunc(t.astype(np.float64) * 1e6).astype(np.int64))
        np.testing.assert_array_equal(events["x"], u)
        frames, label = ours[i]
        assert int(target) == label
        if len(events):  # Tonic returns a single frame for a sample without events
            np.testing.assert_array_equal(to_frame(events)[:, 0, :], frames.numpy())
            compared += 1
        else:
            assert not frames.any()
    assert compared >= 20
