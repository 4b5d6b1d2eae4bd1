"""``build_dataset("shd" | "ssc", ...)``: the Spiking Heidelberg Digits and Spiking Speech Commands
from the user's HDF5 files (nothing is downloaded).

Files, in ``root`` or in ``root/SHD`` / ``root/SSC`` (where Tonic keeps them): ``shd_train.h5``,
``shd_test.h5``; ``ssc_train.h5``, ``ssc_test.h5`` (``ssc_valid.h5`` with ``holdout="valid"``).
The spikes of a split are read once (:mod:`mpe_psn.data.readers.hdf5_spikes`), cached as CSR
arrays keyed by the file's path, size and modification time, and binned to ``[T, 700]`` when
an item is read (:class:`mpe_psn.data.temporal.TemporalSpikes`).

Options: ``dt`` (bin width in seconds; default ``duration / T``), ``duration`` (window in
seconds, default 1.0; with ``dt`` the window is ``T * dt``), ``shuffle_time``,
``shuffle_seed`` (the time-shuffle control), ``holdout`` ("test" or, for SSC, "valid": the
file the test split reads), ``progress``.
"""

from __future__ import annotations

import json
import os
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mpe_psn.data.cache import cache_path, load_entry, save_entry
from mpe_psn.data.readers import hdf5_spikes
from mpe_psn.data.readers.errors import RecordingError
from mpe_psn.data.sources import DatasetNotFoundError, check_options, require_root
from mpe_psn.data.temporal import TEMPORAL_OPTIONS, TemporalSpikes, bin_width, resolve_bins

__all__ = ["SHD_CLASSES", "SSC_CLASSES", "OPTIONS", "validate_options", "build", "split_file", "load_split"]

#: Labels 0-9: the English digits, 10-19: the German digits (as the release orders them).
SHD_CLASSES = tuple(f"english-{w}" for w in "zero one two three four five six seven eight nine".split()) + tuple(
    f"german-{w}" for w in "null eins zwei drei vier fünf sechs sieben acht neun".split()
)
#: The 35 Speech Commands words in label order (alphabetical).
SSC_CLASSES = tuple(
    "backward bed bird cat dog down eight five follow forward four go happy house learn left marvin nine no off "
    "on one right seven sheila six stop three tree two up visual wow yes zero".split()
)

OPTIONS = TEMPORAL_OPTIONS + ("holdout", "progress")
_DEFAULT_DURATION = 1.0
_FOLDERS = {"shd": "SHD", "ssc": "SSC"}
_URL = "https://zenkelab.org/datasets/"


def _check(name: str, options: dict[str, Any]) -> None:
    check_options(name, options, OPTIONS)
    try:
        resolve_bins(1, options.get("dt"), options.get("duration", _DEFAULT_DURATION))  # positive finite numbers
    except ValueError as error:
        raise ValueError(f"dataset {name!r} option {error}") from None
    for key in ("shuffle_time", "progress"):
        if key in options and not isinstance(options[key], bool):
            raise ValueError(f"dataset {name!r} option {key} must be true or false, got {options[key]!r}")
    seed = options.get("shuffle_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"dataset {name!r} option shuffle_seed must be an int >= 0, got {seed!r}")
    if options.get("holdout", "test") not in ("test", "valid"):
        raise ValueError(f"dataset {name!r} option holdout must be 'test' or 'valid', got {options['holdout']!r}")


def validate_options(options: dict[str, Any]) -> None:
    """Raise ``ValueError`` for an unknown option or an impossible value (reads no file)."""
    _check("shd/ssc", dict(options))


def split_file(info, root: "str | os.PathLike[str] | None", split: str, holdout: str = "test") -> Path:
    """The HDF5 file of ``split``; :class:`DatasetNotFoundError` says what is missing and how to get it."""
    folder = require_root(info, root)
    stem = f"{info.name}_{'train' if split == 'train' else holdout}.h5"
    places = [folder, folder / _FOLDERS[info.name]]
    for place in places:
        if (place / stem).is_file():
            return place / stem
    where = " or ".join(str(p) for p in places)
    for place in places:
        for suffix, tool in ((".gz", "gunzip"), (".zip", "unzip")):
            packed = place / (stem + suffix)
            if packed.is_file():
                raise DatasetNotFoundError(
                    f"dataset {info.name!r}: found {packed} but not {stem}: unpack it first ({tool} {packed}); "
                    "the reader does not read compressed archives. Nothing is downloaded."
                )
    raise DatasetNotFoundError(
        f"dataset {info.name!r}: no {stem} in {where}. Get {stem}.gz from {_URL} and unpack it there "
        f"(gunzip {stem}.gz). Nothing is downloaded."
    )


def _normal(name: str) -> str:
    text = unicodedata.normalize("NFKD", name.strip().lower().replace("ü", "ue"))
    return "".join(c for c in text if not unicodedata.combining(c)).replace(" ", "-").replace("_", "-")


def _check_keys(info, path: Path, keys: "tuple[str, ...] | None") -> None:
    """Warn when the file's extra/keys name the labels differently from the registry."""
    if keys is None:
        return
    ours = [_normal(n) for n in info.class_names]
    theirs = [_normal(k) for k in keys]
    if len(theirs) != len(ours) or any(o != t and not o.endswith("-" + t) for o, t in zip(ours, theirs)):
        warnings.warn(f"{path}: extra/keys lists the classes as {list(keys)}, which does not match "
                      f"{info.name!r}'s names {list(info.class_names)}; labels are used as stored", stacklevel=3)


def _cache_params(info, path: Path) -> dict[str, Any]:
    st = os.stat(path)
    return {"dataset": info.name, "split_file": path.name, "file": str(path.resolve()), "bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns, "reader_version": hdf5_spikes.READER_VERSION,
            "channels": info.in_channels, "num_classes": info.num_classes}


def _from_entry(arrays: dict[str, np.ndarray], info) -> "hdf5_spikes.SpikeSplit | None":
    """The split held by a cache entry, or None when the entry is inconsistent."""
    try:
        problems = json.loads(bytes(arrays["problems"]).decode("utf-8"))
        split = hdf5_spikes.SpikeSplit(arrays["times"], arrays["units"], arrays["offsets"], arrays["labels"],
                                       skipped=len(problems), problems=problems)
    except (KeyError, ValueError, TypeError, UnicodeDecodeError):
        return None
    ok = isinstance(problems, list) and hdf5_spikes.check_split(split, info.in_channels, info.num_classes)
    return split if ok else None


def load_split(info, path: Path, *, cache_dir=None, skip_bad: bool = False, progress: bool = True
               ) -> hdf5_spikes.SpikeSplit:
    """The checked spikes of ``path``, from the cache when it holds this very file, else read and cached."""
    params = _cache_params(info, path)
    entry = cache_path(cache_dir, info.name, params)
    arrays = load_entry(entry, params)
    split = _from_entry(arrays, info) if arrays is not None else None
    if arrays is not None and split is None:
        warnings.warn(f"cache entry {entry} is inconsistent; reading {path} again", stacklevel=2)
    if split is not None:
        if split.problems and not skip_bad:  # a bad file read earlier with skip_bad: fail as a fresh read would
            more = f" (and {split.skipped - 1} more bad samples; skip_bad=True leaves them out)" * (split.skipped > 1)
            raise RecordingError(split.problems[0] + more)
    else:
        split = hdf5_spikes.read_hdf5_spikes(path, channels=info.in_channels, num_classes=info.num_classes,
                                             skip_bad=skip_bad, progress=progress,
                                             desc=f"{info.name}: reading {path.name}", work_dir=entry.parent)
        _check_keys(info, path, split.keys)
        problems = np.frombuffer(json.dumps(split.problems).encode("utf-8"), dtype=np.uint8)
        save_entry(entry, {"times": split.times, "units": split.units, "offsets": split.offsets,
                           "labels": split.labels, "problems": problems}, params)
    if split.skipped:
        more = f"; first: {split.problems[0]}"
        warnings.warn(f"{path}: skipped {split.skipped} bad sample(s){more}", stacklevel=2)
    return split


def build(info, split: str, *, root, T: int, size: tuple[int, int], augment: bool, cache_dir, skip_bad: bool,
          progress: bool = True, **options: Any) -> TemporalSpikes:
    """One split of SHD or SSC as :class:`TemporalSpikes` (items: float32 [T, 700], label)."""
    if info.name not in _FOLDERS:
        raise ValueError(f"mpe_psn.data.shd builds 'shd' and 'ssc', not {info.name!r}")
    _check(info.name, dict(options, progress=progress))
    if tuple(size) != (1, 1):
        raise ValueError(f"dataset {info.name!r} is spike channels [T, {info.in_channels}]: it has no frame size "
                         f"(got size {tuple(size)}; leave size unset)")
    if augment:
        raise ValueError(f"dataset {info.name!r} has no augmentation; build it with augment=False")
    holdout = options.get("holdout", "test")
    if holdout == "valid" and info.name != "ssc":
        raise ValueError(f"dataset {info.name!r} has no validation file; holdout='valid' is for 'ssc'")
    width = bin_width(info.name, T, options.get("dt"), options.get("duration"), _DEFAULT_DURATION)
    path = split_file(info, root, split, holdout)
    spikes = load_split(info, path, cache_dir=cache_dir, skip_bad=skip_bad, progress=progress)
    dataset = TemporalSpikes(info.name, info.class_names, spikes.times, spikes.units, spikes.offsets, spikes.labels,
                             T=T, dt=width, channels=info.in_channels,
                             shuffle_time=options.get("shuffle_time", False),
                             shuffle_seed=int(options.get("shuffle_seed", 0)))
    dataset.split = split
    dataset.source = str(path)
    dataset.skipped = spikes.skipped
    dataset.skipped_files = list(spikes.problems)  # one line per skipped sample: file, key, index, reason
    return dataset
