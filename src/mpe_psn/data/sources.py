"""Shared helpers of the dataset modules: option checks and the missing-data error."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable


class DatasetNotFoundError(FileNotFoundError):
    """The user's copy of a dataset is missing or incomplete; the message says what and where."""


def require_root(info, root) -> Path:
    if root is None:
        raise DatasetNotFoundError(
            f"dataset {info.name!r} is read from your own copy: pass root=<folder> (--data-dir on the command line). "
            f"Expected: {info.source}. Nothing is downloaded."
        )
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(f"dataset {info.name!r}: root {path} is not a folder. Expected: {info.source}.")
    return path


def missing(info, root: Path, what: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"dataset {info.name!r} is incomplete under {root}: {what}. Expected: {info.source}. Nothing is downloaded."
    )


def check_options(name: str, options: dict[str, Any], known: Iterable[str]) -> None:
    known = tuple(known)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for dataset {name!r}; known options: {', '.join(known) or '(none)'}"
        )
