"""CIFAR-10/100 python batches, loaded without running arbitrary pickled code.

The official files are Python pickles of dicts holding bytes, strings, ints, lists and one
NumPy uint8 array. :class:`SafeUnpickler` resolves only the NumPy names needed to rebuild an
array (``_reconstruct``, ``ndarray``, ``dtype``); any other global (``os.system``, ...)
raises :class:`RecordingError` before anything runs. Sizes are checked: ``data`` must be
[N, 3072] uint8 with N labels in range.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from mpe_psn.data.readers.errors import RecordingError

__all__ = ["SafeUnpickler", "safe_load_pickle", "read_cifar_batch"]

_ALLOWED = {
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2 (str -> bytes, nothing else)
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}
MAX_BATCH_BYTES = 1 << 30


class SafeUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise RecordingError(f"{self.source}: refusing to load {module}.{name} from a pickle (not a plain CIFAR batch)")


def safe_load_pickle(path: "str | os.PathLike[str]"):
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise RecordingError(f"{path}: {size} bytes is far larger than a CIFAR batch")
    try:
        return SafeUnpickler(io.BytesIO(path.read_bytes()), str(path)).load()
    except RecordingError:
        raise
    except Exception as error:  # truncated or corrupt pickles raise many types
        raise RecordingError(f"{path}: cannot read the pickle ({type(error).__name__}: {error})") from error


def _get(d: dict, key: str):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise KeyError(key)


def read_cifar_batch(path: "str | os.PathLike[str]", label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 32, 32, 3], labels int64 [N]) of one batch file."""
    batch = safe_load_pickle(path)
    if not isinstance(batch, dict):
        raise RecordingError(f"{path}: expected a dict, got {type(batch).__name__}")
    try:
        data, labels = _get(batch, "data"), _get(batch, label_key)
    except KeyError as error:
        raise RecordingError(f"{path}: missing entry {error} (is this a CIFAR batch?)") from None
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise RecordingError(f"{path}: data must be uint8 [N, 3072], got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise RecordingError(f"{path}: {labels.shape[0]} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise RecordingError(f"{path}: labels outside 0..{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels
