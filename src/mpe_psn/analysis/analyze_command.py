"""``mpe-psn analyze ANALYSIS CHECKPOINT [CHECKPOINT ...] --out DIR``.

Runs one analysis on one or more checkpoints (drawn side by side, e.g. MPE-PSN and LIF),
writes ``DIR/<analysis>.json`` and ``DIR/<analysis>.png`` (landscape also one raw grid
``DIR/landscape-<label>.npz`` per checkpoint) and prints a short table. With ``--train``,
``fidelity`` reads the per-epoch fidelity logged in run folders' ``metrics.jsonl`` instead
(paper Fig. 3a over training). See docs/analyses.md.
"""

from __future__ import annotations

import argparse

ANALYSES = ("fidelity", "spike-rates", "energy", "landscape", "refine")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 0,1,2,4, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-negative ints like 0,1,2,4, got {text!r}")
    return values


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", choices=ANALYSES, help="which analysis to run")
    parser.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                        help="checkpoint file or run folder (several: drawn side by side); with --train: run folders")
    parser.add_argument("--out", required=True, help="folder for the JSON and PNG (created if missing)")
    parser.add_argument("--labels", nargs="+", help="one legend label per checkpoint (default: the neuron)")
    parser.add_argument("--split", default="test", choices=("test", "train"), help="data split (default test)")
    parser.add_argument("--batches", type=int, default=None,
                        help="use only the first N batches (default: the whole split; landscape: 4)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: the checkpoint's)")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default: the checkpoint's)")
    parser.add_argument("--cache-dir", default=None, help="frame cache folder (default: the checkpoint's)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, or auto (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random directions / Bernoulli samples")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    group = parser.add_argument_group("fidelity")
    group.add_argument("--estimator", choices=("expected", "bernoulli"), default=None,
                       help="estimator for the estimate (default: each layer's eval estimator)")
    group.add_argument("--refine-steps", type=int, default=None,
                       help="refinement passes for the corrected potential (default: each layer's own)")
    group.add_argument("--train", action="store_true",
                       help="plot the fidelity logged per epoch in run folders' metrics.jsonl (Fig. 3a)")
    group = parser.add_argument_group("landscape")
    group.add_argument("--grid", type=int, default=11, help="grid points per axis (default 11)")
    group.add_argument("--span", type=float, default=1.0, help="grid covers [-span, span] (default 1)")
    group.add_argument("--lambda-mem", type=float, default=0.0,
                       help="weight of L_mem in the plotted loss (default 0: the classification loss)")
    group = parser.add_argument_group("refine")
    group.add_argument("--steps", type=_int_list, default=None,
                       help="refinement passes to compare, e.g. 0,1,2,4,7 (default 0,1,2,4,T-1)")
    group.add_argument("--repeats", type=int, default=3, help="timed passes per setting; the fastest counts (default 3)")


def run(args: argparse.Namespace) -> int:
    import sys

    from mpe_psn.analysis.runner import AnalysisError, run_analysis

    try:
        return run_analysis(args)
    except AnalysisError as error:
        print(f"mpe-psn analyze: error: {error}", file=sys.stderr)
        return 2
