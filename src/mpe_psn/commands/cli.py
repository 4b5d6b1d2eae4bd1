"""The ``mpe-psn`` command.

This module only parses. Each sub-command is one module of this package,
``mpe_psn.commands.<name>``, exposing two functions:

* ``configure(parser: argparse.ArgumentParser) -> None`` adds the command's arguments;
* ``run(args: argparse.Namespace) -> int`` does the work and returns the exit status.

Errors reach the user as one line: a bad flag value stops in argparse (the converters of
:mod:`mpe_psn.commands.args`), a :class:`mpe_psn.errors.UsageError` raised by a command is
printed as ``mpe-psn <command>: error: <message>`` with exit status 2, a misspelt flag gets the
sub-command's usage and the closest flag, and a closed output pipe (``mpe-psn eval RUN | head``)
ends the command quietly. Any other exception is a bug and keeps its traceback.

A command module parses and calls the rooms below (``training``, ``analysis``, ``bench``,
``data``, ``export``); the work is theirs. Command modules must stay cheap to import (heavy
imports go inside ``run``), because every ``mpe-psn`` invocation imports all of them to build
the help text.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from mpe_psn import __version__
from mpe_psn.commands.args import CommandParser
from mpe_psn.errors import UsageError

#: (command name, module, one-line help). Order is the order shown in ``mpe-psn --help``.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("train", "mpe_psn.commands.train", "train a network (built-in dataset by default)"),
    ("eval", "mpe_psn.commands.eval", "evaluate a checkpoint on a dataset split"),
    ("data", "mpe_psn.commands.data", "prepare a dataset's frame cache and summarise it"),
    ("bench", "mpe_psn.commands.bench", "time spiking layers and networks"),
    ("analyze", "mpe_psn.commands.analyze", "fidelity, spike rates, energy, landscape, refinement dial"),
    ("export", "mpe_psn.commands.export", "write a trained network as NIR or ONNX"),
    ("demo", "mpe_psn.commands.demo", "run one MPE-PSN layer and print what it did"),
)


def _load(module_name: str):
    """Import a command module; a command whose module is not part of this build is skipped."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="mpe-psn",
        description="Parallel spiking neurons by membrane-potential estimation (MPE-PSN).",
    )
    parser.add_argument("--version", action="version", version=f"mpe-psn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        module = _load(module_name)
        if module is None:
            continue
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mpe-psn`` with ``argv`` (default: the process's arguments); returns the exit status."""
    try:
        status = _parse_and_run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return status
    except BrokenPipeError:  # the reader went away: `mpe-psn eval RUN | head -1`, `--help | head`
        _quiet_stdout()
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parse_and_run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            args._parser.unrecognized(extras)
    except SystemExit as exit_:  # argparse printed the error (or --help, --version): return its status
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UsageError as error:
        print(f"{args._parser.prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


def _quiet_stdout() -> None:
    """After the reader of stdout went away: point stdout at devnull so that Python's exit-time
    flush does not fail again (the recipe of the Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
