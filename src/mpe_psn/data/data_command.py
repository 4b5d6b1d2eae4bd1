"""``mpe-psn data``: prepare a dataset's frame cache, print a summary, optionally plot samples."""

from __future__ import annotations

import argparse

from mpe_psn.utils.cli_args import key_value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", nargs="?", default="synthetic",
                        help="synthetic (default), dvs-gesture, cifar10-dvs, n-caltech101, cifar10, cifar100")
    parser.add_argument("--root", default=None, help="folder with your copy of the dataset (not for synthetic)")
    parser.add_argument("--split", choices=("train", "test", "both"), default="both")
    parser.add_argument("-T", "--T", type=int, default=None, help="time steps (default: the dataset's)")
    parser.add_argument("--size", type=int, default=None, help="frame side in pixels (default: the dataset's)")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default $MPE_PSN_CACHE or ~/.cache/mpe-psn)")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable recordings (counted) instead of failing")
    parser.add_argument("--option", "-o", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                        help="dataset option, e.g. -o num_train=500 -o noise=0.05 (synthetic) or -o split_by=time")
    parser.add_argument("--png", default=None, help="write a PNG of a few samples' frames here")
    parser.add_argument("--samples", type=int, default=6, help="samples in the PNG (default 6)")


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from mpe_psn.data import build_dataset, dataset_info
    from mpe_psn.data.sources import DatasetNotFoundError
    from mpe_psn.data.summary import format_summary, plot_samples, summarize

    try:
        info = dataset_info(args.dataset)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    T = args.T or info.default_T
    splits = ("train", "test") if args.split == "both" else (args.split,)
    rows, datasets = [], []
    for split in splits:
        try:
            dataset = build_dataset(args.dataset, split, root=args.root, T=args.T, size=args.size,
                                    cache_dir=args.cache_dir, skip_bad=args.skip_bad, **dict(args.option))
        except (DatasetNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        datasets.append(dataset)
        rows.append(summarize(dataset, T))
    print(format_summary(args.dataset, rows))
    skipped = sum(r["skipped"] for r in rows)
    if skipped:
        print(f"skipped {skipped} samples from unreadable recordings:")
        for dataset in datasets:
            for path in getattr(dataset, "skipped_files", []):
                print(f"  {path}")
    if args.png:
        plot_samples(datasets[-1], args.png, info.class_names, count=args.samples)
        print(f"wrote {args.png}")
    return 0
