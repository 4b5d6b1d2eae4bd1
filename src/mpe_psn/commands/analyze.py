"""``mpe-psn analyze ANALYSIS CHECKPOINT [CHECKPOINT ...] --out DIR``.

Runs one analysis on one or more checkpoints (drawn side by side, e.g. MPE-PSN and LIF),
writes ``DIR/<analysis>.json`` and ``DIR/<analysis>.png`` (landscape also one raw grid
``DIR/landscape-<label>.npz`` per checkpoint) and prints a short table. With ``--train``,
``fidelity`` reads the per-epoch fidelity logged in run folders' ``metrics.jsonl`` instead
(paper Fig. 3a over training). ``neurobench`` runs NeuroBench's own metrics (needs
``pip install 'mpe-psn[neurobench]'``). See docs/analyses.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mpe_psn.analysis.registry import ANALYSES, Option
from mpe_psn.commands import args as A
from mpe_psn.data.registry import SPLITS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", choices=list(ANALYSES), help="which analysis to run")
    parser.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", type=A.existing_path,
                        help="checkpoint file or run folder (several: drawn side by side); with --train: run folders")
    parser.add_argument("--out", required=True, type=A.folder_path, help="folder for the JSON and PNG (created if missing)")
    parser.add_argument("--labels", nargs="+", help="one legend label per checkpoint (default: the neuron)")
    parser.add_argument("--split", default="test", choices=SPLITS, help="data split (default test)")
    parser.add_argument("--batches", type=A.positive_int, default=None,
                        help="use only the first N batches (default: the whole split; landscape: 4)")
    parser.add_argument("--batch-size", type=A.positive_int, default=None, help="batch size (default: the checkpoint's)")
    parser.add_argument("--data-dir", type=A.existing_dir, default=None, help="dataset folder (default: the checkpoint's)")
    parser.add_argument("--cache-dir", type=A.folder_path, default=None, help="frame cache folder (default: the checkpoint's)")
    parser.add_argument("--device", type=A.device, default="cpu", help="cpu, cuda, cuda:1, or auto (default cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--train", action="store_true",
                        help="fidelity only: plot the fidelity logged per epoch in run folders' metrics.jsonl (Fig. 3a)")
    groups: dict[tuple[str, ...], argparse._ArgumentGroup] = {}
    for option, users in option_flags():
        group = groups.setdefault(users, parser.add_argument_group("options of " + ", ".join(users)))
        group.add_argument(option.option_string, dest=option.dest, **_flag(option))


def option_flags() -> list[tuple[Option, tuple[str, ...]]]:
    """Each analysis option's flag once, with the analyses that take it (in registry order). Two
    analyses may share a flag only with one ``Option`` record: the same default, type and help."""
    users: dict[str, list[str]] = {}
    records: dict[str, Option] = {}
    for name, analysis in ANALYSES.items():
        for option in analysis.options:
            if records.setdefault(option.option_string, option) != option:
                raise ValueError(f"analyses {users[option.option_string]} and {name!r} give {option.option_string} "
                                 "different meanings: give one of them another flag")
            users.setdefault(option.option_string, []).append(name)
    return [(records[flag], tuple(names)) for flag, names in users.items()]


def _foreign_flag(args: argparse.Namespace) -> str | None:
    """What is wrong when a flag given belongs to other analyses only (None: nothing)."""
    own = ANALYSES[args.analysis].options
    for option, users in option_flags():
        if hasattr(args, option.dest) and option not in own:
            return f"{option.option_string} is an option of {', '.join(users)}, not of {args.analysis!r}"
    return None


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The chosen analysis's options: the flags given, else their defaults."""
    return {option.keyword: getattr(args, option.dest, option.default) for option in ANALYSES[args.analysis].options}


def _flag(option: Option) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS}  # given or not: run() tells an option of another analysis
    if option.choices is not None:
        kwargs["choices"] = option.choices
    if option.arg_type is not None:
        kwargs["type"] = getattr(A, option.arg_type)
    default = "" if option.default is None else f" (default {option.default})"
    kwargs["help"] = option.help + default
    return kwargs


def run(args: argparse.Namespace) -> int:
    # the runner (checkpoints, data loaders) is imported here, not when every command's parser is built
    from mpe_psn.analysis.runner import AnalysisError, run_analysis, training_fidelity

    problem = _foreign_flag(args)
    if problem:
        print(f"mpe-psn analyze: error: {problem}", file=sys.stderr)
        return 2
    try:
        if args.train:
            if args.analysis != "fidelity":
                raise AnalysisError("--train applies to 'fidelity' only (the per-epoch fidelity logged by training)")
            output = training_fidelity(args.checkpoints, args.out, labels=args.labels)
        else:
            options = _options(args)
            output = run_analysis(
                args.analysis, args.checkpoints, args.out, labels=args.labels, split=args.split, max_batches=args.batches,
                batch_size=args.batch_size, data_dir=args.data_dir, cache_dir=args.cache_dir, device=args.device,
                progress=not args.no_progress, **options,
            )
    except AnalysisError as error:
        print(f"mpe-psn analyze: error: {error}", file=sys.stderr)
        return 2
    print(output.table)
    print("wrote " + ", ".join(str(p) for p in output.written))
    return 0
