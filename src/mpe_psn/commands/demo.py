"""``mpe-psn demo``: run one MPE-PSN layer next to the exact LIF and print what it did."""

from __future__ import annotations

import argparse

from mpe_psn.commands import args as A
from mpe_psn.errors import UsageError

#: Largest T x N the demo draws (each of the half-dozen [T, N] float tensors is then 512 MiB).
MAX_ELEMENTS = 2**27


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-T", type=A.positive_int, default=16, help="time steps (default 16)")
    parser.add_argument("-N", type=A.positive_int, default=100_000, help="neurons (default 100000)")
    parser.add_argument("--seed", type=A.non_negative_int, default=0, help="seed of the random currents (default 0)")


def run(args: argparse.Namespace) -> int:
    # the layers are imported here, not when every command's parser is built
    from mpe_psn.analysis.layer_demo import format_layer_demo, layer_demo

    if args.T * args.N > MAX_ELEMENTS:
        raise UsageError(f"-T {args.T} x -N {args.N} = {args.T * args.N} values is more than the demo draws "
                         f"(at most 2^27 = {MAX_ELEMENTS}); lower -T or -N")
    print(format_layer_demo(layer_demo(args.T, args.N, args.seed)))
    return 0
