"""``build_dataset("synthetic", ...)``: options of the built-in dataset."""

from __future__ import annotations

import dataclasses
from typing import Any

from mpe_psn.data.augment import EventAugment
from mpe_psn.data.sources import check_options
from mpe_psn.data.synthetic import HFLIP_LABELS, SyntheticConfig, SyntheticEvents
from mpe_psn.data.synthetic_difficulty import resolve_difficulty

OPTIONS = tuple(f.name for f in dataclasses.fields(SyntheticConfig) if f.name not in ("size", "T")) + ("difficulty",)


def validate_options(options: dict[str, Any]) -> None:
    """Raise ``ValueError`` for an unknown option or an impossible value (without generating anything)."""
    check_options("synthetic", options, OPTIONS)
    options = resolve_difficulty(options)
    try:
        SyntheticConfig(**options)
    except (TypeError, ValueError) as error:
        if str(error).startswith("synthetic option"):
            raise
        raise ValueError(f"dataset 'synthetic' options {options}: {error}") from None


def build(info, split: str, *, root, T: int, size: tuple[int, int], augment: bool, cache_dir, skip_bad: bool,
          progress: bool = True, **options: Any) -> SyntheticEvents:
    validate_options(options)
    if root is not None:
        raise ValueError("dataset 'synthetic' is generated, not read: do not pass root (use cache_dir for its cache)")
    if size[0] != size[1]:
        raise ValueError(f"dataset 'synthetic' makes square frames; got size {size}")
    config = SyntheticConfig(size=size[0], T=T, **resolve_difficulty(options))
    transform = EventAugment(pad=max(1, size[0] // 8), hflip=True, flip_labels=HFLIP_LABELS) if augment else None
    return SyntheticEvents(split, config, cache_dir=cache_dir, transform=transform, progress=progress)
