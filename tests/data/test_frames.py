"""Frame integration against an independent, event-by-event computation (docs/design.md, "Data")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpe_psn.data import events_to_frames
from mpe_psn.data.events import EVENT_DTYPE, make_events, sanitize_events
from mpe_psn.data.frames import resize_frames
from tests.data.fakes import random_events


def reference_frames(events, T, height, width, split_by):
    """Loop over events and compute each one's frame from the rule as written in docs/design.md."""
    frames = np.zeros((T, 2, height, width))
    n = len(events)
    if n == 0:
        return frames
    if split_by == "number":
        d = n // T
        for i, e in enumerate(events):
            frame = T - 1
            for k in range(T - 1):
                if k * d <= i <= (k + 1) * d - 1:
                    frame = k
                    break
            frames[frame, e["p"], e["y"], e["x"]] += 1
    else:
        t0, t1 = int(events["t"][0]), int(events["t"][-1])
        d = (t1 - t0) // T
        for e in events:
            t = int(e["t"])
            frame = T - 1
            for k in range(T - 1):
                if t0 + k * d <= t < t0 + (k + 1) * d:
                    frame = k
                    break
            frames[frame, e["p"], e["y"], e["x"]] += 1
    return frames


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("n, T", [(203, 4), (200, 8), (37, 10), (5, 8), (1, 3), (0, 4)])
def test_integration_matches_reference(split_by, n, T):
    events = random_events(n, seed=n + T)
    got = events_to_frames(events, T, 16, 20, split_by=split_by)
    assert got.dtype == torch.float32 and got.shape == (T, 2, 16, 20)
    np.testing.assert_array_equal(got.numpy(), reference_frames(events, T, 16, 20, split_by))
    assert got.sum().item() == n


def test_number_split_remainder_goes_to_last_frame():
    events = random_events(23)
    frames = events_to_frames(events, 4, 16, 20)  # d = 5: frames hold 5, 5, 5, 8
    assert frames.sum(dim=(1, 2, 3)).tolist() == [5, 5, 5, 8]


def test_fewer_events_than_T_all_in_last_frame():
    frames = events_to_frames(random_events(3), 8, 16, 20, split_by="number")
    assert frames.sum(dim=(1, 2, 3)).tolist() == [0] * 7 + [3]
    close_in_time = make_events([100, 103, 106], [0, 1, 2], [0, 0, 0], [1, 0, 1])  # span 6 us < T
    frames = events_to_frames(close_in_time, 8, 16, 20, split_by="time")
    assert frames.sum(dim=(1, 2, 3)).tolist() == [0] * 7 + [3]


def test_polarity_channels_and_time_bins():
    ev = make_events([0, 10, 20, 30, 40], [1, 2, 3, 4, 5], [0, 0, 1, 1, 2], [0, 1, 0, 1, 1])
    frames = events_to_frames(ev, 2, 3, 6, split_by="time")  # d = 20: [0, 20) and [20, 40]
    assert frames[0, 0, 0, 1] == 1 and frames[0, 1, 0, 2] == 1
    assert frames[1, 0, 1, 3] == 1 and frames[1, 1, 1, 4] == 1 and frames[1, 1, 2, 5] == 1
    assert frames.sum() == 5


def test_bad_input_errors():
    with pytest.raises(ValueError, match="outside the 20x16 sensor"):
        events_to_frames(make_events([0], [20], [0], [1]), 2, 16, 20)
    with pytest.raises(ValueError, match="sort the events first"):
        events_to_frames(make_events([5, 1], [0, 0], [0, 0], [1, 1]), 2, 16, 20, split_by="time")
    with pytest.raises(ValueError, match="split_by"):
        events_to_frames(random_events(5), 2, 16, 20, split_by="frames")
    with pytest.raises(ValueError, match="T must be a positive int"):
        events_to_frames(random_events(5), 0, 16, 20)


def test_sanitize_drops_outside_and_sorts_stably():
    ev = make_events([5, 3, 3, 9, 1], [0, 1, 2, 99, 3], [0, 0, 0, 0, -1], [1, 0, 1, 1, 0])
    clean, issues = sanitize_events(ev, 16, 20)
    assert issues == {"outside": 2, "unsorted": 1}
    assert clean["t"].tolist() == [3, 3, 5] and clean["x"].tolist() == [1, 2, 0]  # equal t keep file order
    assert clean.dtype == EVENT_DTYPE


def test_resize():
    frames = torch.ones(3, 2, 8, 8)
    assert resize_frames(frames, (8, 8)) is frames
    small = resize_frames(frames, (4, 4))
    assert small.shape == (3, 2, 4, 4)
    torch.testing.assert_close(small, torch.ones(3, 2, 4, 4))
    resized = events_to_frames(random_events(50), 4, 16, 20, size=8)
    assert resized.shape == (4, 2, 8, 8)
