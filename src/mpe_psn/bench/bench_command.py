"""``mpe-psn bench``: time spiking layers (``layer``) and training steps of networks (``net``).

    mpe-psn bench layer --quick                 # CPU-sized grid, a minute or two
    mpe-psn bench layer --device cuda           # the full Fig. 1 grid, T 4..256, N 2^10..2^24
    mpe-psn bench net --device cuda --batch 8 32

Results go to ``--out`` (default ``bench-results/``): ``layer.json`` / ``net.json`` (the data),
``.md`` tables and, for ``layer``, ``layer_speedup.png`` (speed-up heat map per rival).
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mode", metavar="MODE", required=True)

    layer = sub.add_parser("layer", help="one layer on a grid of T x N (the paper's Fig. 1)")
    layer.add_argument("--quick", action="store_true", help="small grid for a CPU: T 4,16; N 2^10,2^12,2^16")
    layer.add_argument("-T", "--T", dest="Ts", type=int, nargs="+", help="time steps (default 4 16 64 256)")
    layer.add_argument("--n-exp", type=int, nargs="+", help="log2 of the neuron counts (default 10 12 ... 24)")
    layer.add_argument("--methods", nargs="+", help="mpe-fused mpe-reference loop-lif copy sj-lif sj-psn (default all)")
    layer.add_argument("--max-elements", type=int, default=None,
                       help="skip points with T*N above this (default 2^28 on GPU, 2^22 on CPU)")
    layer.add_argument("--slow-ms", type=float, default=2000.0,
                       help="stop timing a method at larger N once one call took this long (default 2000)")
    _common(layer, repeats=10)

    net = sub.add_parser("net", help="one training step of a paper network with each neuron")
    net.add_argument("--model", default="dvsgesture-net", help="dvsgesture-net, vggsnn, resnet19 or small")
    net.add_argument("-T", "--T", dest="T", type=int, default=16, help="time steps (default 16)")
    net.add_argument("--batch", type=int, nargs="+", default=[8], help="batch sizes (default 8)")
    net.add_argument("--neurons", nargs="+", help="mpe mpe-reference lif psn sj-lif (default all)")
    net.add_argument("--precision", nargs="+", default=["fp32", "amp"], help="fp32 and/or amp (bf16 autocast)")
    net.add_argument("--classes", type=int, default=11, help="output classes (default 11)")
    net.add_argument("--input-size", type=int, default=None, help="frame side (default: the network's)")
    net.add_argument("--quick", action="store_true", help="the small net, T=4, batch 2, 32x32: a CPU smoke run")
    _common(net, repeats=5)


def _common(parser: argparse.ArgumentParser, repeats: int) -> None:
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed runs per point (default {repeats})")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--out", default="bench-results", help="output folder (default bench-results/)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch and the CPU kernel (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _positive(name: str, values) -> None:
    if values is not None and any(v < 1 for v in values):
        raise SystemExit(f"mpe-psn bench: {name} must be positive, got {values}")


def run(args: argparse.Namespace) -> int:
    import torch

    from mpe_psn.bench.report import write_results

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("mpe-psn bench: --device cuda asked for, but no CUDA device is available; use --device cpu")
    if args.repeats < 1 or args.warmup < 0:
        raise SystemExit("mpe-psn bench: --repeats must be >= 1 and --warmup >= 0")
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"mpe-psn bench: --threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.mode == "layer":
        from mpe_psn.bench.layer import FULL_N_EXP, FULL_T, QUICK_N_EXP, QUICK_T, LayerGrid, run_layer_grid
        from mpe_psn.bench.rivals import LAYER_METHODS

        _positive("-T", args.Ts)
        cpu = not device.startswith("cuda")
        grid = LayerGrid(
            Ts=tuple(args.Ts or (QUICK_T if args.quick else FULL_T)),
            n_exps=tuple(args.n_exp or (QUICK_N_EXP if args.quick else FULL_N_EXP)),
            methods=tuple(args.methods or LAYER_METHODS),
            device=device,
            repeats=args.repeats,
            warmup=args.warmup,
            max_elements=args.max_elements or (2**22 if cpu else 2**28),
            slow_ms=args.slow_ms,
        )
        try:
            result = run_layer_grid(grid, progress=not args.no_progress)
        except ValueError as error:
            raise SystemExit(f"mpe-psn bench layer: {error}") from error
        paths = write_results(result, args.out, "layer")
    else:
        from mpe_psn.bench.net import NET_NEURONS, run_net_bench

        if args.quick:
            args.model, args.T, args.batch, args.input_size = "small", 4, [2], args.input_size or 32
        _positive("--batch", args.batch)
        try:
            result = run_net_bench(
                model=args.model, T=args.T, batches=tuple(args.batch), neurons=tuple(args.neurons or NET_NEURONS),
                precisions=tuple(args.precision), device=device, repeats=args.repeats, warmup=args.warmup,
                num_classes=args.classes, input_size=args.input_size, progress=not args.no_progress,
            )
        except ValueError as error:
            raise SystemExit(f"mpe-psn bench net: {error}") from error
        paths = write_results(result, args.out, "net")
    for path in paths:
        print(f"wrote {path}")
    print(open(paths[1], encoding="utf-8").read())
    return 0
