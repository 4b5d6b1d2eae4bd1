"""Dataset folders in the published layouts (tiny fakes): splits, labels, frames, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpe_psn.data import build_dataset, events_to_frames
from mpe_psn.data.readers import RecordingError
from mpe_psn.data.registry import NCALTECH101_CLASSES
from mpe_psn.data.sources import DatasetNotFoundError
from tests.data.fakes import aedat31_packet, random_events, write_aedat2, write_aedat31, write_atis, write_cifar_batch


def make_gesture(root, users=("user01_fluorescent", "user02_led", "user03_natural")):
    """Three AEDAT 3.1 recordings, three labelled gestures each; users 1-2 train, 3 test."""
    folder = root / "DvsGesture"
    folder.mkdir(parents=True)
    recordings = {}
    for k, user in enumerate(users):
        ev = random_events(900, height=128, width=128, seed=10 + k, t_max=3_000_000)
        write_aedat31(folder / f"{user}.aedat", [aedat31_packet(ev[:500]), aedat31_packet(ev[500:])])
        rows = [(k % 11 + 1, 100_000, 900_000), (5, 1_000_000, 1_700_000), (11, 2_000_000, 2_900_000)]
        (folder / f"{user}_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{s},{e}\n" for c, s, e in rows)
        )
        recordings[user] = (ev, rows)
    (folder / "trials_to_train.txt").write_text(f"{users[0]}.aedat\n{users[1]}.aedat\n")
    (folder / "trials_to_test.txt").write_text(f"{users[2]}.aedat\n")
    return recordings


def test_dvs_gesture_original(tmp_path):
    recordings = make_gesture(tmp_path / "data")
    train = build_dataset("dvs-gesture", "train", root=tmp_path / "data", T=4, cache_dir=tmp_path / "c", progress=False)
    test = build_dataset("dvs-gesture", "test", root=tmp_path / "data", T=4, cache_dir=tmp_path / "c", progress=False)
    assert (len(train), len(test)) == (6, 3)
    ev, rows = recordings["user03_natural"]
    for i, (cls, start, end) in enumerate(rows):
        frames, label = test[i]
        assert label == cls - 1 and frames.shape == (4, 2, 64, 64)
        window = ev[(ev["t"] >= start) & (ev["t"] < end)]
        expected = events_to_frames(window, 4, 128, 128, size=64)
        torch.testing.assert_close(frames, expected)
    # a second build reads the cache (no conversion) and gives the same frames
    again = build_dataset("dvs-gesture", "test", root=tmp_path / "data", T=4, cache_dir=tmp_path / "c", progress=False)
    torch.testing.assert_close(again[1][0], test[1][0])


def test_dvs_gesture_bad_recording(tmp_path):
    make_gesture(tmp_path / "data")
    bad = tmp_path / "data" / "DvsGesture" / "user02_led.aedat"
    bad.write_bytes(bad.read_bytes()[:-5])
    with pytest.raises(RecordingError, match="user02_led.aedat"):
        build_dataset("dvs-gesture", "train", root=tmp_path / "data", T=4, cache_dir=tmp_path / "c", progress=False)
    with pytest.warns(UserWarning, match="skipping bad recording: .*user02_led.aedat"):
        train = build_dataset("dvs-gesture", "train", root=tmp_path / "data", T=4, cache_dir=tmp_path / "c2",
                              skip_bad=True, progress=False)
    assert len(train) == 3 and train.skipped == 3


def test_dvs_gesture_tonic_layout(tmp_path):
    folder = tmp_path / "ibmGestureTest" / "user24_led"
    folder.mkdir(parents=True)
    for label in (0, 7):
        np.save(folder / f"{label}.npy", np.array([[1, 2, 1, 0.5], [3, 4, 0, 2.0], [5, 6, 1, 3.0]]))
    test = build_dataset("dvs-gesture", "test", root=tmp_path, T=2, cache_dir=tmp_path / "c", progress=False)
    assert [test[i][1] for i in range(2)] == [0, 7]
    from mpe_psn.data.events import make_events

    expected = events_to_frames(make_events([500, 2000, 3000], [1, 3, 5], [2, 4, 6], [1, 0, 1]), 2, 128, 128, size=64)
    torch.testing.assert_close(test[0][0], expected)
    np.save(folder / "9.npy", np.zeros((0, 4)))  # an empty recording: zero frames, counted
    from mpe_psn.data.summary import summarize

    test = build_dataset("dvs-gesture", "test", root=tmp_path, T=2, cache_dir=tmp_path / "c", progress=False)
    assert len(test) == 3 and test[2][0].abs().sum() == 0 and test[2][1] == 9
    row = summarize(test, T=2)
    assert (row["samples"], row["empty"], row["fewer_than_T"], row["events_min"], row["events_max"]) == (3, 1, 1, 0, 3)


def test_missing_dataset_messages(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="pass root=.*trials_to_train.txt"):
        build_dataset("dvs-gesture", "train")
    with pytest.raises(DatasetNotFoundError, match="class folder.*airplane"):
        build_dataset("cifar10-dvs", "train", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"data_batch_1.*cifar-10-batches-py"):
        build_dataset("cifar10", "train", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known datasets: synthetic"):
        build_dataset("mnist", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        build_dataset("synthetic", "val")


def test_cifar10_dvs_split_and_frames(tmp_path):
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    for c, name in enumerate(classes):
        (tmp_path / name).mkdir()
        for i in (0, 1, 2, 10, 11, 12, 13, 14, 15, 16, 100):  # sorted by name: 0, 1, 10, 100, 11, ...
            write_aedat2(tmp_path / name / f"cifar10_{name}_{i}.aedat", random_events(40, 128, 128, seed=c * 1000 + i))
    test = build_dataset("cifar10-dvs", "test", root=tmp_path, T=3, cache_dir=tmp_path / "c", progress=False)
    train = build_dataset("cifar10-dvs", "train", root=tmp_path, T=3, cache_dir=tmp_path / "c", progress=False)
    assert (len(test), len(train)) == (10, 100)  # first 10% (1 of 11) per class
    assert [s.path.rsplit("/", 1)[1] for s in test.samples[:1]] == ["cifar10_airplane_0.aedat"]
    assert sorted(set(int(label) for label in test.labels)) == list(range(10))
    frames, label = train[0]
    assert frames.shape == (3, 2, 48, 48) and label == 0
    ev = random_events(40, 128, 128, seed=1)  # airplane_1, the first train file
    torch.testing.assert_close(frames, events_to_frames(ev, 3, 128, 128, size=48))


def test_ncaltech101_layout_and_outside_events(tmp_path):
    root = tmp_path / "Caltech101"
    for c, name in enumerate(NCALTECH101_CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(1, 3 if c else 11):  # first class: 10 files -> 1 test
            write_atis(root / name / f"image_{i:04d}.bin", random_events(12, 180, 240, seed=c * 100 + i))
    test = build_dataset("n-caltech101", "test", root=tmp_path, T=2, size=24, cache_dir=tmp_path / "c", progress=False)
    assert len(test) == 1 and test.labels.tolist() == [0]
    outside = random_events(30, 180, 240, seed=99)
    outside["x"][:5] = 250  # beyond the 240-pixel sensor: dropped
    write_atis(root / NCALTECH101_CLASSES[0] / "image_0001.bin", outside)
    again = build_dataset("n-caltech101", "test", root=tmp_path, T=2, size=24, cache_dir=tmp_path / "c", progress=False)
    assert again.stats["outside"] == 5  # the changed file was converted again, not read stale from the cache
    expected = events_to_frames(outside[5:], 2, 180, 240, size=24)
    torch.testing.assert_close(again[0][0], expected)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar(tmp_path, name):
    pytest.importorskip("torchvision")
    rng = np.random.default_rng(0)
    if name == "cifar10":
        folder = tmp_path / "cifar-10-batches-py"
        folder.mkdir()
        for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            write_cifar_batch(folder / f, rng.integers(0, 256, (4, 3072), dtype=np.uint8), [0, 3, 9, 1])
    else:
        folder = tmp_path / "cifar-100-python"
        folder.mkdir()
        for f in ("train", "test"):
            write_cifar_batch(folder / f, rng.integers(0, 256, (4, 3072), dtype=np.uint8), [0, 50, 99, 7], "fine_labels")
    train = build_dataset(name, "train", root=tmp_path, T=4, augment=True)
    test = build_dataset(name, "test", root=tmp_path, T=4)
    assert len(train) == (20 if name == "cifar10" else 4) and len(test) == 4
    frames, label = test[2]
    assert frames.shape == (4, 3, 32, 32) and frames.dtype == torch.float32 and label in (9, 99)
    torch.testing.assert_close(frames[0], frames[3])  # direct encoding: the same image every step
    from mpe_psn.data.augment import CIFAR_MEAN, CIFAR_STD

    raw = torch.from_numpy(test.images[2]).permute(2, 0, 1).float() / 255
    expected = (raw - torch.tensor(CIFAR_MEAN[name])[:, None, None]) / torch.tensor(CIFAR_STD[name])[:, None, None]
    torch.testing.assert_close(frames[1], expected)
    aug, _ = train[0]
    assert aug.shape == (4, 3, 32, 32)
