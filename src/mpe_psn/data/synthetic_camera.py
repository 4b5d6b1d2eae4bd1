"""The built-in dataset's camera: a small simulated event camera filming moving shapes.

Each sample is a short clip (normalised time s in [0, 1], ``frame_us`` microseconds per frame)
of a bright object on a dim, textured, static background, plus a small distractor dot that
drifts in a random direction. The camera renders the scene ``substeps`` times per frame; a
pixel emits an event whenever its log intensity has moved by its contrast threshold ``C``
(about ``contrast``, with a per-pixel mismatch) since its last event:

    L = log(I + 0.05),  n = floor(|L - L_ref| / C),  polarity = [L > L_ref],  L_ref += sign * n * C

and sensor noise adds ``noise`` random events per pixel per frame (Poisson, random polarity).
Events become T frames by :func:`mpe_psn.data.events_to_frames` (``split_by="time"``).

Classes (10), five *order-only* pairs. Every object appears (ON events over its shape) at a
random time near the start and vanishes (OFF events) near the end, so every pixel it ever
covers gets the same rise and fall in both classes of a pair: the summed frames of the two
classes have the same distribution and a model that sees only the sum is at chance within a
pair. Each frame in between shows the motion's polarity pattern (ON on the leading side, OFF
on the trailing side), so the order is visible within one or two adjacent frames:

====  ====================  ==========================================================
0, 1  sweep-right / -left   a bar crosses the view horizontally
2, 3  sweep-down / -up      a bar crosses the view vertically
4, 5  expand / contract     a disk grows / shrinks
6, 7  rotate-cw / -ccw      a bar turns about its centre by 90-150 degrees
8, 9  hop-right / -left     a square or disk jumps 4 times by a bit more than its radius
====  ====================  ==========================================================

The splits (which clip each (seed, split, index) is) are in ``synthetic_splits``, the cached
dataset in ``synthetic``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from mpe_psn.data.events import make_events

__all__ = ["CLASS_NAMES", "ORDER_PAIRS", "HFLIP_LABELS", "SyntheticConfig", "camera_events"]

CLASS_NAMES: tuple[str, ...] = (
    "sweep-right",
    "sweep-left",
    "sweep-down",
    "sweep-up",
    "expand",
    "contract",
    "rotate-cw",
    "rotate-ccw",
    "hop-right",
    "hop-left",
)

#: Pairs of classes whose summed frames are identically distributed (order-only pairs).
ORDER_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))

#: Label of a sample after a horizontal flip (left and right swap; everything else stays).
HFLIP_LABELS: tuple[int, ...] = (1, 0, 2, 3, 4, 5, 7, 6, 9, 8)

_EDGE = 0.35  # softness of shape edges, pixels


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Every parameter of the generator (all of them key the cache).

    size: frame height = width in pixels (geometry scales with it; 32..64 sensible).
    T: frames per sample.  num_train, num_test: samples per split (classes balanced by
    ``index % 10``).  seed: master seed.  noise: sensor-noise events per pixel per frame.
    contrast: mean contrast threshold of the log intensity.  substeps: renders per frame.
    distractor: whether a drifting dot is added.  frame_us: microseconds per frame.
    """

    size: int = 32
    T: int = 8
    num_train: int = 2000
    num_test: int = 500
    seed: int = 0
    noise: float = 0.02
    contrast: float = 0.25
    substeps: int = 4
    distractor: bool = True
    frame_us: int = 10_000

    def __post_init__(self) -> None:
        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"synthetic option {name} must be an int >= {minimum}, got {value!r}")

        positive_int("size", 16)
        positive_int("T")
        positive_int("num_train")  # an empty split trains to nan and evaluates to nothing
        positive_int("num_test")
        positive_int("seed", 0)
        positive_int("substeps")
        positive_int("frame_us", 1)
        if not (0.0 <= float(self.noise) <= 10.0):
            raise ValueError(f"synthetic option noise must be in [0, 10] events per pixel per frame, got {self.noise!r}")
        if not (0.01 <= float(self.contrast) <= 2.0):
            raise ValueError(f"synthetic option contrast must be in [0.01, 2], got {self.contrast!r}")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class _Canvas:
    def __init__(self, size: int) -> None:
        coords = np.arange(size, dtype=np.float64) + 0.5
        self.yy, self.xx = np.meshgrid(coords, coords, indexing="ij")

    def box(self, cx: float, cy: float, hw: float, hh: float) -> np.ndarray:
        return _sigmoid((hw - np.abs(self.xx - cx)) / _EDGE) * _sigmoid((hh - np.abs(self.yy - cy)) / _EDGE)

    def disk(self, cx: float, cy: float, r: float) -> np.ndarray:
        return _sigmoid((r - np.hypot(self.xx - cx, self.yy - cy)) / _EDGE)

    def bar(self, cx: float, cy: float, angle: float, half_len: float, half_thick: float) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        u = (self.xx - cx) * c + (self.yy - cy) * s
        v = -(self.xx - cx) * s + (self.yy - cy) * c
        return _sigmoid((half_len - np.abs(u)) / _EDGE) * _sigmoid((half_thick - np.abs(v)) / _EDGE)

    def shape(self, kind: str, cx: float, cy: float, half: float) -> np.ndarray:
        # A disk of radius half * 2/sqrt(pi) has the area of the square of half-side ``half``.
        return self.box(cx, cy, half, half) if kind == "square" else self.disk(cx, cy, half * 1.1284)


def _scene(label: int, rng: np.random.Generator, canvas: _Canvas, size: int) -> Callable[[float], np.ndarray]:
    """The object's mask (values in [0, 1]) as a function of normalised time s.

    Every object appears at ``t_on`` and vanishes at ``t_off``, so each pixel it ever covers
    gets one rise (ON) and one fall (OFF) in both classes of a pair.
    """
    k = size / 32.0
    name = CLASS_NAMES[label]
    t_on, t_off = rng.uniform(0.03, 0.12), rng.uniform(0.88, 0.97)

    def progress(s: float) -> float:
        return (s - t_on) / (t_off - t_on)

    def visible(shape_at: Callable[[float], np.ndarray]) -> Callable[[float], np.ndarray]:
        blank = np.zeros_like(canvas.xx)
        return lambda s: shape_at(progress(s)) if t_on <= s < t_off else blank

    if name.startswith("sweep"):
        horizontal = name in ("sweep-right", "sweep-left")
        sign = 1.0 if name in ("sweep-right", "sweep-down") else -1.0
        half_thick = rng.uniform(1.5, 2.5) * k
        half_len = rng.uniform(5.0, 9.0) * k
        travel = rng.uniform(12.0, 18.0) * k
        margin = travel / 2 + half_thick + 1
        along = rng.uniform(margin, size - margin)
        across = rng.uniform(half_len + 1, size - half_len - 1)

        def bar(u: float) -> np.ndarray:
            pos = along + sign * travel * (u - 0.5)
            if horizontal:
                return canvas.box(pos, across, half_thick, half_len)
            return canvas.box(across, pos, half_len, half_thick)

        return visible(bar)
    if name in ("expand", "contract"):
        r_small, r_big = rng.uniform(2.0, 4.0) * k, rng.uniform(9.0, 12.0) * k
        cx, cy = rng.uniform(r_big + 1, size - r_big - 1, size=2)
        r_start, r_end = (r_small, r_big) if name == "expand" else (r_big, r_small)
        return visible(lambda u: canvas.disk(cx, cy, r_start + (r_end - r_start) * u))
    if name in ("rotate-cw", "rotate-ccw"):
        half_len, half_thick = rng.uniform(7.0, 10.0) * k, rng.uniform(1.3, 2.0) * k
        cx, cy = rng.uniform(half_len + 1, size - half_len - 1, size=2)
        sweep = np.deg2rad(rng.uniform(90.0, 150.0))
        first = rng.uniform(0, np.pi)  # angle (in image coordinates, y down) of the cw start
        a_start, a_end = (first, first + sweep) if name == "rotate-cw" else (first + sweep, first)
        return visible(lambda u: canvas.bar(cx, cy, a_start + (a_end - a_start) * u, half_len, half_thick))

    # hop-right, hop-left: a blob jumps ``hops`` times by ``dist`` (a bit more than its radius)
    kind = "square" if rng.random() < 0.5 else "disk"
    half = rng.uniform(3.0, 4.0) * k
    hops = 4
    dist = rng.uniform(4.0, 5.0) * k
    sign = 1.0 if name == "hop-right" else -1.0
    # a 1-pixel border beyond the blob, narrowed on small frames (size < 22) so that the
    # hops still fit: the blob itself (radius <= half * 1.13) always stays in the frame
    margin = min(half * 1.13 + 1, (size - hops * dist) / 2)
    low = rng.uniform(margin, max(margin, size - margin - hops * dist))  # leftmost place (max: rounding)
    cy = rng.uniform(margin, size - margin)
    first = 0 if sign > 0 else hops
    places = [canvas.shape(kind, low + dist * (first + sign * i), cy, half) for i in range(hops + 1)]
    # equal stretches of the visible time, with jittered hop times
    cuts = [(i + rng.uniform(-0.2, 0.2)) / len(places) for i in range(1, len(places))]
    return visible(lambda u: places[int(np.searchsorted(cuts, u, side="right"))])


def camera_events(config: SyntheticConfig, label: int, rng: np.random.Generator) -> np.ndarray:
    """The events (time-sorted ``EVENT_DTYPE`` array) the camera records of one clip of class ``label``.

    Every random draw comes from ``rng``, in a fixed order, so a clip is a pure function of
    (config, label, the state of ``rng``).
    """
    size, T, sub = config.size, config.T, config.substeps
    canvas = _Canvas(size)

    background = rng.uniform(0.12, 0.3) + 0.04 * np.sin(
        canvas.xx * rng.uniform(0.1, 0.4) + rng.uniform(0, 6.3)
    ) * np.cos(canvas.yy * rng.uniform(0.1, 0.4) + rng.uniform(0, 6.3))
    brightness = rng.uniform(0.75, 1.0)
    mask_at = _scene(label, rng, canvas, size)
    if config.distractor:
        d_start = rng.uniform(4, size - 4, size=2)
        d_angle = rng.uniform(0, 2 * np.pi)
        d_speed = rng.uniform(4.0, 10.0) * size / 32.0
        d_bright = rng.uniform(0.45, 0.65)

    def render(s: float) -> np.ndarray:
        m = mask_at(s)
        image = background * (1 - m) + brightness * m
        if config.distractor:
            cx = d_start[0] + d_speed * np.cos(d_angle) * s
            cy = d_start[1] + d_speed * np.sin(d_angle) * s
            dm = canvas.disk(cx, cy, 1.3 * size / 32.0)
            image = image * (1 - dm) + d_bright * dm
        return np.log(image + 0.05)

    steps = T * sub
    duration = T * config.frame_us
    threshold = config.contrast * np.clip(1.0 + 0.1 * rng.standard_normal((size, size)), 0.6, 1.4)
    reference = render(0.0)
    chunks_t, chunks_x, chunks_y, chunks_p = [], [], [], []
    for step in range(1, steps + 1):
        level = render(step / steps)
        diff = level - reference
        count = np.floor(np.abs(diff) / threshold).astype(np.int64)
        if count.any():
            reference = reference + np.sign(diff) * count * threshold
            ys, xs = np.nonzero(count)
            reps = count[ys, xs]
            t_lo = (step - 1) * duration // steps
            t_hi = step * duration // steps
            chunks_t.append(rng.integers(t_lo, t_hi, size=int(reps.sum())))
            chunks_x.append(np.repeat(xs, reps))
            chunks_y.append(np.repeat(ys, reps))
            chunks_p.append(np.repeat((diff[ys, xs] > 0).astype(np.uint8), reps))
    n_noise = int(rng.poisson(config.noise * size * size * T))
    chunks_t.append(rng.integers(0, duration, size=n_noise))
    chunks_x.append(rng.integers(0, size, size=n_noise))
    chunks_y.append(rng.integers(0, size, size=n_noise))
    chunks_p.append(rng.integers(0, 2, size=n_noise).astype(np.uint8))
    events = make_events(*(np.concatenate(c) for c in (chunks_t, chunks_x, chunks_y, chunks_p)))
    return events[np.argsort(events["t"], kind="stable")]


