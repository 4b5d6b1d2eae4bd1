"""The fused exact LIF's training step against the loop and SpikingJelly's LIF, on one [T, N] layer.

    python scripts/bench_lif.py [--T 16] [--N 65536] [--threads 2] [--rounds 3] [--device cpu] [--json FILE]

A step is forward + backward of ``spikes.sum()`` with a fresh leaf input (decay 0.25,
threshold 1, triangular surrogate), as ``mpe-psn bench layer`` times a layer. Methods:
``fused`` (``mpe_psn.ops.lif.lif_spikes``, backend "auto"), ``loop`` (``functional.lif``
with autograd) and ``sj-lif`` (SpikingJelly's multi-step ``LIFNode``, built as ``bench
layer`` builds it: ``models.neuron_factory.SpikingJellyLIF``). Each round times every method
(median of ``--repeats`` steps after 2 warm-up steps, each step timed by
``bench.timing.median_ms``), the methods' steps interleaved so that a load change on a shared
machine hits all of them; the rounds' medians and the ratios per round are printed. Also: the bytes each keeps for backward per element
(``bench.timing.saved_bytes``) and a check that all three give the same spikes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch


def methods(T: int, device: torch.device) -> dict:
    from mpe_psn.functional import lif
    from mpe_psn.ops.lif import lif_spikes

    table = {"fused": lambda x: lif_spikes(x, 1.0, 0.25), "loop": lambda x: lif(x, 1.0, 0.25).spikes}
    try:
        from mpe_psn.models.neuron_factory import SpikingJellyLIF

        table["sj-lif"] = SpikingJellyLIF(tau=0.25, T=T).to(device)
    except ImportError as error:
        print(f"SpikingJelly not measured: {error}", file=sys.stderr)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=16)
    parser.add_argument("--N", type=int, default=2**16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    from mpe_psn.bench.timing import median_ms, run_meta, saved_bytes

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x0 = torch.randn(args.T, args.N, device=device, generator=None) + 0.5
    table = methods(args.T, device)

    spikes = {name: run(x0).detach() for name, run in table.items()}
    same = {name: bool(torch.equal(s.float(), spikes["loop"].float())) for name, s in spikes.items()}

    def step(run):
        leaf = x0.detach().requires_grad_(True)
        run(leaf).sum().backward()

    kept = {}
    for name, run in table.items():
        leaf = x0.detach().requires_grad_(True)
        kept[name] = saved_bytes(lambda: run(leaf)) / x0.numel()
    for run in table.values():  # warm-up (numba's and Triton's first call compiles)
        for _ in range(2):
            step(run)
    rounds = []
    for _ in range(args.rounds):  # steps interleaved, method by method, so that a load change hits all
        times: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(args.repeats):
            for name, run in table.items():
                times[name].append(median_ms(lambda: step(run), device, repeats=1, warmup=0))
        rounds.append({name: statistics.median(values) for name, values in times.items()})

    result = run_meta("lif-step", device, T=args.T, N=args.N, threads=args.threads, repeats=args.repeats,
                      same_spikes_as_loop=same, saved_bytes_per_element=kept, rounds_ms=rounds)
    print(f"{result['device']}, torch {result['torch']}, {result['date']}; T = {args.T}, N = {args.N}, "
          f"{args.threads} threads; median of {args.repeats} steps per round")
    print("method   " + "  ".join(f"round {i + 1:>2} ms" for i in range(args.rounds)) + "   bytes kept/elem  same spikes")
    for name in table:
        times = "  ".join(f"{r[name]:11.2f}" for r in rounds)
        print(f"{name:8s} {times}   {kept[name]:15.1f}  {same[name]}")
    for rival in (n for n in table if n != "fused"):
        ratios = [r[rival] / r["fused"] for r in rounds]
        print(f"{rival} / fused: " + ", ".join(f"{q:.2f}x" for q in ratios) + f" (median {statistics.median(ratios):.2f}x)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
