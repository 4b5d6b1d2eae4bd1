"""On-disk cache of prepared arrays (frames, labels), keyed by every parameter that changes them.

An entry is one ``.npz`` file named ``<dataset>/<key>.npz``, where ``key`` is the SHA-256 of
the canonical JSON of the parameters (dataset, split, T, size, split mode, generator or
reader version, ...). The same parameters are stored inside the entry and compared on load,
so a changed parameter can never read a stale entry, even on a hash collision or a file
copied by hand. Entries are written atomically (temporary file, then ``os.replace``): an
interrupted write leaves no entry at all. Loading never unpickles (``allow_pickle=False``);
an unreadable entry is reported and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mpe_psn.utils.atomic import atomic_write_bytes

__all__ = ["default_cache_dir", "cache_key", "cache_path", "save_entry", "load_entry"]

_META = "__meta__"


def default_cache_dir() -> Path:
    """``$MPE_PSN_CACHE`` if set, else ``~/.cache/mpe-psn``."""
    env = os.environ.get("MPE_PSN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mpe-psn"


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(params: Mapping[str, Any]) -> str:
    """A 32-hex-digit key that changes whenever any parameter changes."""
    return hashlib.sha256(_canonical(params).encode("utf-8")).hexdigest()[:32]


def cache_path(cache_dir: "str | os.PathLike[str] | None", dataset: str, params: Mapping[str, Any]) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / dataset / f"{cache_key(params)}.npz"


def save_entry(
    path: "str | os.PathLike[str]", arrays: Mapping[str, np.ndarray], params: Mapping[str, Any], compress: bool = False
) -> None:
    """Write ``arrays`` plus the parameters as one ``.npz`` (zip-deflated if ``compress``), atomically."""
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    meta = np.frombuffer(_canonical(params).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    save = np.savez_compressed if compress else np.savez
    save(buffer, **{_META: meta}, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buffer.getvalue())


def _check_sizes(path: Path) -> None:
    """Refuse an entry whose array headers claim more bytes than its members hold (no OOM)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if dtype.hasobject or needed > info.file_size:
                    raise ValueError(f"member {info.filename} claims {needed} bytes but holds {info.file_size}")


def load_entry(path: "str | os.PathLike[str]", params: Mapping[str, Any]) -> "dict[str, np.ndarray] | None":
    """The arrays of the entry at ``path`` if it exists, is readable and was made with ``params``.

    Returns ``None`` when there is no entry or it belongs to other parameters; a corrupt
    entry is reported with a warning and also gives ``None`` (the caller rebuilds it).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        _check_sizes(path)
        with np.load(path, allow_pickle=False) as data:
            stored = bytes(data[_META]).decode("utf-8")
            if stored != _canonical(params):
                return None
            return {name: data[name] for name in data.files if name != _META}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        warnings.warn(f"cache entry {path} is unreadable ({error}); rebuilding it", stacklevel=2)
        return None
