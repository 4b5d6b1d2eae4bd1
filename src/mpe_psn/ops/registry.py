"""One registry of fused backends, shared by every fused op (``ops/mpe``, ``ops/lif``, ...).

A backend is a record (:class:`Backend`): its name, the op it serves, why it cannot run on a
device and dtype (``unavailable``), and a lazy ``load`` of its host module (the code that
launches its kernels). An op registers its backends with :func:`register` in its own folder;
nothing here names an op, so a new fused op is one more folder and no edit of this file.

The policy that every op shares lives here too, and only the part that every op shares:

* :func:`choices`: the names a user may pass (``"auto"``, ``"reference"`` and every registered
  fused backend of that op), the one list that neurons, configs and the command line read.
* :func:`select`: ``"auto"`` (or ``MPE_PSN_BACKEND``) picks the first registered backend that
  runs on the device and dtype, in registration order, else the reference; a named backend
  that cannot run there is an error that says why and what can (never a silent fallback).

Per-setting fallbacks after a kernel failure (a compile error on one dtype, say) stay with the
op, which knows its settings (``ops/mpe/dispatch.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["Backend", "BackendUnavailable", "ENV_VAR", "REFERENCE", "register", "backends", "choices", "select"]

ENV_VAR = "MPE_PSN_BACKEND"
REFERENCE = "reference"
AUTO = "auto"


class BackendUnavailable(ValueError):
    """A backend named by the caller cannot run on this device or dtype."""


@dataclass(frozen=True)
class Backend:
    """One fused implementation of one op.

    ``unavailable(device, dtype)`` returns ``None`` when the backend runs there, else the reason
    (a sentence a user can act on). ``load()`` imports and returns the host module; it is
    called once per process and cached, so a missing compiler costs nothing until it is used.
    """

    op: str
    name: str
    unavailable: Callable[[torch.device, torch.dtype], "str | None"]
    load: Callable[[], Any]
    description: str = ""
    _loaded: dict = field(default_factory=dict, compare=False, repr=False)

    def host(self) -> Any:
        """The backend's host module (imported on first use)."""
        if "host" not in self._loaded:
            self._loaded["host"] = self.load()
        return self._loaded["host"]

    def import_error(self, needs: str) -> "str | None":
        """Why the host module does not import (``needs`` says what to install; asked once per
        process), or None when it does: the usual last clause of ``unavailable``."""
        if "error" not in self._loaded:
            try:
                self.host()
                self._loaded["error"] = None
            except Exception as error:  # ImportError, or a broken compiler install
                self._loaded["error"] = f"{needs} ({type(error).__name__}: {error})"
        return self._loaded["error"]


_REGISTRY: dict[str, dict[str, Backend]] = {}


def register(backend: Backend) -> Backend:
    """Add ``backend`` to its op's list (``"auto"`` prefers earlier registrations); returns it."""
    if backend.name in (AUTO, REFERENCE):
        raise ValueError(f"{backend.name!r} is a reserved backend name")
    _REGISTRY.setdefault(backend.op, {})[backend.name] = backend
    return backend


def backends(op: str) -> dict[str, Backend]:
    """The fused backends registered for ``op``, in order of preference."""
    return dict(_REGISTRY.get(op, {}))


def choices(op: str) -> tuple[str, ...]:
    """Every name a caller may pass for ``op``: ``"auto"``, ``"reference"``, then the fused ones."""
    return (AUTO, REFERENCE, *_REGISTRY.get(op, {}))


def check_choice(op: str, backend: str) -> str:
    """``backend`` if it names a choice of ``op``, else a ``ValueError`` listing the choices."""
    if backend not in choices(op):
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(choices(op))}")
    return backend


def requested(backend: str, op: str) -> tuple[str, str]:
    """``(name, origin)``: ``"auto"`` replaced by ``MPE_PSN_BACKEND`` when that is set; origin
    says who asked (for messages)."""
    check_choice(op, backend)
    if backend != AUTO:
        return backend, "argument"
    env = os.environ.get(ENV_VAR, "").strip().lower()
    if not env:
        return AUTO, "auto"
    if env not in choices(op):
        raise ValueError(f"{ENV_VAR}={env!r} is not one of {list(choices(op))}; unset it or pick one of those")
    return env, ENV_VAR


def runnable(op: str, device: torch.device, dtype: torch.dtype) -> dict[str, "str | None"]:
    """For each fused backend of ``op``: ``None`` if it runs on ``device``/``dtype``, else why not."""
    return {name: b.unavailable(device, dtype) for name, b in _REGISTRY.get(op, {}).items()}


def select(op: str, backend: str, device: "torch.device | str", dtype: torch.dtype = torch.float32) -> tuple[str, bool]:
    """``(name, strict)``: the backend that runs ``op`` here; strict when the caller (or
    ``MPE_PSN_BACKEND``) named it, so a failure must raise rather than fall back.

    Raises :class:`BackendUnavailable` when a named fused backend cannot run on ``device`` /
    ``dtype``, naming the reason and the backends that can.

    Inside ``torch.compile`` it runs once, eagerly, when the graph is traced (its answer is a
    constant of the graph): asking a backend imports its host module, which a traced function
    must not do (the trace diverged on its restart).
    """
    device = torch.device(device)
    name, origin = requested(backend, op)
    if name == REFERENCE:
        return REFERENCE, origin != "auto"
    status = runnable(op, device, dtype)
    if name == AUTO:
        return next((n for n, why in status.items() if why is None), REFERENCE), False
    why = status[name]
    if why is not None:
        can = [REFERENCE] + [n for n, w in status.items() if w is None]
        who = f"{ENV_VAR}={name}" if origin == ENV_VAR else f"backend {name!r}"
        raise BackendUnavailable(
            f"{op}: {who} cannot run on {device.type} {str(dtype).replace('torch.', '')} tensors: {why}. "
            f"Available here: {can} (or 'auto', which picks the fastest of them)"
        )
    return name, True


# ``torch.compiler.assume_constant_result(select)`` without its import of torch._dynamo, which
# costs about 1.5 s of every ``import mpe_psn`` (and so of every ``mpe-psn`` command): the
# decorator only sets this attribute (tests/ops/test_dispatch.py checks that it still does)
select._dynamo_marked_constant = True  # type: ignore[attr-defined]
