"""What :func:`mpe_psn.convert` did: each replaced neuron with its old and new parameters, and
each neuron it left alone with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConversionReport", "LeftAlone", "Replacement", "UnsupportedNeuronError"]


class UnsupportedNeuronError(ValueError):
    """A neuron that :func:`mpe_psn.convert` should replace has settings with no equivalent here."""


@dataclass(frozen=True)
class Replacement:
    """One replaced module: where it sits, what it was, what it became."""

    name: str
    old_type: str
    new_type: str
    old_params: dict[str, Any]
    new_params: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeftAlone:
    """A neuron of another library that stays as it is, and why."""

    name: str
    type: str
    reason: str


@dataclass
class ConversionReport:
    """The record of one conversion (``str(report)`` is a readable summary)."""

    to: str
    replaced: list[Replacement] = field(default_factory=list)
    left_alone: list[LeftAlone] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "replaced": [vars(r) | {"notes": list(r.notes)} for r in self.replaced],
            "left_alone": [vars(s) for s in self.left_alone],
        }

    def __str__(self) -> str:
        lines = [f"converted {len(self.replaced)} neuron(s) to {self.to!r}, left {len(self.left_alone)} alone"]
        for r in self.replaced:
            old = ", ".join(f"{k}={v}" for k, v in r.old_params.items())
            new = ", ".join(f"{k}={v}" for k, v in r.new_params.items())
            lines.append(f"  {r.name or '<root>'}: {r.old_type}({old}) -> {r.new_type}({new})")
            lines.extend(f"      note: {note}" for note in r.notes)
        for s in self.left_alone:
            lines.append(f"  {s.name or '<root>'}: {s.type} left alone: {s.reason}")
        return "\n".join(lines)
