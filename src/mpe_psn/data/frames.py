"""Event streams to frames: per-polarity event counts in T slices, then resized.

Split by number (the paper's setting, SpikingJelly's ``split_by='number'``): with ``n``
events and ``d = n // T``, frame ``i < T-1`` counts events ``i*d .. (i+1)*d - 1`` and the
last frame counts events ``(T-1)*d .. n-1`` (it takes the remainder). When ``n < T``,
``d = 0``: frames ``0 .. T-2`` are empty and the last frame holds every event.

Split by time: with ``t0 = t[0]``, ``t1 = t[-1]`` and the integer ``d = (t1 - t0) // T``,
frame ``i < T-1`` counts events with ``t0 + i*d <= t < t0 + (i+1)*d`` and the last frame
every event with ``t >= t0 + (T-1)*d``. When ``d = 0`` (all events within fewer than T
microseconds) everything lands in the last frame, as in the number split.

An empty stream gives all-zero frames. Channel 0 counts polarity 0 (OFF), channel 1
polarity 1 (ON).
"""

from __future__ import annotations

import numpy as np
import torch

from mpe_psn.data.events import as_events

__all__ = ["events_to_frames", "integrate_events", "resize_frames", "frame_index"]

SPLIT_MODES = ("number", "time")


def frame_index(events: np.ndarray, T: int, split_by: str = "number") -> np.ndarray:
    """The frame (0..T-1) each event falls in, per the rules in this module's docstring."""
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if split_by not in SPLIT_MODES:
        raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")
    n = events.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if split_by == "number":
        d = n // T
        if d == 0:
            return np.full(n, T - 1, dtype=np.int64)
        return np.minimum(np.arange(n, dtype=np.int64) // d, T - 1)
    t = events["t"].astype(np.int64)
    if (np.diff(t) < 0).any():
        raise ValueError("split_by='time' needs timestamps in non-decreasing order; sort the events first")
    t0, t1 = int(t[0]), int(t[-1])
    d = (t1 - t0) // T
    if d == 0:
        return np.full(n, T - 1, dtype=np.int64)
    return np.minimum((t - t0) // d, T - 1)


def integrate_events(events: np.ndarray, T: int, height: int, width: int, split_by: str = "number") -> np.ndarray:
    """Count events per (frame, polarity, y, x) at the sensor resolution: int32 [T, 2, H, W].

    ``events``: any array :func:`mpe_psn.data.events.as_events` accepts (Tonic's included).
    Events must lie inside the sensor (see :func:`mpe_psn.data.events.sanitize_events`).
    """
    events = as_events(events)
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    frames = np.zeros((T, 2, height, width), dtype=np.int32)
    idx = frame_index(events, T, split_by)
    if events.shape[0] == 0:
        return frames
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    p = events["p"].astype(np.int64)
    if x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height:
        raise ValueError(
            f"events outside the {width}x{height} sensor (x in [{x.min()}, {x.max()}], y in [{y.min()}, {y.max()}]); "
            "drop them with mpe_psn.data.events.sanitize_events or pass the right sensor size"
        )
    if p.max() > 1:
        raise ValueError(f"polarity must be 0 or 1, got {p.max()}")
    flat = ((idx * 2 + p) * height + y) * width + x
    frames.reshape(-1)[:] = np.bincount(flat, minlength=frames.size)
    return frames


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize [T, C, H, W] frames to ``size`` = (height, width) as an image.

    Like the authors, the frame tensor is resized as an image, with bilinear interpolation
    (``antialias=True`` when shrinking, so that every event contributes to some output
    pixel). Same size: returned unchanged.
    """
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    if tuple(frames.shape[-2:]) == (h, w):
        return frames
    shrinking = h < frames.shape[-2] or w < frames.shape[-1]
    return torch.nn.functional.interpolate(
        frames.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=shrinking
    )


def events_to_frames(
    events: np.ndarray,
    T: int,
    height: int,
    width: int,
    split_by: str = "number",
    *,
    size: "int | tuple[int, int] | None" = None,
) -> torch.Tensor:
    """Per-polarity event counts, float32 [T, 2, height, width] (or [T, 2, *size] if resized).

    ``height`` and ``width`` are the sensor's; ``size`` (an int for square, or (h, w))
    resizes the frames afterwards (see :func:`resize_frames`).
    """
    frames = torch.from_numpy(integrate_events(events, T, height, width, split_by)).float()
    if size is not None:
        frames = resize_frames(frames, (size, size) if isinstance(size, int) else size)
    return frames
