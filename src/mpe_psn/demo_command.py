"""``mpe-psn demo``: run one MPE-PSN layer next to the exact LIF and print what it did."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mpe_psn.utils.cli_args import non_negative_int, positive_int

    parser.add_argument("-T", type=positive_int, default=16, help="time steps (default 16)")
    parser.add_argument("-N", type=positive_int, default=100_000, help="neurons (default 100000)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random currents (default 0)")


#: Largest T x N the demo draws (each of the half-dozen [T, N] float tensors is then 512 MiB).
MAX_ELEMENTS = 2**27


def run(args: argparse.Namespace) -> int:
    import torch

    from mpe_psn import functional as F
    from mpe_psn.errors import UsageError

    if args.T * args.N > MAX_ELEMENTS:
        raise UsageError(f"-T {args.T} x -N {args.N} = {args.T * args.N} values is more than the demo draws "
                         f"(at most 2^27 = {MAX_ELEMENTS}); lower -T or -N")
    torch.manual_seed(args.seed)
    x = torch.randn(args.T, args.N) + 0.5
    exact = F.lif(x)
    print(f"input: T = {args.T} steps x N = {args.N} neurons, Gaussian currents (mean 0.5, sd 1)")
    print(f"exact sequential LIF: spike rate {exact.spikes.mean():.4f}")
    print(f"{'MPE-PSN variant':<28} {'spike rate':>10} {'spikes != LIF':>14} {'|v - v_LIF|':>12}")
    variants = [("bernoulli estimator", dict(estimator="bernoulli")), ("expected estimator", dict(estimator="expected"))]
    for k in sorted({1, 2, args.T - 1}):  # T - 1 refinements make the estimate exact
        if 1 <= k <= args.T - 1:
            variants.append((f"expected + {k} refinement{'s' if k > 1 else ''}", dict(estimator="expected", refine_steps=k)))
    for label, kwargs in variants:
        out = F.mpe_psn(x, **kwargs)
        mismatch = (out.spikes != exact.spikes).float().mean().item()
        dv = (out.v - exact.v).abs().mean().item()
        print(f"{label:<28} {out.spikes.mean().item():>10.4f} {mismatch:>13.2%} {dv:>12.4f}")
    return 0
