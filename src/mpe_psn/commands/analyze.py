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

from mpe_psn.analysis.energy import COUNTING_RULES
from mpe_psn.analysis.registry import ANALYSES
from mpe_psn.commands import args as A
from mpe_psn.data.registry import SPLITS
from mpe_psn.functional.checks import ESTIMATORS


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
    parser.add_argument("--seed", type=A.non_negative_int, default=0,
                        help="seed of random directions / Bernoulli samples (fidelity, landscape; spike-rates, energy "
                             "and neurobench: the same seed gives the same spikes) (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    group = parser.add_argument_group("fidelity")
    group.add_argument("--estimator", choices=ESTIMATORS, default=None,
                       help="estimator for the estimate (default: each layer's eval estimator)")
    group.add_argument("--refine-steps", type=A.non_negative_int, default=None,
                       help="refinement passes for the corrected potential (default: each layer's own)")
    group.add_argument("--train", action="store_true",
                       help="plot the fidelity logged per epoch in run folders' metrics.jsonl (Fig. 3a)")
    group = parser.add_argument_group("energy")
    group.add_argument("--counting", choices=COUNTING_RULES, default="dense",
                       help="operation counting rule: dense (default: first layer dense MACs, ACs on non-zero "
                            "inputs after the first spiking layer) or effective (NeuroBench's: non-zero inputs "
                            "and weights only, AC iff the inputs are all 0/1); see docs/analyses.md")
    group = parser.add_argument_group("landscape")
    group.add_argument("--grid", type=_grid, default=11, help="grid points per axis, at least 2 (default 11)")
    group.add_argument("--span", type=A.positive_float, default=1.0, help="grid covers [-span, span] (default 1)")
    group.add_argument("--lambda-mem", type=A.fraction, default=0.0,
                       help="weight of L_mem in the plotted loss (default 0: the classification loss)")
    group = parser.add_argument_group("refine")
    group.add_argument("--steps", type=A.int_list, default=None,
                       help="refinement passes to compare, e.g. 0,1,2,4,7 (default 0,1,2,4,T-1)")
    group.add_argument("--repeats", type=A.positive_int, default=3, help="timed passes per setting; the fastest counts (default 3)")
    group = parser.add_argument_group("deploy")
    group.add_argument("--seeds", type=A.positive_int, default=5,
                       help="Bernoulli runs (seeds 0..N-1) for the deployment gap (default 5)")


def _grid(text: str) -> int:
    value = A.positive_int(text)
    if value < 2:
        raise A.ArgumentTypeError(f"must be an int >= 2 (grid points per axis), got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    # the runner (checkpoints, data loaders) is imported here, not when every command's parser is built
    from mpe_psn.analysis.runner import AnalysisError, run_analysis, training_fidelity

    try:
        if args.train:
            if args.analysis != "fidelity":
                raise AnalysisError("--train applies to 'fidelity' only (the per-epoch fidelity logged by training)")
            output = training_fidelity(args.checkpoints, args.out, labels=args.labels)
        else:
            options = {keyword: getattr(args, flag) for keyword, flag in _OPTION_FLAGS.get(args.analysis, {}).items()}
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


#: analysis -> {its keyword option: the flag (argparse dest) that sets it}
_OPTION_FLAGS = {
    "fidelity": {"estimator": "estimator", "refine_steps": "refine_steps", "seed": "seed"},
    "spike-rates": {"seed": "seed"},
    "energy": {"counting": "counting", "seed": "seed"},
    "neurobench": {"seed": "seed"},
    "landscape": {"steps": "grid", "span": "span", "lambda_mem": "lambda_mem", "seed": "seed"},
    "refine": {"steps": "steps", "repeats": "repeats"},
    "deploy": {"seeds": "seeds"},
}
