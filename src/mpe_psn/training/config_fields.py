"""What a config section is made of: settings (dataclass fields that carry their help, check and
choices) and the :class:`Section` base class, which checks its own settings.

A setting is declared once, with :func:`setting`::

    lr: float = setting(1e-3, "learning rate", POSITIVE_NUMBER)

and everything else reads that one field: the JSON a run folder saves, the check that names
the key (``config key 'lr' must be a positive number, got -1``), the flag ``--lr`` with its help
(``mpe_psn.commands`` makes one flag per field, see :func:`flag_spec`) and ``--set lr=...``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Mapping, Union

from mpe_psn.errors import UsageError

__all__ = [
    "BOOL", "Check", "ConfigError", "FlagSpec", "FRACTION", "INT_AT_LEAST_0", "NUMBER", "NUMBER_AT_LEAST_0", "OPTIONS",
    "PATH", "POSITIVE_INT", "POSITIVE_NUMBER", "Section", "flag_spec", "names_of", "nullable", "one_of", "parse_text",
    "setting", "value_from_text",
]


class ConfigError(UsageError):
    """A configuration that cannot be trained: unknown key or impossible value."""


# ---------------------------------------------------------------------------------------------
# checks


@dataclass(frozen=True)
class Check:
    """A rule for one value: ``ok(value)``, and the words for what the value must be (a function
    for words made of a registry's names, read when a message is written)."""

    ok: Callable[[Any], bool]
    expected: "str | Callable[[], str]"

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.ok(value))
        except TypeError:
            return False

    def what(self) -> str:
        """What a value must be: ``a positive int``, ``one of ['sgd', 'adam', 'adamw']``."""
        return self.expected() if callable(self.expected) else self.expected


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


POSITIVE_INT = Check(lambda v: _is_int(v) and v >= 1, "a positive int")
INT_AT_LEAST_0 = Check(lambda v: _is_int(v) and v >= 0, "an int >= 0")
NUMBER = Check(_is_number, "a number")
POSITIVE_NUMBER = Check(lambda v: _is_number(v) and v > 0, "a positive number")
NUMBER_AT_LEAST_0 = Check(lambda v: _is_number(v) and v >= 0, "a number >= 0")
FRACTION = Check(lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a number in [0, 1]")
BOOL = Check(lambda v: isinstance(v, bool), "true or false")
PATH = Check(lambda v: isinstance(v, str) and v != "", "a folder path")
OPTIONS = Check(lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a JSON object of options")


def nullable(check: Check) -> Check:
    """``check``, or None (JSON null)."""
    return Check(lambda v: v is None or check(v), lambda: f"{check.what()} or null")


#: a fixed tuple of values, a registry (a dict: its keys), or a function returning names
Choices = Union[tuple, Mapping[str, Any], Callable[[], Iterable[str]]]


def names_of(choices: Choices) -> list:
    """The names ``choices`` allows now (a registry is read each time: an entry added later counts)."""
    return list(choices() if callable(choices) else choices)


def one_of(choices: Choices) -> Check:
    """One of ``choices`` (a registry's names read when a value is checked)."""
    return Check(lambda v: v in names_of(choices), lambda: f"one of {names_of(choices)}")


# ---------------------------------------------------------------------------------------------
# settings


def setting(default: Any, help: str, check: Check | None = None, *, choices: Choices | None = None,
            flag: tuple[str, ...] = (), arg_type: str | None = None, const: Any = None, metavar: str | None = None,
            null_words: tuple[str, ...] = ("none", "null")) -> Any:
    """A config field: its default, its help, and what it accepts.

    Args:
        default: the default value (a ``dict`` default is copied for each config).
        help: one line for ``--help`` and the docs.
        check: the rule its value follows; with ``choices`` it is "one of the choices" (or null,
            when the default is None).
        choices: a tuple of the accepted values, a registry (a dict of them), or a function
            returning names.
        flag: the flag's option strings when not ``--<key with dashes>`` (``("-T",)``).
        arg_type: the name of a converter in ``mpe_psn.commands.args`` that reads the flag's text
            (paths that must exist, devices); by default the text is read as the field's type
            and checked with ``check``.
        const: the value of the flag given without a value (``--amp`` alone means ``auto``).
        metavar: the flag's placeholder in ``--help``.
        null_words: the flag texts that mean None for a field that may be null.
    """
    if check is None and choices is not None:
        check = nullable(one_of(choices)) if default is None else one_of(choices)
    if check is None:
        raise TypeError("a setting needs a check or choices")
    metadata = {"help": help, "check": check, "choices": choices, "flag": flag, "arg_type": arg_type, "const": const,
                "metavar": metavar, "null_words": null_words}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class FlagSpec:
    """How the command line makes a setting's flag (read by ``mpe_psn.commands``)."""

    key: str
    option_strings: tuple[str, ...]
    help: str
    kind: type  # bool (an on/off flag), dict (repeatable KEY=VALUE), else one value
    choices: Choices | None
    arg_type: str | None
    const: Any
    metavar: str | None


def flag_spec(section: type, field: dataclasses.Field) -> FlagSpec:
    """The flag of ``field`` of ``section``: ``--<key with dashes>`` unless the field names its own."""
    meta = field.metadata
    options = meta["flag"] or (f"--{field.name.replace('_', '-')}",)
    return FlagSpec(field.name, tuple(options), meta["help"], _kind(section, field.name), meta["choices"],
                    meta["arg_type"], meta["const"], meta["metavar"])


def _kind(section: type, key: str) -> type:
    hint = typing.get_type_hints(section)[key]
    kinds = [k for k in typing.get_args(hint) or (hint,) if k is not type(None)]
    return kinds[0]


def value_from_text(section: type, key: str, text: str) -> Any:
    """A flag's text as the value of ``section``'s setting ``key``, checked.

    Raises ``ValueError`` saying what the value must be (``must be a positive int, got 0``).
    """
    field = next(f for f in dataclasses.fields(section) if f.name == key)
    check = field.metadata["check"]
    if text.strip().lower() in field.metadata["null_words"] and check(None):
        return None
    return parse_text(text, _kind(section, key), check)


def parse_text(text: str, kind: type, check: Check) -> Any:
    """``text`` read as ``kind`` (``int``, ``float``; anything else keeps the text) and checked.

    Raises ``ValueError`` saying what is wrong: ``expected an int, got 'two'``, ``expected a
    finite number, got 'nan'``, ``must be a positive int, got 0``.
    """
    value: Any = text
    if kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"expected {'an int' if kind is int else 'a number'}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {text!r}")
    if not check(value):
        raise ValueError(f"must be {check.what()}, got {text}")
    return value


# ---------------------------------------------------------------------------------------------
# sections


class Section:
    """Base of the config sections: a dataclass of settings that checks itself.

    ``check`` runs every field's rule, then :meth:`check_together`, the rules that tie the
    section's own keys to each other (a model's options to the model, say).
    """

    title: ClassVar[str] = ""

    @classmethod
    def settings(cls) -> tuple[dataclasses.Field, ...]:
        """The section's fields, each made with :func:`setting`."""
        fields = dataclasses.fields(cls)
        for field in fields:
            if "check" not in field.metadata:
                raise TypeError(f"{cls.__name__}.{field.name} is not made with setting(...): it has no help and no check")
        return fields

    @classmethod
    def check(cls, values: Any, source: str = "config") -> None:
        """Raise :class:`ConfigError` naming the first of this section's keys whose value in
        ``values`` (this section, or a config holding it) is impossible."""
        for field in cls.settings():
            rule: Check = field.metadata["check"]
            value = getattr(values, field.name)
            if not rule(value):
                raise ConfigError(f"{source}: config key {field.name!r} must be {rule.what()}, got {value!r}")
        cls.check_together(values, source)

    @classmethod
    def check_together(cls, values: Any, source: str) -> None:
        """Rules across this section's keys (none by default)."""

    def validate(self, source: str = "config") -> None:
        """Raise :class:`ConfigError` naming the first impossible key of this section."""
        type(self).check(self, source)
