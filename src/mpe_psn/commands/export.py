"""``mpe-psn export RUN_OR_CHECKPOINT --format nir|onnx --out FILE``: deploy a trained network.

NIR holds the network as the LIF that MPE-PSN estimates (what a neuromorphic target runs);
ONNX holds it as one loop-free graph over all T steps (``--exact-lif``: refined to the LIF).
"""

from __future__ import annotations

import argparse
import sys

from mpe_psn.commands import args as A
from mpe_psn.export.checkpoint_export import FORMATS, export_checkpoint
from mpe_psn.export.nir_export import MAX_POOL_MODES
from mpe_psn.models.checkpoint import CheckpointError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=A.existing_path, help="a checkpoint file or a run folder (uses its best.pt)")
    parser.add_argument("--format", required=True, choices=tuple(FORMATS), help="what to write")
    parser.add_argument("--out", required=True, type=A.file_path, help="the file to write (replaced atomically)")
    parser.add_argument("--dt", type=A.positive_float, default=None,
                        help="NIR: time step in seconds for the continuous time constants (default 1e-4, snnTorch's)")
    parser.add_argument("--max-pool", dest="max_pool", default=None, choices=MAX_POOL_MODES,
                        help="NIR: a MaxPool2d after a neuron is written as SumPool2d + Threshold(0.5), exact on "
                             "spikes ('spikes', the default; any other max pool is an error), or every max pool "
                             "is an error ('error', for readers without SumPool2d/Threshold such as snnTorch)")
    parser.add_argument("--fold-r", dest="fold_r", action="store_true",
                        help="NIR: write r = 1 and fold the input scale into the weights (for Norse, which ignores r)")
    parser.add_argument("--exact-lif", dest="exact_lif", action="store_true",
                        help="ONNX: export MPE-PSN refined to T - 1 passes, i.e. the exact LIF (still loop-free)")


def run(args: argparse.Namespace) -> int:
    try:
        print(export_checkpoint(args.checkpoint, args.format, args.out, dt=args.dt, max_pool=args.max_pool,
                                fold_r=args.fold_r, exact_lif=args.exact_lif))
    except (CheckpointError, ValueError, FileNotFoundError, ImportError, OSError) as error:
        print(f"mpe-psn export: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0
