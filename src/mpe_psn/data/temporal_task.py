"""``build_dataset("temporal", ...)``: the built-in temporal task, generated on first use and cached.

Spike patterns whose class lives only in relative spike timing (see
:mod:`mpe_psn.data.temporal_generator` for the generator and what it guarantees). The cache
holds spike *times* (float32 [N, channels]: one spike per channel per sample), not frames, so
one entry serves every T, bin width and window; the frames are binned when an item is read
(:class:`mpe_psn.data.temporal.TemporalSpikes`).

Options (see docs/datasets.md, "The built-in temporal task"): the generator's
(:class:`TemporalConfig`: num_train, num_test, channels, seed, segments, dim, smoothness,
spread, jitter, noise) and the binning ones every temporal dataset takes (dt, duration,
shuffle_time, shuffle_seed). With ``shuffle_time``, sample ``i`` of the test split is permuted
with ``2 * shuffle_seed + 1`` and sample ``i`` of the training split with ``2 * shuffle_seed``:
both have label ``i % 10``, and a shared permutation would let a model match them.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mpe_psn.data.cache import cache_path, load_entry, save_entry
from mpe_psn.data.sources import check_options
from mpe_psn.data.synthetic import code_digest
from mpe_psn.data.temporal import TEMPORAL_OPTIONS, TemporalSpikes, bin_width, resolve_bins
from mpe_psn.data.temporal_generator import NUM_CLASSES, PATTERN_SECONDS, SPLITS, TemporalConfig, generate_split

__all__ = ["TEMPORAL_CLASSES", "OPTIONS", "GENERATOR_VERSION", "validate_options", "cache_params", "build",
           "TemporalTaskSpikes"]

#: One name per class; class ``k`` plays the pieces with the k-th multiplier (see the generator).
TEMPORAL_CLASSES: tuple[str, ...] = tuple(f"pattern-{k}" for k in range(NUM_CLASSES))

#: Bumped whenever the generator's output changes on purpose; the cache key also holds a digest
#: of the generator's code, so an edited generator never reads samples made by an older one.
GENERATOR_VERSION = 1

_GENERATOR_MODULES = ("temporal_generator.py",)
_CONFIG_OPTIONS = tuple(f.name for f in dataclasses.fields(TemporalConfig))
OPTIONS = _CONFIG_OPTIONS + TEMPORAL_OPTIONS


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    check_options("temporal", options, OPTIONS)
    return ({k: v for k, v in options.items() if k in _CONFIG_OPTIONS},
            {k: v for k, v in options.items() if k in TEMPORAL_OPTIONS})


def _check_binning(binning: dict[str, Any]) -> None:
    resolve_bins(1, binning.get("dt"), binning.get("duration", PATTERN_SECONDS))
    if not isinstance(binning.get("shuffle_time", False), bool):
        raise ValueError(f"temporal option shuffle_time must be true or false, got {binning['shuffle_time']!r}")
    seed = binning.get("shuffle_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"temporal option shuffle_seed must be an int >= 0, got {seed!r}")


def validate_options(options: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming an unknown option or an impossible value (generates nothing)."""
    generator, binning = _split_options(dict(options))
    TemporalConfig(**generator)
    _check_binning(binning)


def _generator_digest() -> str:
    here = Path(__file__).parent
    return code_digest([(here / name).read_text(encoding="utf-8") for name in _GENERATOR_MODULES])


def cache_params(config: TemporalConfig, split: str) -> dict[str, Any]:
    """The cache key of one split: generator version and code digest, the split, every generator option."""
    return {"dataset": "temporal", "version": GENERATOR_VERSION, "source": _generator_digest(), "split": split,
            **dataclasses.asdict(config)}


class TemporalTaskSpikes(TemporalSpikes):
    """One split of the built-in temporal task: :class:`TemporalSpikes` plus where it came from.

    ``split``, ``config`` (the generator's parameters), ``cache_file``, ``generated_seconds``
    (``None`` when the split was read from the cache).
    """

    split: str
    config: TemporalConfig
    cache_file: Path
    generated_seconds: "float | None"


def _load_or_generate(config: TemporalConfig, split: str, cache_dir: Any, progress: bool
                      ) -> tuple[dict[str, np.ndarray], Path, "float | None"]:
    params = cache_params(config, split)
    path = cache_path(cache_dir, "temporal", params)
    arrays = load_entry(path, params)
    seconds = None
    if arrays is None:
        start = time.perf_counter()
        arrays = generate_split(config, split, progress=progress)
        seconds = time.perf_counter() - start
        try:
            save_entry(path, arrays, params)
        except OSError as error:  # a read-only cache folder must not stop training
            warnings.warn(f"could not write the cache entry {path}: {error}", stacklevel=3)
    return arrays, path, seconds


def build(info, split: str, *, root, T: int, size: tuple[int, int], augment: bool, cache_dir, skip_bad: bool,
          progress: bool = True, **options: Any) -> TemporalTaskSpikes:
    """One split as :class:`TemporalTaskSpikes` (items: frames float32 [T, channels], label)."""
    generator, binning = _split_options(dict(options))
    config = TemporalConfig(**generator)
    _check_binning(binning)
    if root is not None:
        raise ValueError("dataset 'temporal' is generated, not read: do not pass root (use cache_dir for its cache)")
    if tuple(size) != (1, 1):
        raise ValueError(f"dataset 'temporal' yields spike channels [T, channels]; size does not apply (got {size})")
    if augment:
        raise ValueError("dataset 'temporal' has no augmentation (augment=True)")
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    dt = bin_width(info.name, T, binning.get("dt"), binning.get("duration"), PATTERN_SECONDS)
    arrays, path, seconds = _load_or_generate(config, split, cache_dir, progress)
    times = np.asarray(arrays["times"], dtype=np.float32)
    n, channels = times.shape
    order = np.argsort(times, axis=1, kind="stable")  # each sample's spikes in time order
    dataset = TemporalTaskSpikes(
        info.name, info.class_names, np.take_along_axis(times, order, axis=1).reshape(-1), order.reshape(-1),
        np.arange(n + 1, dtype=np.int64) * channels, arrays["labels"], T=T, dt=dt, channels=channels,
        shuffle_time=binning.get("shuffle_time", False),
        # train and test sample i share a label (i % 10): they must not share a time permutation too
        shuffle_seed=2 * binning.get("shuffle_seed", 0) + SPLITS[split])
    dataset.split, dataset.config, dataset.cache_file, dataset.generated_seconds = split, config, path, seconds
    return dataset
