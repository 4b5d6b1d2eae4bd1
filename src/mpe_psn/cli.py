"""The ``mpe-psn`` command.

This module only parses. Each sub-command lives in the package that does its work, as a
module ``mpe_psn.<area>.<name>_command`` exposing two functions:

* ``configure(parser: argparse.ArgumentParser) -> None`` adds the command's arguments;
* ``run(args: argparse.Namespace) -> int`` does the work and returns the exit status.

Command modules must stay cheap to import (heavy imports go inside ``run``), because every
``mpe-psn`` invocation imports all of them to build the help text.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

#: (command name, module, one-line help). Order is the order shown in ``mpe-psn --help``.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("train", "mpe_psn.training.train_command", "train a network (built-in dataset by default)"),
    ("eval", "mpe_psn.training.eval_command", "evaluate a checkpoint on a dataset split"),
    ("data", "mpe_psn.data.data_command", "prepare a dataset's frame cache and summarise it"),
    ("bench", "mpe_psn.bench.bench_command", "time spiking layers and networks"),
    ("analyze", "mpe_psn.analysis.analyze_command", "fidelity, spike rates, energy, landscape, refinement dial"),
    ("demo", "mpe_psn.demo_command", "run one MPE-PSN layer and print what it did"),
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
    from mpe_psn import __version__

    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
