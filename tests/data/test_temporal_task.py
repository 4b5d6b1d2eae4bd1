"""The built-in temporal task: determinism, what carries the class (timing only), the cache, options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpe_psn.data import build_dataset, dataset_info
from mpe_psn.data.registry import check_dataset_options
from mpe_psn.data import temporal_task
from mpe_psn.data.synthetic import code_digest
from mpe_psn.data.temporal_generator import (
    TemporalConfig, generate_split, make_task, multipliers, pattern_times, sample_times,
)
from mpe_psn.data.temporal_task import TEMPORAL_CLASSES

SMALL = dict(num_train=40, num_test=20)


def build(split="train", cache_dir=None, **options):
    return build_dataset("temporal", split, cache_dir=cache_dir, progress=False, **{**SMALL, **options})


def test_info_items_and_one_spike_per_channel(tmp_path):
    info = dataset_info("temporal")
    assert info.kind == "temporal" and info.in_channels == 700 and (info.height, info.width) == (1, 1)
    assert info.num_classes == len(TEMPORAL_CLASSES) == 10 and info.class_names == TEMPORAL_CLASSES
    ds = build(cache_dir=tmp_path)
    assert len(ds) == 40 and ds.channels == 700 and ds.T == info.default_T == 100 and ds.split == "train"
    frames, label = ds[13]
    assert frames.dtype == torch.float32 and frames.shape == (100, 700) and label == 3
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10), np.full(10, 4))  # balanced
    # counts carry no class information: every channel fires exactly once in every sample, whatever the class
    counts = np.stack([ds[i][0].sum(0).numpy() for i in range(len(ds))])
    np.testing.assert_array_equal(counts, np.ones((40, 700), dtype=np.float32))
    assert (ds.times >= 0).all() and (ds.times < 1.0).all()
    assert (np.diff(ds.spikes(5)[0]) >= 0).all()  # a sample's spikes are in time order
    np.testing.assert_array_equal(np.sort(ds.spikes(5)[1]), np.arange(700))


def test_samples_are_pure_functions_of_seed_split_index():
    config = TemporalConfig(**SMALL)
    task = make_task(config)
    a, la = sample_times(config, task, "train", 7)
    b, lb = sample_times(config, make_task(config), "train", 7)
    np.testing.assert_array_equal(a, b)
    assert la == lb == 7
    full = generate_split(config, "train")
    alone = generate_split(config, "train", indices=[31, 7])  # a sample does not depend on the others
    np.testing.assert_array_equal(alone["times"], full["times"][[31, 7]])
    np.testing.assert_array_equal(full["times"][7], a.astype(np.float32))
    test = generate_split(config, "test")
    assert not np.array_equal(test["times"], full["times"][:20])  # the splits differ
    other = generate_split(TemporalConfig(seed=1, **SMALL), "train")
    assert not np.array_equal(other["times"], full["times"])  # and so do the seeds
    np.testing.assert_array_equal(full["labels"], np.arange(40) % 10)


def test_class_only_reorders_bins():
    """Same draws, another class: the frames are the same multiset, so time-shuffled frames cannot tell
    the classes apart (T a multiple of segments); the per-channel counts are identical too."""
    config = TemporalConfig()
    task = make_task(config)
    T = 100
    assert T % config.segments == 0
    frames = []
    for label in range(10):
        t = pattern_times(config, task, label, np.random.default_rng(123))
        steps = np.floor(t.astype(np.float32).astype(np.float64) / (1.0 / T)).astype(np.int64)
        f = np.zeros((T, config.channels), dtype=np.int64)
        f[steps, np.arange(config.channels)] = 1
        frames.append(f)
    rows = [sorted(map(bytes, f.astype(np.uint8))) for f in frames]
    for label in range(1, 10):
        assert rows[label] == rows[0], label  # the same bins, in another order
        assert not np.array_equal(frames[label], frames[0])  # ... which is what differs
        np.testing.assert_array_equal(frames[label].sum(0), frames[0].sum(0))


def test_timing_carries_the_class():
    """Without noise, channels whose phases lie in consecutive pieces c, c + 1 fire m_y slots apart."""
    config = TemporalConfig(spread=0.0, jitter=0.0)
    task = make_task(config)
    K = config.segments
    assert multipliers(K) == (1, 3, 7, 9, 11, 13, 17, 19, 21, 23)
    gaps = []
    for index in range(10):
        t, label = sample_times(config, task, "train", index)
        slot = np.floor(t * K).astype(np.int64)
        piece_of_phase = np.floor(task.mu * K).astype(np.int64)
        first = np.argmin(task.mu)  # the channel with the smallest phase, and one a piece later
        later = np.argmin(np.where(piece_of_phase == piece_of_phase[first] + 1, task.mu, np.inf))
        gap = (slot[later] - slot[first]) % K
        assert gap == multipliers(K)[label]
        gaps.append(gap)
    assert len(set(gaps)) == 10


def test_noise_moves_a_fraction_of_the_spikes():
    task = make_task(TemporalConfig())
    clean = pattern_times(TemporalConfig(), task, 4, np.random.default_rng(5))
    noisy = pattern_times(TemporalConfig(noise=0.3), task, 4, np.random.default_rng(5))
    moved = np.count_nonzero(noisy != clean)  # the other channels keep their time exactly
    assert 150 < moved < 270 and (noisy >= 0).all() and (noisy < 1).all()
    everything = pattern_times(TemporalConfig(noise=1.0), task, 4, np.random.default_rng(5))
    assert np.count_nonzero(everything != clean) > 650


def test_time_shuffle_keeps_counts_and_changes_order(tmp_path):
    plain = build(cache_dir=tmp_path)
    shuffled = build(cache_dir=tmp_path, shuffle_time=True)
    assert shuffled.generated_seconds is None  # the same spikes: shuffle_time is not a generator option
    for i in (0, 9):
        a, b = plain[i][0].numpy(), shuffled[i][0].numpy()
        np.testing.assert_array_equal(a.sum(0), b.sum(0))
        assert sorted(map(bytes, a.astype(np.uint8))) == sorted(map(bytes, b.astype(np.uint8)))
        assert not np.array_equal(a, b)
    reseeded = build(cache_dir=tmp_path, shuffle_time=True, shuffle_seed=4)
    assert not np.array_equal(reseeded[0][0].numpy(), shuffled[0][0].numpy())


def _permutation(plain: np.ndarray, shuffled: np.ndarray) -> list[int]:
    """Which step of ``plain`` each step of ``shuffled`` is (steps of a sample are distinct here)."""
    where = {bytes(row): t for t, row in enumerate(plain.astype(np.uint8))}
    assert len(where) == plain.shape[0]
    return [where[bytes(row)] for row in shuffled.astype(np.uint8)]


def test_train_and_test_sample_i_are_shuffled_differently(tmp_path):
    """Sample i of both splits has label i % 10; sharing a permutation would pair them up."""
    perms = {}
    for split in ("train", "test"):
        plain, shuffled = build(split, cache_dir=tmp_path), build(split, cache_dir=tmp_path, shuffle_time=True)
        perms[split] = [_permutation(plain[i][0].numpy(), shuffled[i][0].numpy()) for i in range(3)]
        assert all(sorted(p) == list(range(100)) for p in perms[split])
    assert all(a != b for a, b in zip(perms["train"], perms["test"]))
    again = build("test", cache_dir=tmp_path, shuffle_time=True)
    assert _permutation(build("test", cache_dir=tmp_path)[0][0].numpy(), again[0][0].numpy()) == perms["test"][0]


def test_cache_round_trip_holds_times_for_every_T(tmp_path, monkeypatch):
    first = build("test", cache_dir=tmp_path)
    assert first.generated_seconds is not None and first.cache_file.is_file()
    with np.load(first.cache_file) as entry:  # spike times, not frames: the entry does not grow with T
        assert entry["times"].shape == (20, 700) and entry["times"].dtype == np.float32
    second = build("test", cache_dir=tmp_path, T=1000, dt=0.001)
    assert second.generated_seconds is None and second.cache_file == first.cache_file
    np.testing.assert_array_equal(second.times, first.times)
    assert second[3][0].shape == (1000, 700)
    for change in (dict(seed=3), dict(spread=0.02), dict(segments=25), dict(num_test=30), dict(channels=64),
                   dict(noise=0.1)):
        other = build("test", cache_dir=tmp_path, **change)
        assert other.generated_seconds is not None, change  # never the stale entry
    assert len(list((tmp_path / "temporal").glob("*.npz"))) == 7
    # an edited generator makes a new entry; an edited docstring does not change the digest
    source = (temporal_task.Path(temporal_task.__file__).parent / "temporal_generator.py").read_text()
    assert temporal_task.cache_params(TemporalConfig(), "train")["source"] == code_digest([source])
    assert code_digest([source.replace('"""', '"""Edited. ', 1)]) == code_digest([source])
    edited = code_digest([source.replace("_EDGE = 1e-6", "_EDGE = 2e-6")])
    assert edited != code_digest([source])
    monkeypatch.setattr(temporal_task, "_generator_digest", lambda: edited)
    assert build("test", cache_dir=tmp_path).generated_seconds is not None


def test_any_T_and_a_loader(tmp_path):
    for T in (1, 37, 250, 1000):
        ds = build(cache_dir=tmp_path, T=T)
        frames, _ = ds[0]
        assert frames.shape == (T, 700)
        assert frames.sum() == 700  # the default 1-s window holds every spike at any T
        assert ds.dt == pytest.approx(1.0 / T)
    assert len(list((tmp_path / "temporal").glob("*.npz"))) == 1
    loader = torch.utils.data.DataLoader(build_dataset("temporal", "train", T=1000, cache_dir=tmp_path,
                                                       progress=False, **SMALL), batch_size=8)
    x, y = next(iter(loader))
    assert x.shape == (8, 1000, 700) and x.dtype == torch.float32 and y.tolist() == list(range(8))
    assert build(cache_dir=tmp_path, T=100, dt=0.01, duration=1.0).dt == pytest.approx(0.01)  # consistent: fine
    half = build(cache_dir=tmp_path, T=50, duration=0.5)  # a shorter window drops the later spikes
    assert half.dt == pytest.approx(0.01) and 0 < half[0][0].sum() < 700


def test_progress_bar(capsys, tmp_path):
    build_dataset("temporal", "test", cache_dir=tmp_path, progress=True, **SMALL)
    assert "temporal test" in capsys.readouterr().err


@pytest.mark.parametrize("options, match", [
    (dict(colour="red"), r"unknown option\(s\) \['colour'\].*known options: num_train"),
    (dict(num_train=0), "num_train must be a positive int"),
    (dict(channels=2.5), "channels must be a positive int"),
    (dict(seed=-1), "seed must be an int >= 0"),
    (dict(segments=20), "segments must be"),
    (dict(segments=True), "segments must be"),
    (dict(spread=-0.1), "spread must be a number >= 0"),
    (dict(jitter="x"), "jitter must be a number >= 0"),
    (dict(smoothness=float("nan")), "smoothness must be"),
    (dict(noise=1.5), r"noise must be a number in \[0, 1\]"),
    (dict(dt=0), "dt must be a positive number"),
    (dict(duration=-1.0), "duration must be a positive number"),
    (dict(shuffle_time="yes"), "shuffle_time must be true or false"),
    (dict(shuffle_seed=-2), "shuffle_seed must be an int >= 0"),
])
def test_bad_options(options, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        check_dataset_options("temporal", options)
    with pytest.raises(ValueError, match=match):
        build_dataset("temporal", "train", cache_dir=tmp_path, progress=False, **options)
    assert not (tmp_path / "temporal").exists()  # refused before generating anything


def test_bad_arguments(tmp_path):
    check_dataset_options("temporal", dict(num_train=10, spread=0.0, shuffle_time=True, dt=0.002))
    with pytest.raises(ValueError, match="do not pass root"):
        build_dataset("temporal", "train", root="/data", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="size does not apply"):
        build_dataset("temporal", "train", size=(2, 2), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="give dt or duration, not both"):
        build_dataset("temporal", "train", T=100, dt=0.01, duration=2.0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="no augmentation"):
        build_dataset("temporal", "train", augment=True, cache_dir=tmp_path)
    assert not (tmp_path / "temporal").exists()
