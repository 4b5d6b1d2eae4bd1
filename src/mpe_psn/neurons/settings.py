"""Neuron settings as data: one frozen record per neuron kind, and :func:`configure`, which
applies overrides to every layer of a model that takes them, for good or for a ``with`` block.

A *setting* is what may change on a built layer without touching its parameters, buffers or
shapes: which estimator it samples, how many correction passes it runs, which backend runs it.
Each neuron kind keeps its settings in one frozen record, ``layer.settings``; the layer's
attributes of the same names (``layer.refine_steps``) read it, and writing one replaces the
record (checked, like every record, by its ``__post_init__``).

Where a change goes:

* a new setting of a neuron kind: one field (and its check) in that kind's record; the neuron
  reads it from ``self.settings`` and :func:`configure` knows it;
* a new neuron kind with settings: its own record (a frozen dataclass subclassing
  :class:`NeuronSettings`), kept by the layer as ``self.settings``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import nn

from mpe_psn.functional.checks import check_estimator, check_refine_steps
from mpe_psn.ops import BACKENDS
from mpe_psn.ops.lif import check_lif_backend

__all__ = ["NeuronSettings", "MPEPSNSettings", "LIFSettings", "setting", "configurable_layers", "configure", "setting_names"]


class NeuronSettings:
    """Base of the settings records (frozen dataclasses): the layer keeps one as ``settings``."""

    def replace(self, **changes: Any) -> "NeuronSettings":
        """A new record with ``changes`` (checked as a new record is)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True)
class MPEPSNSettings(NeuronSettings):
    """MPE-PSN: ``estimator`` in training mode and ``eval_estimator`` in eval mode (``"bernoulli"``
    or ``"expected"``), ``refine_steps`` correction passes (``>= T - 1``: the exact LIF) and the
    ``backend`` (``mpe_psn.ops.BACKENDS``)."""

    estimator: str = "bernoulli"
    eval_estimator: str = "expected"
    refine_steps: int = 0
    backend: str = "auto"

    def __post_init__(self) -> None:
        check_estimator(self.estimator)
        check_estimator(self.eval_estimator)
        check_refine_steps(self.refine_steps)
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {list(BACKENDS)}")


@dataclass(frozen=True)
class LIFSettings(NeuronSettings):
    """The exact LIF: the ``backend`` of its multi-step call (``mpe_psn.ops.registry.choices("lif")``)."""

    backend: str = "auto"

    def __post_init__(self) -> None:
        check_lif_backend(self.backend)


class setting:
    """A neuron attribute that reads and writes one field of the layer's ``settings`` record."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, layer: Any, owner: type | None = None) -> Any:
        return self if layer is None else getattr(layer.settings, self.name)

    def __set__(self, layer: Any, value: Any) -> None:
        layer.settings = layer.settings.replace(**{self.name: value})


def _record_types(base: type = NeuronSettings) -> Iterator[type]:
    for cls in base.__subclasses__():
        yield cls
        yield from _record_types(cls)


def setting_names() -> tuple[str, ...]:
    """Every setting any neuron kind has (sorted)."""
    return tuple(sorted({name for cls in _record_types() for name in cls.names()}))


def configurable_layers(model: nn.Module, kind: "type | tuple[type, ...] | None" = None) -> list[tuple[str, nn.Module]]:
    """``(name, layer)`` of every layer of ``model`` (itself included) that has neuron settings,
    in module order; ``kind`` keeps only instances of that class (or classes)."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(getattr(m, "settings", None), NeuronSettings) and (kind is None or isinstance(m, kind))]


class configure:
    """Set neuron settings on every layer of ``model`` that has them; a context manager too.

    ::

        mpe_psn.configure(model, eval_estimator="expected")       # from now on
        with mpe_psn.configure(model, refine_steps=3):            # for one block: the layers'
            evaluate(model)                                       # records come back after it

    Each override goes to the layers whose record has that field (``backend`` to MPE-PSN and
    LIF layers alike; ``kind=MPEPSN`` narrows it). A value may be a function of a layer's
    current record, for per-layer values: ``refine_steps=lambda s: max(s.refine_steps, T - 1)``.
    A name no neuron kind has, or a bad value, raises ``ValueError`` before any layer changes.
    ``changed`` lists the names of the layers that took at least one override.
    """

    def __init__(self, model: nn.Module, kind: "type | tuple[type, ...] | None" = None,
                 **overrides: "Any | Callable[[NeuronSettings], Any]") -> None:
        unknown = sorted(set(overrides) - set(setting_names()))
        if unknown:
            raise ValueError(f"unknown neuron setting(s) {unknown}; the settings are {list(setting_names())}")
        planned = []
        for name, layer in configurable_layers(model, kind):
            old = layer.settings
            fitting = {key: value(old) if callable(value) else value
                       for key, value in overrides.items() if key in old.names()}
            if fitting:
                try:
                    planned.append((name, layer, old, old.replace(**fitting)))
                except (TypeError, ValueError) as error:
                    raise ValueError(f"layer {name or type(model).__name__!r}: {error}") from None
        for _, layer, _, new in planned:
            layer.settings = new
        self._saved = [(layer, old) for _, layer, old, _ in planned]
        self.changed = [name for name, *_ in planned]

    def restore(self) -> None:
        """Give every changed layer back the record it had before."""
        for layer, old in reversed(self._saved):
            layer.settings = old

    def __enter__(self) -> "configure":
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
