"""The built-in temporal task's generator (numpy only): spike patterns whose class lives only in timing.

Every sample is a 1-second pattern with **exactly one spike per channel**, so the per-channel
spike counts are the same (all ones) for every sample of every class. Times below are in
seconds (fractions of the 1-s pattern). A sample is made in four steps:

1. *A point on a shared random manifold* (in the style of Zenke & Vogels' smooth random
   manifolds, "Randman"). Channel ``i`` has a preferred phase ``mu_i = (i + 1/2) / C`` (a
   raster in channel order shows the pieces below as diagonal strokes; a model that takes
   the channels as unordered inputs gains nothing from the order) and a smooth random
   displacement ``g_i(x)`` of a point ``x`` drawn uniformly from the ``dim``-dimensional
   torus::

       g_i(x) = sum_{d < dim} sum_{k = 1..F} a_idk k^(-smoothness) sin(2 pi (k x_d + phi_idk)),

   scaled to unit standard deviation over ``x`` (``a`` standard normal, ``phi`` uniform,
   F = 4). With ``K = segments`` and ``r`` uniform in {0, ..., K - 1}, the phase of channel
   ``i`` is::

       s_i = (mu_i + spread * g_i(x) + jitter * eps_i + r / K)  mod 1,    eps_i ~ N(0, 1).

   Nothing in step 1 depends on the class.
2. *Cut into K pieces*: piece ``c_i = floor(K s_i)``, offset inside it ``o_i = frac(K s_i)``.
3. *Play the pieces in a class-specific order* (the class): class ``y`` has a multiplier
   ``m_y`` (the 10 smallest integers >= 1 coprime to K) and piece ``c`` is played in slot
   ``m_y c mod K``; channel ``i`` fires at::

       t_i = ((m_y c_i mod K) + o_i) / K.

   Consecutive pieces ``c`` and ``c + 1`` sound ``m_y`` slots (``m_y / K`` s, circularly)
   apart, and consecutive slots play pieces ``m_y^-1 (mod K)`` apart; ``r`` shifts the
   whole played pattern circularly by ``m_y r`` slots.
4. *Noise* (off by default): each channel, with probability ``noise``, fires instead at a
   time drawn uniformly (a uniform slot, a uniform offset) that carries nothing.

What a model can and cannot use:

* per-channel counts: all ones, identical for every class (exactly);
* when one channel fires, on its own: its slot ``m_y (c_i + r) mod K`` is uniform over the K
  slots for every class (``r`` is uniform and ``m_y`` invertible mod K), and its offset does
  not depend on the class: every (channel, step) entry of the frames has the same mean for
  every class (a linear model of the frames still gets part of the way, by weights under
  which the spikes of one class add up coherently: that is relative timing too);
* the frames as an unordered set (the time-shuffle control): when the bin width divides the
  piece length (T a multiple of K at the default 1-s window), every bin lies inside one
  slot, and the played pieces are the same K pieces for every class, only in another order;
  so the unordered frames have the same distribution for every class (the law of ``s`` does
  not change when ``r`` grows by one, and noise spikes are spread alike over the slots), and
  any model of them is at chance;
* *relative timing* carries the class: the channels that fire just after a slot boundary
  are the ones whose preferred phase lies ``m_y^-1 / K`` past the phase of the channels that
  fired just before it.

Every sample is a pure function of (config, split, index): its label is ``index % 10`` and its
random stream is seeded by (seed, split, index). The task itself (manifold, multipliers) is a
function of (seed, channels, segments, dim, smoothness) only.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Iterable

import numpy as np
from tqdm import tqdm

__all__ = ["NUM_CLASSES", "PATTERN_SECONDS", "SPLITS", "TemporalConfig", "TemporalTask", "multipliers", "make_task",
           "pattern_times", "sample_times", "generate_split"]

NUM_CLASSES = 10
#: Every pattern lies in [0, PATTERN_SECONDS).
PATTERN_SECONDS = 1.0
#: split -> its random stream (part of every sample's seed)
SPLITS = {"train": 0, "test": 1}
_FREQUENCIES = 4  # F: Fourier terms per manifold dimension
_TASK_TAG, _SAMPLE_TAG = 0x7A5C, 0x5A3B
_EDGE = 1e-6  # a spike stays at least this far (s) below the end of its slot, whatever the rounding


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(np.isfinite(value))


def multipliers(segments: int) -> tuple[int, ...]:
    """The class multipliers: the 10 smallest integers ``m >= 1`` with ``gcd(m, segments) = 1``
    (fewer when ``segments`` has fewer such numbers below it)."""
    return tuple(m for m in range(1, segments) if math.gcd(m, segments) == 1)[:NUM_CLASSES]


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """Every parameter of the generator (all of them key the cache; T and the bins do not).

    num_train, num_test: samples per split (label ``index % 10``). channels: spike channels
    (one spike each per sample). seed: master seed (the task and the samples). segments:
    the pieces (K) that the class reorders; at least 10 integers below it must be coprime to
    it (11, 25, 50, 100 are fine, 10 and 20 are not). dim: dimension of the shared manifold.
    smoothness: power-law fall-off of its Fourier terms (larger: smoother). spread:
    standard deviation (s) of the manifold displacement of a channel's phase. jitter:
    standard deviation (s) of independent spike-time noise. noise: probability that a
    channel fires at a uniformly random time instead (per sample and channel).
    """

    num_train: int = 2000
    num_test: int = 1000
    channels: int = 700
    seed: int = 0
    segments: int = 50
    dim: int = 2
    smoothness: float = 2.0
    spread: float = 0.025
    jitter: float = 0.002
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("num_train", "num_test", "channels", "dim"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"temporal option {name} must be a positive int, got {value!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"temporal option seed must be an int >= 0, got {self.seed!r}")
        K = self.segments
        if not _is_int(K) or not 11 <= K <= 10_000 or len(multipliers(K)) < NUM_CLASSES:
            raise ValueError(f"temporal option segments must be an int in [11, 10000] with at least {NUM_CLASSES} "
                             f"integers below it coprime to it (e.g. 11, 25, 50, 100; not 10, 20, 30), "
                             f"got {self.segments!r}")
        for name in ("smoothness", "spread", "jitter"):
            value = getattr(self, name)
            if not _is_real(value) or value < 0:
                raise ValueError(f"temporal option {name} must be a number >= 0, got {value!r}")
        if not _is_real(self.noise) or not 0 <= self.noise <= 1:
            raise ValueError(f"temporal option noise must be a number in [0, 1], got {self.noise!r}")


@dataclasses.dataclass(frozen=True)
class TemporalTask:
    """The fixed part of the task: preferred phases ``mu`` [C]; the manifold's terms [C, dim, F]
    (``amplitude``: fall-off applied, divided by the channel's standard deviation; ``phase``);
    the class multipliers [10]."""

    mu: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray
    multipliers: np.ndarray


def make_task(config: TemporalConfig) -> TemporalTask:
    """The preferred phases, the manifold of ``config``'s seed and the class multipliers."""
    rng = np.random.default_rng([config.seed, _TASK_TAG])
    C = config.channels
    mu = (np.arange(C) + 0.5) / C
    k = np.arange(1, _FREQUENCIES + 1, dtype=np.float64)
    amplitude = rng.standard_normal((C, config.dim, _FREQUENCIES)) * k ** -float(config.smoothness)
    # sin(2 pi (k x + phi)) with x uniform has variance 1/2, and distinct (d, k) terms are uncorrelated
    amplitude /= np.sqrt(0.5 * (amplitude ** 2).sum(axis=(1, 2), keepdims=True))
    phase = rng.uniform(0.0, 1.0, (C, config.dim, _FREQUENCIES))
    return TemporalTask(mu, amplitude, phase, np.array(multipliers(config.segments), dtype=np.int64))


def _sample_rng(config: TemporalConfig, split: str, index: int) -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return np.random.default_rng([config.seed, SPLITS[split], index, _SAMPLE_TAG])


def pattern_times(config: TemporalConfig, task: TemporalTask, label: int, rng: np.random.Generator) -> np.ndarray:
    """The spike times (float64 [channels], s; channel ``i`` fires once, at ``times[i]``) of a
    pattern of class ``label``, drawing the point, the shift and the jitter from ``rng`` (the
    same draws for every label: the class only decides the slot of each piece)."""
    K = config.segments
    x = rng.uniform(0.0, 1.0, config.dim)
    r = int(rng.integers(K))
    eps = rng.standard_normal(config.channels)
    k = np.arange(1, _FREQUENCIES + 1, dtype=np.float64)
    g = (task.amplitude * np.sin(2.0 * np.pi * (k * x[:, None] + task.phase))).sum(axis=(1, 2))
    scaled = np.mod(task.mu + config.spread * g + config.jitter * eps + r / K, 1.0) * K
    piece = np.minimum(np.floor(scaled).astype(np.int64), K - 1)
    offset = np.clip(scaled - piece, 0.0, 1.0 - _EDGE * K)
    slot = (task.multipliers[label] * piece) % K
    noisy = rng.random(config.channels) < config.noise  # these channels fire at a random time instead
    slot[noisy] = rng.integers(K, size=int(noisy.sum()))
    offset[noisy] = np.clip(rng.uniform(0.0, 1.0, int(noisy.sum())), 0.0, 1.0 - _EDGE * K)
    return (slot + offset) / K * PATTERN_SECONDS


def sample_times(config: TemporalConfig, task: TemporalTask, split: str, index: int) -> tuple[np.ndarray, int]:
    """The spike times (float64 [channels], s) and the label (``index % 10``) of sample ``index``."""
    label = index % NUM_CLASSES
    return pattern_times(config, task, label, _sample_rng(config, split, index)), label


def generate_split(config: TemporalConfig, split: str, progress: bool = False,
                   indices: "Iterable[int] | None" = None) -> dict[str, np.ndarray]:
    """Spike times (float32 [N, channels], s) and labels (int64 [N]) of a split (or of ``indices``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    task = make_task(config)
    wanted = list(indices) if indices is not None else range(config.num_train if split == "train" else config.num_test)
    times = np.zeros((len(wanted), config.channels), dtype=np.float32)
    labels = np.zeros(len(wanted), dtype=np.int64)
    rows: Iterable[tuple[int, int]] = enumerate(wanted)
    if progress:
        rows = tqdm(rows, total=len(wanted), desc=f"temporal {split}", unit="sample", leave=False)
    for row, index in rows:
        t, labels[row] = sample_times(config, task, split, int(index))
        times[row] = t
    return {"times": times, "labels": labels}
