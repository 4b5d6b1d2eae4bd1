"""``mpe-psn demo``: run one MPE-PSN layer next to the exact LIF and print what it did."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-T", type=int, default=16, help="time steps (default 16)")
    parser.add_argument("-N", type=int, default=100_000, help="neurons (default 100000)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import torch

    from mpe_psn import functional as F

    torch.manual_seed(args.seed)
    x = torch.randn(args.T, args.N) + 0.5
    exact = F.lif(x)
    print(f"input: T = {args.T} steps x N = {args.N} neurons, Gaussian currents (mean 0.5, sd 1)")
    print(f"exact sequential LIF: spike rate {exact.spikes.mean():.4f}")
    print(f"{'MPE-PSN variant':<28} {'spike rate':>10} {'spikes != LIF':>14} {'|v - v_LIF|':>12}")
    for label, kwargs in [
        ("bernoulli estimator", dict(estimator="bernoulli")),
        ("expected estimator", dict(estimator="expected")),
        ("expected + 1 refinement", dict(estimator="expected", refine_steps=1)),
        ("expected + 2 refinements", dict(estimator="expected", refine_steps=2)),
        (f"expected + {args.T - 1} refinements", dict(estimator="expected", refine_steps=args.T - 1)),
    ]:
        out = F.mpe_psn(x, **kwargs)
        mismatch = (out.spikes != exact.spikes).float().mean().item()
        dv = (out.v - exact.v).abs().mean().item()
        print(f"{label:<28} {out.spikes.mean().item():>10.4f} {mismatch:>13.2%} {dv:>12.4f}")
    return 0
