"""``mpe-psn export RUN_OR_CHECKPOINT --format nir|onnx --out FILE``: deploy a trained network.

NIR holds the network as the LIF that MPE-PSN estimates (what a neuromorphic target runs);
ONNX holds it as one loop-free graph over all T steps (``--exact-lif``: refined to the LIF).
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    from mpe_psn.utils import cli_args as A

    parser.add_argument("checkpoint", type=A.existing_path, help="a checkpoint file or a run folder (uses its best.pt)")
    parser.add_argument("--format", required=True, choices=("nir", "onnx"), help="what to write")
    parser.add_argument("--out", required=True, type=A.file_path, help="the file to write (replaced atomically)")
    parser.add_argument("--dt", type=A.positive_float, default=None,
                        help="NIR: time step in seconds for the continuous time constants (default 1e-4, snnTorch's)")
    parser.add_argument("--max-pool", dest="max_pool", default=None, choices=("error", "spikes"),
                        help="NIR: a MaxPool2d after a neuron is written as SumPool2d + Threshold(0.5), exact on "
                             "spikes ('spikes', the default; any other max pool is an error), or every max pool "
                             "is an error ('error', for readers without SumPool2d/Threshold such as snnTorch)")
    parser.add_argument("--fold-r", dest="fold_r", action="store_true",
                        help="NIR: write r = 1 and fold the input scale into the weights (for Norse, which ignores r)")
    parser.add_argument("--exact-lif", dest="exact_lif", action="store_true",
                        help="ONNX: export MPE-PSN refined to T - 1 passes, i.e. the exact LIF (still loop-free)")


def run(args: argparse.Namespace) -> int:
    import torch

    from mpe_psn.errors import UsageError
    from mpe_psn.models.checkpoint import CheckpointError, load_model

    if args.format == "nir" and args.exact_lif:  # flags that do not go together: say so before loading
        raise UsageError("--exact-lif is an ONNX option; NIR always holds the exact LIF")
    if args.format == "onnx" and (args.dt is not None or args.fold_r or args.max_pool is not None):
        raise UsageError("--dt, --fold-r and --max-pool are NIR options")
    try:
        model, config = load_model(args.checkpoint)
        model_args = config["model_args"]
        if args.format == "nir":
            if args.exact_lif:
                raise ValueError("--exact-lif is an ONNX option; NIR always holds the exact LIF")
            from mpe_psn.export.nir_export import to_nir, write_nir
            from mpe_psn.export.neuron_map import DEFAULT_DT

            graph = to_nir(model, dt=DEFAULT_DT if args.dt is None else args.dt,
                           max_pool=args.max_pool or "spikes", fold_r=args.fold_r)
            write_nir(graph, args.out)
            neurons = sum(type(node).__name__ in ("LIF", "IF") for node in graph.nodes.values())
            print(f"wrote {args.out}: NIR graph of {model_args['name']} / {model_args['neuron']} with "
                  f"{len(graph.nodes)} nodes ({neurons} LIF), dt = {graph.metadata['dt']:g} s")
        else:
            if args.dt is not None or args.fold_r or args.max_pool is not None:
                raise ValueError("--dt, --fold-r and --max-pool are NIR options")
            from mpe_psn.export.onnx_export import to_onnx

            example = torch.zeros(model.T, 2, *model.sample_shape())  # the graph takes any batch
            info = to_onnx(model, args.out, example, exact_lif=args.exact_lif)
            kind = "exact LIF (refined to T - 1)" if args.exact_lif else "expected estimator"
            print(f"wrote {args.out}: ONNX graph of {model_args['name']} / {model_args['neuron']}, {kind}, "
                  f"T = {info['T']}, {info['nodes']} nodes, {info['bytes'] / 1e6:.2f} MB, no loop over time")
    except (CheckpointError, ValueError, FileNotFoundError, ImportError, OSError) as error:
        print(f"mpe-psn export: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0
