"""``mpe-psn eval CHECKPOINT``: accuracy of a trained network on a dataset split.

Prints accuracy (for MPE-PSN's Bernoulli estimator: mean and spread over seeds), per-class
accuracy, and writes a confusion-matrix PNG; ``--json`` prints the whole report as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from mpe_psn.commands import args as A
from mpe_psn.data.registry import SPLITS
from mpe_psn.functional.checks import ESTIMATORS
from mpe_psn.training.checkpoint import CheckpointError
from mpe_psn.training.config import ConfigError
from mpe_psn.utils.device import AMP_MODES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=A.existing_path, help="a checkpoint file or a run folder (uses its best.pt)")
    parser.add_argument("--split", default="test", choices=SPLITS, help="dataset split (default test)")
    parser.add_argument("--estimator", default=None, choices=ESTIMATORS,
                        help="MPE-PSN estimator at evaluation (default: the checkpoint's, normally expected)")
    parser.add_argument("--seeds", type=A.positive_int, default=5, help="runs averaged for the Bernoulli estimator (default 5)")
    parser.add_argument("-T", dest="T", type=A.positive_int, default=None, help="check that the checkpoint uses this T")
    parser.add_argument("--data-dir", dest="data_dir", type=A.existing_dir, default=None,
                        help="dataset folder (default: the one used in training)")
    parser.add_argument("--cache-dir", dest="cache_dir", type=A.folder_path, default=None,
                        help="frame cache folder (default: the one used in training)")
    parser.add_argument("--data-option", dest="data_options", action="append", type=A.key_value, default=[], metavar="KEY=VALUE",
                        help="dataset option overriding the checkpoint's (repeatable)")
    parser.add_argument("--batch-size", dest="batch_size", type=A.positive_int, default=64, help="batch size (default 64)")
    parser.add_argument("--device", type=A.device, default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--amp", nargs="?", const="auto", default="off", choices=AMP_MODES)
    parser.add_argument("--plot", default=None, type=_plot_path,
                        help="confusion-matrix PNG path (default: next to the checkpoint; '' for none)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _plot_path(text: str) -> str:
    return text if text == "" else A.file_path(text)


def run(args: argparse.Namespace) -> int:
    # the evaluation is imported here, not when every command's parser is built (start-up time)
    from mpe_psn.training.report import evaluate_checkpoint, format_report

    try:
        report = evaluate_checkpoint(
            args.checkpoint, split=args.split, estimator=args.estimator, seeds=args.seeds, T=args.T,
            data_dir=args.data_dir, cache_dir=args.cache_dir, dataset_options=dict(args.data_options),
            batch_size=args.batch_size, device=args.device, amp=args.amp, plot=args.plot,
            progress=not (args.quiet or args.json),
        )
    except (CheckpointError, ConfigError, FileNotFoundError, ValueError, ImportError) as error:
        print(f"mpe-psn eval: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except torch.cuda.OutOfMemoryError:
        print(f"mpe-psn eval: error: the GPU ran out of memory at batch size {args.batch_size}; lower --batch-size "
              "or add --amp", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
