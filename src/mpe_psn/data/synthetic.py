"""The built-in event dataset: a simulated event camera filming moving shapes, cached as frames.

Three modules, one job each: ``synthetic_camera`` (the scenes and the camera: what one clip of
a class looks like, and the generator's parameters ``SyntheticConfig``), ``synthetic_splits``
(which clip each (seed, split, index) is; a whole split as frames) and this one (the
``Dataset``: generated once, then read from the frame cache). Events become T frames by
:func:`mpe_psn.data.events_to_frames` (``split_by="time"``).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mpe_psn.data.cache import cache_path, load_entry, save_entry
from mpe_psn.data.synthetic_camera import CLASS_NAMES, HFLIP_LABELS, ORDER_PAIRS, SyntheticConfig, camera_events
from mpe_psn.data.synthetic_splits import SPLITS, generate_split, synthetic_events

__all__ = [
    "CLASS_NAMES",
    "ORDER_PAIRS",
    "HFLIP_LABELS",
    "SyntheticConfig",
    "SyntheticEvents",
    "camera_events",
    "synthetic_events",
    "generate_split",
    "cache_params",
    "code_digest",
    "GENERATOR_VERSION",
]

#: Bumped whenever the generator's output changes on purpose. The cache key also holds
#: :func:`code_digest` of the generator's modules, so an edited generator never reads samples
#: made by an older one, while an edited comment or docstring keeps the cache.
GENERATOR_VERSION = 2

_GENERATOR_MODULES = ("synthetic_camera.py", "synthetic_splits.py")


def code_digest(sources: "list[str] | tuple[str, ...]") -> str:
    """A digest of what Python code means, not how it is written: the syntax trees of
    ``sources`` with docstrings removed (comments, blank lines and line numbers never reach
    the tree), so only a change of the code itself changes it."""
    digest = hashlib.sha256()
    for source in sources:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        digest.update(ast.dump(tree, annotate_fields=False).encode())
    return digest.hexdigest()[:16]


def _generator_digest() -> str:
    here = Path(__file__).parent
    return code_digest([(here / name).read_text(encoding="utf-8") for name in _GENERATOR_MODULES])


def cache_params(config: SyntheticConfig, split: str) -> dict[str, Any]:
    """The cache key of one split: the generator's version and code digest, the split, every parameter."""
    return {
        "dataset": "synthetic",
        "version": GENERATOR_VERSION,
        "source": _generator_digest(),
        "split": split,
        **dataclasses.asdict(config),
    }


class SyntheticEvents(torch.utils.data.Dataset):
    """One split of the built-in dataset, generated once and then read from the cache.

    Items: (frames float32 [T, 2, size, size], label int). ``transform`` (optional) maps
    (frames, label) to (frames, label), e.g. :class:`mpe_psn.data.augment.EventAugment`.
    """

    class_names = CLASS_NAMES
    name = "synthetic"

    def __init__(
        self,
        split: str,
        config: SyntheticConfig | None = None,
        *,
        cache_dir=None,
        transform: Callable[[torch.Tensor, int], tuple[torch.Tensor, int]] | None = None,
        progress: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.config = config or SyntheticConfig()
        params = cache_params(self.config, split)
        path = cache_path(cache_dir, "synthetic", params)
        arrays = load_entry(path, params)
        self.cache_file = path
        self.generated_seconds: float | None = None
        if arrays is None:
            start = time.perf_counter()
            arrays = generate_split(self.config, split, progress=progress)
            self.generated_seconds = time.perf_counter() - start
            try:
                save_entry(path, arrays, params)
            except OSError as error:  # a read-only cache folder must not stop training
                warnings.warn(f"could not write the cache entry {path}: {error}", stacklevel=2)
        self.frames = torch.from_numpy(np.ascontiguousarray(arrays["frames"]))
        self.labels = arrays["labels"].astype(np.int64)
        self.events_per_sample = arrays["events"].astype(np.int64)
        self.transform = transform
        self.skipped = 0

    def __len__(self) -> int:
        return self.frames.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, label = self.frames[index].float(), int(self.labels[index])
        if self.transform is not None:
            frames, label = self.transform(frames, label)
        return frames, label
