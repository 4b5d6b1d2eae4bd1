"""``mpe-psn bench``: time spiking layers (``layer``) and training steps of networks (``net``).

    mpe-psn bench layer --quick                 # CPU-sized grid, a minute or two
    mpe-psn bench layer --device cuda           # the full Fig. 1 grid, T 4..256, N 2^10..2^24
    mpe-psn bench net --device cuda --batch 8 32
    mpe-psn bench open                          # every SNN library on the Open Neuromorphic set-up

Results go to ``--out`` (default ``bench-results/``): ``layer.json`` / ``net.json`` (the data),
``.md`` tables and, for ``layer``, ``layer_speedup.png`` (speed-up heat map per rival).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mpe_psn.bench.net import NET_NEURONS, PRECISIONS, SHD_MLP, run_net_bench
from mpe_psn.bench.open_bench import OPEN_LIBRARIES, run_open_command
from mpe_psn.bench.rivals import LAYER_METHODS
from mpe_psn.commands import args as A
from mpe_psn.errors import UsageError
from mpe_psn.models import MODELS
from mpe_psn.utils.device import resolve_device


def _n_exp(text: str) -> int:
    value = A.non_negative_int(text)
    if value > 40:
        raise A.ArgumentTypeError(f"must be at most 40 (N = 2^n-exp neurons), got {value}")
    return value


#: ``bench net`` settings: (default, with --quick); a flag given explicitly wins over both.
NET_DEFAULTS = {"model": ("dvsgesture-net", "small"), "T": (16, 4), "batch": ([8], [2]), "input_size": (None, 32)}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mode", metavar="MODE", required=True)

    layer = sub.add_parser("layer", help="one layer on a grid of T x N (the paper's Fig. 1)")
    layer.add_argument("--quick", action="store_true", help="small grid for a CPU: T 4,16; N 2^10,2^12,2^16")
    layer.add_argument("-T", "--T", dest="Ts", type=A.positive_int, nargs="+", help="time steps (default 4 16 64 256)")
    layer.add_argument("--n-exp", type=_n_exp, nargs="+", help="log2 of the neuron counts (default 10 12 ... 24)")
    layer.add_argument("--methods", nargs="+", type=A.choice_of(lambda: LAYER_METHODS, "method"),
                       help=f"{' '.join(LAYER_METHODS)} (default all)")
    layer.add_argument("--max-elements", type=A.positive_int, default=None,
                       help="skip points with T*N above this (default 2^28 on GPU, 2^22 on CPU)")
    layer.add_argument("--slow-ms", type=A.positive_float, default=2000.0,
                       help="stop timing a method at larger N once one call took this long (default 2000)")
    _common(layer, repeats=10)

    net = sub.add_parser("net", help="one training step of a paper network with each neuron")
    net.add_argument("--model", type=A.choice_of(_net_models, "model"), default=None,
                     help="dvsgesture-net, vggsnn, resnet19, small or shd-mlp (700-256-256-20, the SHD-sized "
                          "feed-forward net; try -T 100 --batch 64) (default dvsgesture-net; --quick: small)")
    net.add_argument("-T", "--T", dest="T", type=A.positive_int, default=None, help="time steps (default 16; --quick: 4)")
    net.add_argument("--batch", type=A.positive_int, nargs="+", default=None, help="batch sizes (default 8; --quick: 2)")
    net.add_argument("--neurons", nargs="+", type=A.choice_of(lambda: NET_NEURONS, "neuron"),
                     help=f"{' '.join(NET_NEURONS)} (default all)")
    net.add_argument("--precision", nargs="+", type=A.choice_of(lambda: PRECISIONS, "precision"), default=["fp32", "amp"],
                     help="fp32 and/or amp (bf16 autocast)")
    net.add_argument("--classes", type=A.positive_int, default=11, help="output classes (default 11)")
    net.add_argument("--input-size", type=A.positive_int, default=None,
                     help="frame side (default: the network's; --quick: 32)")
    net.add_argument("--quick", action="store_true",
                     help="a CPU smoke run: defaults become the small net, T=4, batch 2, 32x32 (flags given still apply)")
    net.add_argument("--rounds", type=A.positive_int, default=1,
                     help="time the neurons in turn this many times and keep each one's median round, so the "
                          "ratios of a shared machine compare like with like (default 1; the targets in "
                          "docs/benchmarks.md use 3)")
    _common(net, repeats=5)

    open_ = sub.add_parser("open", help="the Open Neuromorphic SNN-library benchmark: every library, one run")
    open_.add_argument("-T", "--T", dest="T", type=A.positive_int, default=None, help="time steps (default 500 on GPU, 100 on CPU)")
    open_.add_argument("--n", type=A.positive_int, nargs="+", default=None,
                       help="neurons per layer (default 512 .. 16384 on GPU, 256 1024 on CPU)")
    open_.add_argument("--batch", type=A.positive_int, default=16, help="batch size (default 16)")
    open_.add_argument("--libraries", nargs="+", type=A.choice_of(lambda: OPEN_LIBRARIES, "library"),
                       help=f"{' '.join(OPEN_LIBRARIES)} (default all)")
    open_.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="run norse-compiled (default: on CUDA only; compiling the T-step loop takes minutes on a CPU)")
    _common(open_, repeats=5)


def _net_models() -> list[str]:
    return [name for name, spec in MODELS.items() if spec.input_kind == "frames"] + [SHD_MLP]


def _common(parser: argparse.ArgumentParser, repeats: int) -> None:
    parser.add_argument("--device", type=A.device, default="auto", help="auto, cpu, cuda or cuda:N (default auto: cuda when available)")
    parser.add_argument("--repeats", type=A.positive_int, default=repeats, help=f"timed runs per point (default {repeats})")
    parser.add_argument("--warmup", type=A.non_negative_int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--out", type=A.folder_path, default="bench-results", help="output folder (default bench-results/)")
    parser.add_argument("--threads", type=A.positive_int, default=None,
                        help="CPU threads for torch and the CPU kernel (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def net_settings(args: argparse.Namespace) -> dict:
    """``bench net``'s model, T, batch sizes and input size: the flags given, else the defaults
    (of ``--quick`` when it is given)."""
    column = 1 if args.quick else 0
    return {key: getattr(args, key) if getattr(args, key) is not None else defaults[column]
            for key, defaults in NET_DEFAULTS.items()}


def run(args: argparse.Namespace) -> int:
    # imported here: start-up time of the command line (every command's parser is built on each call)
    from mpe_psn.bench.report import write_results

    device = str(resolve_device(args.device or "auto"))  # a missing GPU is a UsageError (DeviceError)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.mode == "open":
        return run_open_command(args, device)
    if args.mode == "layer":
        # imported here: start-up time of the command line
        from mpe_psn.bench.layer import FULL_N_EXP, FULL_T, QUICK_N_EXP, QUICK_T, LayerGrid, run_layer_grid

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

        partial = Path(args.out) / "layer.partial.json"  # what a run stopped half-way keeps
        partial.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = run_layer_grid(grid, progress=not args.no_progress, partial_path=str(partial))
        except ValueError as error:
            raise UsageError(str(error)) from error
        paths = write_results(result, args.out, "layer")
        partial.unlink(missing_ok=True)
    else:
        settings = net_settings(args)
        try:
            result = run_net_bench(
                model=settings["model"], T=settings["T"], batches=tuple(settings["batch"]),
                neurons=tuple(args.neurons or NET_NEURONS), precisions=tuple(args.precision), device=device,
                repeats=args.repeats, warmup=args.warmup, num_classes=args.classes, input_size=settings["input_size"],
                progress=not args.no_progress, rounds=args.rounds,
            )
        except ValueError as error:
            raise UsageError(str(error)) from error
        paths = write_results(result, args.out, "net")
    for path in paths:
        print(f"wrote {path}")
    print(open(paths[1], encoding="utf-8").read())
    return 0
