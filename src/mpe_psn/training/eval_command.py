"""``mpe-psn eval CHECKPOINT``: accuracy of a trained network on a dataset split.

Prints accuracy (for MPE-PSN's Bernoulli estimator: mean and spread over seeds), per-class
accuracy, and writes a confusion-matrix PNG; ``--json`` prints the whole report as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    from mpe_psn.utils import cli_args as A

    parser.add_argument("checkpoint", type=A.existing_path, help="a checkpoint file or a run folder (uses its best.pt)")
    parser.add_argument("--split", default="test", choices=("test", "train"), help="dataset split (default test)")
    parser.add_argument("--estimator", default=None, choices=("expected", "bernoulli"),
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
    parser.add_argument("--amp", nargs="?", const="auto", default="off", choices=("off", "auto", "bf16", "fp16"))
    parser.add_argument("--plot", default=None, type=_plot_path,
                        help="confusion-matrix PNG path (default: next to the checkpoint; '' for none)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _plot_path(text: str) -> str:
    from mpe_psn.utils.cli_args import file_path

    return text if text == "" else file_path(text)


def run(args: argparse.Namespace) -> int:
    import torch

    from mpe_psn.training.checkpoint import CheckpointError
    from mpe_psn.training.config import ConfigError
    from mpe_psn.training.report import evaluate_checkpoint

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
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    spread = ""
    if report["runs"] > 1:
        spread = (f" +- {100 * report['accuracy_std']:.2f} (sd over {report['runs']} seeds; "
                  f"min {100 * report['accuracy_min']:.2f}, max {100 * report['accuracy_max']:.2f})")
    estimator = f", estimator {report['estimator']}" if report["estimator"] else ""
    print(f"{report['model']} / {report['neuron']} (T = {report['T']}{estimator}) on {report['dataset']} {report['split']} "
          f"({report['samples']} samples): accuracy {100 * report['accuracy']:.2f}%{spread}")
    width = max(len(name) for name in report["per_class_accuracy"])
    for name, acc in report["per_class_accuracy"].items():
        print(f"  {name:<{width}}  {'-' if acc is None else f'{100 * acc:6.2f}%'}")
    if report["confusion_png"]:
        print(f"confusion matrix: {report['confusion_png']}")
    return 0
