"""Writers of small fake SHD / SSC files in the published HDF5 layout (for the reader tests and
end-to-end training tests).

Layout written (as the release): ``spikes/times`` (variable-length float16 seconds),
``spikes/units`` (variable-length uint16), ``labels`` (uint16), ``extra/speaker`` (uint16),
``extra/keys`` (class names) and, for SHD, ``extra/meta_info/{gender,age,body_height}``.

Quick use::

    folder = write_shd_folder(tmp_path, n_train=40, n_test=20, seed=0)          # shd_train.h5, shd_test.h5
    build_dataset("shd", "train", root=folder, T=50, cache_dir=tmp_path / "cache")
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

CHANNELS = 700
#: class count and the word of each label as written to extra/keys
KEYS = {
    "shd": tuple("zero one two three four five six seven eight nine".split())
    + tuple("null eins zwei drei vier fuenf sechs sieben acht neun".split()),
    "ssc": tuple(
        "backward bed bird cat dog down eight five follow forward four go happy house learn left marvin nine no off "
        "on one right seven sheila six stop three tree two up visual wow yes zero".split()
    ),
}


def fake_samples(
    n: int,
    *,
    num_classes: int = 20,
    channels: int = CHANNELS,
    duration: float = 1.0,
    max_spikes: int = 300,
    seed: int = 0,
    times_dtype=np.float16,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """``n`` random samples (times list, units list, labels) that a network can learn.

    Sample ``i`` has label ``i % num_classes``; its spikes sit mostly in a band of channels and a
    stretch of time that depend on the label, plus uniform noise. Times are sorted and reach up
    to 1.2 x ``duration`` (so a window of ``duration`` drops some); every 7th sample (index 3,
    10, ...) has no spikes at all.
    """
    rng = np.random.default_rng(seed)
    times, units = [], []
    labels = np.arange(n) % num_classes
    band = max(channels // num_classes, 1)
    for i, label in enumerate(labels):
        k = 0 if i % 7 == 3 else int(rng.integers(1, max_spikes + 1))
        signal = rng.random(k) < 0.8
        unit = np.where(signal, label * band + rng.integers(0, band, k), rng.integers(0, channels, k))
        start = (label % 5) / 5 * duration
        time = np.where(signal, start + rng.random(k) * 0.25 * duration, rng.random(k) * 1.2 * duration)
        order = np.argsort(time, kind="stable")
        times.append(time[order].astype(times_dtype))
        units.append(np.minimum(unit[order], channels - 1).astype(np.uint16))
    return times, units, labels.astype(np.uint16)


def write_spike_file(
    path: "str | Path",
    times: Sequence,
    units: Sequence,
    labels: Sequence,
    *,
    times_dtype=np.float16,
    units_dtype=np.uint16,
    keys: "Sequence[str] | None" = None,
    speakers: "Sequence[int] | None" = None,
    meta_info: bool = False,
    chunks: "tuple[int] | None" = None,
    compression: "str | None" = None,
) -> Path:
    """Write exactly these samples in the published layout (lists may differ in length, to make bad files).

    ``chunks`` / ``compression`` apply to the two spike datasets (e.g. ``(4,)``, ``"gzip"``).
    """
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for key, rows, dtype in (("spikes/times", times, times_dtype), ("spikes/units", units, units_dtype)):
            data = np.empty(len(rows), dtype=object)
            for i, row in enumerate(rows):
                data[i] = np.asarray(row, dtype=dtype)
            ds = f.create_dataset(key, (len(rows),), dtype=h5py.vlen_dtype(np.dtype(dtype)), chunks=chunks,
                                  compression=compression)
            if len(rows):
                ds[...] = data
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        f.create_dataset("extra/speaker", data=np.asarray(speakers if speakers is not None else
                                                          np.arange(len(labels)) % 10, dtype=np.uint16))
        if keys is not None:
            f.create_dataset("extra/keys", data=[k.encode("utf-8") for k in keys])
        if meta_info:
            f.create_dataset("extra/meta_info/gender", data=[b"female", b"male"] * 5)
            f.create_dataset("extra/meta_info/age", data=np.arange(20, 30, dtype=np.uint16))
            f.create_dataset("extra/meta_info/body_height", data=np.linspace(1.6, 1.9, 10).astype(np.float32))
    return path


def write_fake_split(path: "str | Path", n: int, *, dataset: str = "shd", seed: int = 0, **sample_options):
    """One fake file of ``n`` samples; returns (times list, units list, labels) as written."""
    keys = KEYS[dataset]
    times, units, labels = fake_samples(n, num_classes=len(keys), seed=seed, **sample_options)
    write_spike_file(path, times, units, labels, keys=keys, meta_info=dataset == "shd")
    return times, units, labels


def write_shd_folder(folder: "str | Path", n_train: int = 40, n_test: int = 20, seed: int = 0, dataset: str = "shd",
                     n_valid: int = 0) -> Path:
    """``<dataset>_train.h5`` and ``<dataset>_test.h5`` (and ``ssc_valid.h5`` when ``n_valid``) in ``folder``."""
    if dataset not in KEYS:
        raise ValueError(f"dataset must be 'shd' or 'ssc', got {dataset!r}")
    folder = Path(folder)
    write_fake_split(folder / f"{dataset}_train.h5", n_train, dataset=dataset, seed=seed)
    write_fake_split(folder / f"{dataset}_test.h5", n_test, dataset=dataset, seed=seed + 1)
    if n_valid:
        write_fake_split(folder / f"{dataset}_valid.h5", n_valid, dataset=dataset, seed=seed + 2)
    return folder
