"""Tonic's event arrays (any integer/bool field types, any field order) and Tonic datasets."""

import shutil

import numpy as np
import pytest
import torch

from mpe_psn.data import EVENT_DTYPE, as_events, build_dataset, events_to_frames, from_tonic
from mpe_psn.data.events import sanitize_events

# The dtypes Tonic 1.7's datasets declare (NMNIST, DVSGesture, CIFAR10DVS)
TONIC_DTYPES = {
    "nmnist": np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)]),
    "dvsgesture": np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)]),
    "cifar10dvs": np.dtype([("t", np.uint64), ("x", np.uint16), ("y", np.uint16), ("p", bool)]),
}


def reference_events(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, 100_000, n))
    events["x"], events["y"], events["p"] = rng.integers(0, 32, n), rng.integers(0, 24, n), rng.integers(0, 2, n)
    return events


def in_dtype(events: np.ndarray, dtype: np.dtype) -> np.ndarray:
    out = np.empty(events.shape[0], dtype=dtype)
    for field in ("t", "x", "y", "p"):
        out[field] = events[field]
    return out


@pytest.mark.parametrize("kind", sorted(TONIC_DTYPES))
@pytest.mark.parametrize("split_by", ["number", "time"])
def test_tonic_layouts_give_the_same_frames_as_the_native_layout(kind, split_by):
    events = reference_events()
    expected = events_to_frames(events, 5, 24, 32, split_by)
    tonic_events = in_dtype(events, TONIC_DTYPES[kind])
    assert torch.equal(events_to_frames(tonic_events, 5, 24, 32, split_by), expected)
    assert expected.sum() == len(events)
    converted = as_events(tonic_events)
    assert converted.dtype == EVENT_DTYPE and np.array_equal(converted, events)


def test_native_array_is_passed_through_and_extra_fields_are_ignored():
    events = reference_events(10)
    assert as_events(events) is events
    wide = np.empty(10, dtype=[("q", np.float32)] + TONIC_DTYPES["nmnist"].descr)
    for field in ("t", "x", "y", "p"):
        wide[field] = events[field]
    assert np.array_equal(as_events(wide), events)


def test_sanitize_accepts_tonic_arrays():
    events = in_dtype(reference_events(), TONIC_DTYPES["dvsgesture"])
    cleaned, issues = sanitize_events(events, 20, 32)
    assert cleaned.dtype == EVENT_DTYPE and issues["outside"] == int((events["y"] >= 20).sum()) > 0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("x", -1, r"event field 'x' has a negative value \(-1\)"),
        ("t", -5, r"event field 't' has a negative value"),
        ("y", 40_000, r"event field 'y' has the value 40000: larger than 32767"),
        ("p", 2, r"event field 'p' has the value 2: polarity must be 0 or 1"),
    ],
)
def test_bad_values_are_clear_errors_naming_the_field(field, value, message):
    events = in_dtype(reference_events(20), TONIC_DTYPES["nmnist"])
    events[field][3] = value
    with pytest.raises(ValueError, match=message):
        events_to_frames(events, 4, 24, 32)


def test_t_beyond_int64_is_a_clear_error():
    events = in_dtype(reference_events(5), TONIC_DTYPES["cifar10dvs"])
    events["t"][-1] = np.uint64(2**63 + 7)
    with pytest.raises(ValueError, match="event field 't' has the value 9223372036854775815: larger than"):
        as_events(events)


def test_missing_fields_float_fields_and_plain_arrays_are_clear_errors():
    with pytest.raises(ValueError, match=r"events lack field\(s\) \['p'\]"):
        as_events(np.zeros(3, dtype=[("t", int), ("x", int), ("y", int)]))
    with pytest.raises(TypeError, match="event field 't' must hold integers or bools, got float64"):
        as_events(np.zeros(3, dtype=[("t", float), ("x", int), ("y", int), ("p", int)]))
    with pytest.raises(TypeError, match="must be a 1-D structured array with fields t, x, y, p; got a array of dtype int64"):
        events_to_frames(np.zeros((3, 4), dtype=np.int64), 2, 8, 8)
    with pytest.raises(TypeError, match="got a list"):
        as_events([(0, 1, 2, 1)])
    with pytest.raises(ValueError, match=r"1-D structured array, got shape \(2, 2\)"):
        as_events(np.zeros((2, 2), dtype=TONIC_DTYPES["nmnist"]))


class FakeTonic:
    """Quacks like a Tonic dataset: (events, target) items, sensor_size (W, H, P), targets."""

    sensor_size = (32, 24, 2)

    def __init__(self, n: int = 6, kind: str = "dvsgesture") -> None:
        self.items = [(in_dtype(reference_events(300, seed=i), TONIC_DTYPES[kind]), i % 3) for i in range(n)]
        self.targets = [t for _, t in self.items]
        self.transform = None

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def test_from_tonic_gives_frames_and_labels(tmp_path):
    fake = FakeTonic()
    data = from_tonic(fake, T=4, split_by="time", size=16, cache_dir=tmp_path)
    assert len(data) == 6 and data.sensor == (24, 32)
    frames, label = data[4]
    assert frames.shape == (4, 2, 16, 16) and frames.dtype == torch.float32 and label == 1
    native = as_events(fake.items[4][0])
    full = from_tonic(fake, T=4, split_by="time")[4][0]
    assert torch.equal(full, events_to_frames(native, 4, 24, 32, "time"))
    assert list(data.labels) == fake.targets
    assert len(list(tmp_path.rglob("*.npz"))) == 1  # cached on first use
    assert torch.equal(from_tonic(fake, T=4, split_by="time", size=16, cache_dir=tmp_path)[4][0], frames)


def test_from_tonic_bad_input_is_a_clear_error():
    fake = FakeTonic()
    fake.transform = lambda events: events
    with pytest.raises(ValueError, match="FakeTonic has a Tonic transform set"):
        from_tonic(fake, T=4)
    with pytest.raises(ValueError, match="split_by must be one of"):
        from_tonic(FakeTonic(), T=4, split_by="count")
    del FakeTonic.sensor_size
    try:
        with pytest.raises(ValueError, match="FakeTonic has no sensor_size"):
            from_tonic(FakeTonic(), T=4)
    finally:
        FakeTonic.sensor_size = (32, 24, 2)


def test_real_nmnist_sample_through_tonic_reader_and_from_tonic(real_samples, tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    tonic_datasets = pytest.importorskip("tonic.datasets")
    source = real_samples / "nmnist_sample.bin"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    sample = tmp_path / "00001.bin"
    shutil.copyfile(source, sample)

    class OneRecording:
        sensor_size = tonic_datasets.NMNIST.sensor_size
        transform = None

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return tonic_io.read_mnist_file(str(sample), dtype=tonic_datasets.NMNIST.dtype), 3

    raw = OneRecording()[0][0]
    assert raw.dtype["x"] == np.int64 and raw.dtype.names[0] == "x"  # Tonic's own layout
    frames, label = from_tonic(OneRecording(), T=5)[0]
    assert label == 3 and frames.shape == (5, 2, 34, 34)
    assert int(frames.sum()) == 4325  # every event of the recording, none outside the sensor
    first = as_events(raw)[0]
    assert (int(first["x"]), int(first["y"]), int(first["t"]), int(first["p"])) == (7, 15, 654, 1)


def test_registry_names_tonic_datasets_and_reports_a_missing_copy(tmp_path):
    pytest.importorskip("tonic")
    with pytest.raises(FileNotFoundError, match="tonic-nmnist.*Tonic's NMNIST files are not there"):
        build_dataset("tonic-nmnist", "train", root=str(tmp_path), T=4)
    with pytest.raises(ValueError, match="unknown option"):
        build_dataset("tonic-nmnist", "train", root=str(tmp_path), T=4, colour="red")


def test_registry_builds_a_tonic_dataset_from_its_folder(tmp_path, monkeypatch):
    from mpe_psn.data import tonic_source

    made = {}

    class FakeNMNIST(FakeTonic):
        sensor_size = (34, 34, 2)

        def __init__(self, save_to, train=True):
            super().__init__(n=4 if train else 2, kind="nmnist")
            made["args"] = (save_to, train)

    monkeypatch.setattr(tonic_source, "_tonic_class", lambda info: FakeNMNIST)
    data = build_dataset("tonic-nmnist", "test", root=str(tmp_path), T=3, cache_dir=str(tmp_path / "cache"))
    assert made["args"] == (str(tmp_path), False) and len(data) == 2
    frames, label = data[1]
    assert frames.shape == (3, 2, 34, 34) and label == 1


def test_mpe_psn_train_reads_a_tonic_dataset_by_name(tmp_path, monkeypatch):
    from mpe_psn.commands.cli import main
    from mpe_psn.data import tonic_source

    class FakeNMNIST(FakeTonic):
        sensor_size = (34, 34, 2)

        def __init__(self, save_to, train=True):
            super().__init__(n=8 if train else 4, kind="nmnist")

    monkeypatch.setattr(tonic_source, "_tonic_class", lambda info: FakeNMNIST)
    (tmp_path / "data").mkdir()
    code = main(["train", "--dataset", "tonic-nmnist", "--data-dir", str(tmp_path / "data"), "--epochs", "1",
                 "--batch", "4", "-T", "3", "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert [p.name.startswith("tonic-nmnist-") for p in (tmp_path / "runs").iterdir()] == [True]
