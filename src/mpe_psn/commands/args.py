"""Argument types and the parser class shared by the ``mpe-psn`` commands.

Every flag that takes a size, a count, a path or a name from a registry uses one of the
converters below as its argparse ``type``, so a bad value stops at parsing time with one line
that names the flag (``mpe-psn demo: error: argument -N: must be a positive int, got 0``)
instead of a traceback from deep inside the library. Choice lists are the registries' names
(:func:`choice_of` reads them when the flag is given), so a new model, dataset, neuron,
estimator, analysis or preset is accepted without touching a command.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn, Sequence

from mpe_psn.training.config_fields import (
    FRACTION, INT_AT_LEAST_0, NUMBER_AT_LEAST_0, POSITIVE_INT, POSITIVE_NUMBER, Check, parse_text,
)

__all__ = [
    "ArgumentTypeError",
    "CommandParser",
    "DeprecatedAlias",
    "checked",
    "choice_of",
    "device",
    "existing_dir",
    "existing_file",
    "existing_path",
    "file_path",
    "folder_path",
    "fraction",
    "grid_points",
    "int_list",
    "key_value",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
]

ArgumentTypeError = argparse.ArgumentTypeError


# ---------------------------------------------------------------------------------------------
# the parser


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, and which remembers itself.

    * ``error`` prints ``<prog>: error: <message>`` (no usage block) and exits with status 2;
    * :meth:`unrecognized` prints the usage of the (sub-)command the bad flags were given to,
      then the error with the closest known flag (``did you mean --neuron?``);
    * every parser stores itself as the ``_parser`` default, so after parsing
      ``args._parser`` is the innermost sub-command's parser (argparse copies a sub-parser's
      namespace over its parent's).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_defaults(_parser=self)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)}{_closest_choice(message)}\n")

    def unrecognized(self, extras: Sequence[str]) -> NoReturn:
        """Exit for arguments this parser does not know, suggesting the closest flags."""
        known = self.visible_flags()
        hints = []
        for extra in extras:
            if extra.startswith("-"):
                close = difflib.get_close_matches(extra.split("=", 1)[0], known, n=1, cutoff=0.6)
                if close:
                    hints.append(f"did you mean {close[0]}?")
        hint = f" ({'; '.join(hints)})" if hints else ""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: unrecognized arguments: {' '.join(extras)}{hint}\n")

    def visible_flags(self) -> list[str]:
        """The option strings shown in ``--help`` (hidden aliases left out)."""
        return [s for action in self._actions if action.help is not argparse.SUPPRESS for s in action.option_strings]


class DeprecatedAlias(argparse.Action):
    """A hidden old spelling of a flag: stores into the new flag's ``dest`` and says so on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any) -> None:
        self.new = new
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _closest_choice(message: str) -> str:
    """`` (did you mean X?)`` for argparse's "invalid choice: 'Y' (choose from ...)", else ''."""
    match = re.search(r"invalid choice: '?([^'\s]*)'? \(choose from (.*)\)", message)
    if not match:
        return ""
    choices = [choice.strip().strip("'\"") for choice in match[2].split(",")]
    close = difflib.get_close_matches(match[1], choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# numbers: the rules of the config's settings (mpe_psn.training.config_fields), as argparse types


def checked(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse type from ``parse`` (text -> value; a ``ValueError`` says what is wrong)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise ArgumentTypeError(str(error)) from None

    convert.__name__ = name
    return convert


def _number(kind: type, rule: Check, name: str, doc: str) -> Callable[[str], Any]:
    convert = checked(lambda text: parse_text(text, kind, rule), name)
    convert.__doc__ = doc
    return convert


positive_int = _number(int, POSITIVE_INT, "positive_int", "An int >= 1 (a size, a count, a number of steps).")
non_negative_int = _number(int, INT_AT_LEAST_0, "non_negative_int", "An int >= 0 (a seed, a number of extra passes, workers).")
positive_float = _number(float, POSITIVE_NUMBER, "positive_float", "A finite number > 0.")
non_negative_float = _number(float, NUMBER_AT_LEAST_0, "non_negative_float", "A finite number >= 0.")
fraction = _number(float, FRACTION, "fraction", "A number in [0, 1] (a loss weight, a probability).")


def grid_points(text: str) -> int:
    """An int >= 2 (grid points per axis)."""
    value = positive_int(text)
    if value < 2:
        raise ArgumentTypeError(f"must be an int >= 2 (grid points per axis), got {value}")
    return value


def int_list(text: str) -> list[int]:
    """``0,1,2,4`` -> ``[0, 1, 2, 4]`` (non-negative ints, at least one)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ArgumentTypeError(f"expected comma-separated ints like 0,1,2,4, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise ArgumentTypeError(f"expected non-negative ints like 0,1,2,4, got {text!r}")
    return values


# ---------------------------------------------------------------------------------------------
# paths


def existing_file(text: str) -> str:
    """A path to a file that exists (not a folder)."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise ArgumentTypeError(f"{text} is a folder; expected a file")
    if not path.is_file():
        raise ArgumentTypeError(f"{text} does not exist")
    return text


def existing_dir(text: str) -> str:
    """A path to a folder that exists (not a file)."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ArgumentTypeError(f"{text} is a file; expected a folder")
    if not path.is_dir():
        raise ArgumentTypeError(f"folder {text} does not exist")
    return text


def existing_path(text: str) -> str:
    """A file or a folder that exists (a checkpoint or a run folder)."""
    if not Path(text).expanduser().exists():
        raise ArgumentTypeError(f"{text} does not exist")
    return text


def folder_path(text: str) -> str:
    """A folder to write into: it may not exist yet (it is created), but must not be a file."""
    if text == "":
        raise ArgumentTypeError("expected a folder path, got ''")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ArgumentTypeError(f"{text} is a file; expected a folder (it is created if missing)")
    return text


def file_path(text: str) -> str:
    """A file to write: it may not exist yet, but must not be a folder."""
    if text == "":
        raise ArgumentTypeError("expected a file path, got ''")
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", "\\")):
        raise ArgumentTypeError(f"{text} is a folder; expected a file path")
    return text


# ---------------------------------------------------------------------------------------------
# names


def choice_of(names: Callable[[], Iterable[str]], what: str) -> Callable[[str], str]:
    """A converter accepting one of ``names()`` (read when the flag is given, so registries are
    imported only then); an unknown name lists the known ones and the closest."""

    def convert(text: str) -> str:
        known = list(names())
        if text in known:
            return text
        close = difflib.get_close_matches(text, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ArgumentTypeError(f"unknown {what} {text!r}{hint}; choose from {', '.join(known)}")

    convert.__name__ = what.replace(" ", "_")
    return convert


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is there is checked when it is used)."""
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ArgumentTypeError(f"unknown device {text!r}; expected auto, cpu, cuda or cuda:N")


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``: VALUE is parsed as JSON when it is JSON (``3``,
    ``true``, ``"a"``, ``[1, 2]``), else kept as a string; dashes in KEY become underscores."""
    if "=" not in text:
        raise ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ArgumentTypeError(f"expected KEY=VALUE with a non-empty KEY, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip().replace("-", "_"), value
