"""Never break a user: the per-setting fallback that every fused op shares.

Under ``backend="auto"`` a fused kernel that fails to compile or launch (an old GPU, a Triton
version that rejects one specialisation) must not stop a training run. :func:`guarded` runs the
fused call; on a failure it records that *setting* (a key the op builds: backend, device, dtype,
and whatever the kernels are specialised on) as failed, warns once naming the error, what is
now slower and how to see the error raised, and runs the reference, for that setting only and
for the rest of the process. Every other setting keeps its fused kernel. :func:`fallbacks`
lists the settings that fell back (benchmarks record it beside their timings).

A backend the caller named (``strict``) raises instead, and so does anything inside
``torch.compile`` (a probe already ran in eager mode). Out-of-memory errors are re-raised: the
reference needs more memory, not less.
"""

from __future__ import annotations

import logging
import warnings
from typing import Callable, Hashable, TypeVar

import torch

__all__ = ["guarded", "fallbacks", "warn_once", "logger"]

R = TypeVar("R")
logger = logging.getLogger("mpe_psn")
_warned: set[Hashable] = set()
#: (op, setting key) -> (description, one-line error) of every setting that failed under "auto"
_failed: dict[tuple[str, Hashable], tuple[str, str]] = {}
#: (op, setting key) whose probe passed
_probed: set[tuple[str, Hashable]] = set()


def warn_once(key: Hashable, message: str, stacklevel: int = 5) -> None:
    """A ``RuntimeWarning`` (and a log line) the first time ``key`` is seen in this process."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)
        logger.warning(message)


def fallbacks() -> dict[str, str]:
    """The settings that fell back to the reference under ``"auto"`` in this process.

    ``{"mpe triton cuda:0 float32 bernoulli passes=1 triangular": "RuntimeError: ...", ...}``;
    empty when every call so far ran its fused kernel.
    """
    return {f"{op} {described}": reason for (op, _), (described, reason) in _failed.items()}


def failed(op: str, key: Hashable) -> bool:
    """Whether ``key`` of ``op`` already fell back in this process."""
    return (op, key) in _failed


def _give_up(op: str, key: Hashable, described: str, backend: str, error: BaseException) -> None:
    text = str(error).strip()
    reason = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
    _failed[(op, key)] = (described, reason)
    warn_once(
        ("failed", op, key),
        f"the fused {op} kernel failed for {described} ({reason}); backend='auto' runs layers with this "
        f"setting on the reference implementation from now on (several times slower; other settings keep "
        f"their fused kernel). Pass backend={backend!r} to see the error raised, and "
        f"mpe_psn.ops.fallbacks() lists the settings that fell back",
        stacklevel=6,
    )


def guarded(
    op: str,
    key: Hashable,
    describe: Callable[[], str],
    strict: bool,
    fused: Callable[[], R],
    reference: Callable[[], R],
    probe: "Callable[[], None] | None" = None,
) -> R:
    """``fused()``; under "auto" (``strict`` False) a failure of it, or of ``probe()`` (run once
    per key, before the first real call), sends ``key`` to ``reference()`` from then on.

    ``key[0]`` is the backend's name (used in the message); ``describe()`` renders the setting.
    """
    if strict or torch.compiler.is_compiling():
        return fused()
    if (op, key) in _failed:
        return reference()
    try:
        if probe is not None and (op, key) not in _probed:
            probe()
            _probed.add((op, key))
        return fused()
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as error:  # a compile or launch failure of the fused kernel
        _give_up(op, key, describe(), str(key[0]) if isinstance(key, tuple) else str(key), error)
        return reference()
