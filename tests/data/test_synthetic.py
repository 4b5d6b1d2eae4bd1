"""The built-in event dataset: determinism, caching, and the order-only pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpe_psn.data import build_dataset, dataset_info
from mpe_psn.data.synthetic import (
    CLASS_NAMES, HFLIP_LABELS, ORDER_PAIRS, SyntheticConfig, generate_split, synthetic_events,
)

SMALL = dict(num_train=30, num_test=20)


def test_info_and_items(tmp_path):
    info = dataset_info("synthetic")
    assert info.num_classes == len(CLASS_NAMES) == 10 and info.kind == "events" and info.in_channels == 2
    ds = build_dataset("synthetic", "train", cache_dir=tmp_path, progress=False, **SMALL)
    frames, label = ds[13]
    assert frames.dtype == torch.float32 and frames.shape == (info.default_T, 2, info.height, info.width)
    assert label == 3 and frames.sum() > 0
    assert sorted(set(ds.labels.tolist())) == list(range(10))


def test_deterministic_and_seeded():
    config = SyntheticConfig(**SMALL)
    a, la = synthetic_events(config, "train", 7)
    b, lb = synthetic_events(config, "train", 7)
    np.testing.assert_array_equal(a, b)
    assert la == lb == 7
    assert (np.diff(a["t"]) >= 0).all() and a["x"].max() < 32 and a["y"].max() < 32
    other, _ = synthetic_events(SyntheticConfig(seed=1, **SMALL), "train", 7)
    assert len(other) != len(a) or not np.array_equal(other, a)
    test_sample, _ = synthetic_events(config, "test", 7)
    assert len(test_sample) != len(a) or not np.array_equal(test_sample, a)
    split = generate_split(config, "train")
    assert split["events"][7] == len(a)  # a sample does not depend on the others


def test_cache_is_reused_and_keyed(tmp_path):
    first = build_dataset("synthetic", "test", cache_dir=tmp_path, progress=False, **SMALL)
    assert first.generated_seconds is not None
    second = build_dataset("synthetic", "test", cache_dir=tmp_path, progress=False, **SMALL)
    assert second.generated_seconds is None
    torch.testing.assert_close(second.frames, first.frames)
    for change in (dict(T=4), dict(size=40), dict(noise=0.0), dict(seed=5)):
        other = build_dataset("synthetic", "test", cache_dir=tmp_path, progress=False, **{**SMALL, **change})
        assert other.generated_seconds is not None, change  # never the stale entry
    assert build_dataset("synthetic", "test", cache_dir=tmp_path, T=4, progress=False, **SMALL).frames.shape[1] == 4


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\].*known options: num_train"):
        build_dataset("synthetic", "train", colour="red")
    with pytest.raises(ValueError, match="noise must be in"):
        build_dataset("synthetic", "train", noise=-1.0)
    with pytest.raises(ValueError, match="do not pass root"):
        build_dataset("synthetic", "train", root="/data")


def test_flip_labels_are_mirror_classes():
    for label, flipped in enumerate(HFLIP_LABELS):
        assert HFLIP_LABELS[flipped] == label
        a, b = CLASS_NAMES[label], CLASS_NAMES[flipped]
        if "right" in a or "left" in a or "cw" in a:
            assert a != b and a.split("-")[0] == b.split("-")[0]
        else:
            assert a == b


def _pair_accuracy(train, test, ordered: bool) -> list[float]:
    """A linear classifier (logistic regression) on pooled frames, summed over time or not."""

    def features(frames):
        x = torch.from_numpy(frames).float()
        x = torch.nn.functional.avg_pool2d(x.flatten(0, 1), 8).unflatten(0, x.shape[:2])  # linear pooling
        return (x if ordered else x.sum(1)).flatten(1)

    x_train, x_test = features(train["frames"]), features(test["frames"])
    y_train, y_test = torch.from_numpy(train["labels"]), torch.from_numpy(test["labels"])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-3
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    torch.manual_seed(0)
    weight = torch.zeros(x_train.shape[1], 10, requires_grad=True)
    bias = torch.zeros(10, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x_train @ weight + bias, y_train) + 1e-3 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    logits = (x_test @ weight + bias).detach()
    accuracies = []
    for a, b in ORDER_PAIRS:
        mask = (y_test == a) | (y_test == b)
        pred = torch.where(logits[mask, a] > logits[mask, b], a, b)
        accuracies.append((pred == y_test[mask]).float().mean().item())
    return accuracies


@pytest.mark.slow
def test_order_only_pairs_need_the_order():
    config = SyntheticConfig(num_train=500, num_test=200, seed=3)
    train, test = generate_split(config, "train"), generate_split(config, "test")
    summed = _pair_accuracy(train, test, ordered=False)
    ordered = _pair_accuracy(train, test, ordered=True)
    # 40 test samples per pair: chance is 0.5 +- 0.08 (1 sd)
    assert max(summed) < 0.7, summed
    assert sum(a > 0.9 for a in ordered) >= 4 and np.mean(ordered) > 0.85, ordered


def test_small_frames_down_to_the_minimum(tmp_path):
    # size 16 used to fail on the hop classes (numpy: "high - low < 0"): 4 hops did not fit
    ds = build_dataset("synthetic", "train", size=16, num_train=8, num_test=8, cache_dir=tmp_path, progress=False)
    assert ds.frames.shape == (8, SyntheticConfig().T, 2, 16, 16) and ds.frames.sum() > 0
    for size in (16, 19, 21):
        config = SyntheticConfig(size=size, T=2)
        for index in range(8, 200, 10):  # hop-right and hop-left, 40 samples
            for i in (index, index + 1):
                events, _ = synthetic_events(config, "train", i)
                assert events["x"].max() < size and events["y"].max() < size
    with pytest.raises(ValueError, match="size must be an int >= 16, got 15"):
        build_dataset("synthetic", "train", size=15, cache_dir=tmp_path)


class _TopOfRange:
    """A stand-in RNG whose every draw is the top of its range: the largest blob, the longest hops."""

    def __init__(self, kind_draw: float) -> None:
        self.kind_draw = kind_draw

    def uniform(self, low, high, size=None):
        return high if size is None else np.full(size, float(high))

    def random(self) -> float:
        return self.kind_draw


@pytest.mark.parametrize("size", [16, 17, 21])
@pytest.mark.parametrize("kind_draw", [0.0, 0.9])  # square, disk
def test_hops_stay_in_the_frame_at_the_worst_case(size, kind_draw):
    from mpe_psn.data.synthetic_camera import _Canvas, _scene

    canvas = _Canvas(size)
    big = _Canvas(size + 40)  # the same blob drawn with room to spare, shifted by 20 pixels
    for label in (8, 9):
        mask_at = _scene(label, _TopOfRange(kind_draw), canvas, size)
        half = 4.0 * size / 32.0
        shape = "square" if kind_draw < 0.5 else "disk"
        masks = [mask_at(s) for s in np.linspace(0.13, 0.96, 40)]
        # each place of the hop keeps (almost) all of its area inside the frame
        full_area = big.shape(shape, 20 + size / 2, 20 + size / 2, half).sum()
        for mask in masks:
            assert mask.sum() > 0.97 * full_area, (label, size, mask.sum(), full_area)


def test_cache_key_ignores_comments_and_docstrings_but_not_code():
    from pathlib import Path

    import mpe_psn.data.synthetic_camera as camera
    from mpe_psn.data.synthetic import cache_params, code_digest

    source = Path(camera.__file__).read_text(encoding="utf-8")
    assert "_EDGE = 0.35" in source and '"""The built-in dataset' in source
    reworded = source.replace('"""The built-in dataset', '"""Reworded: the built-in dataset', 1)
    commented = reworded.replace("_EDGE = 0.35", "# a new comment\n\n_EDGE = 0.35  # edited comment", 1)
    edited = source.replace("_EDGE = 0.35", "_EDGE = 0.36", 1)
    assert code_digest([commented]) == code_digest([source])
    assert code_digest([edited]) != code_digest([source])
    config = SyntheticConfig(**SMALL)
    key = cache_params(config, "train")
    assert key == cache_params(SyntheticConfig(**SMALL), "train")  # the same parameters, the same key
    assert cache_params(SyntheticConfig(noise=0.03, **SMALL), "train") != key
    assert cache_params(config, "test") != key
