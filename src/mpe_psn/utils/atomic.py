"""Atomic file writes: write to a temporary file in the target's folder, fsync, then rename.

A reader never sees a half-written file: either the old content or the new one. An interrupted
write leaves at most a ``.tmp`` file that no reader looks at.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import torch

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save"]


@contextlib.contextmanager
def atomic_open(path: "str | os.PathLike[str]", mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on clean exit it replaces ``path`` atomically."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open supports modes 'wb' and 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; results and caches are meant to be shared
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_bytes(path: "str | os.PathLike[str]", data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: "str | os.PathLike[str]", text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: "str | os.PathLike[str]", obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: "str | os.PathLike[str]") -> None:
    """``torch.save`` that never leaves a truncated checkpoint behind."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())
