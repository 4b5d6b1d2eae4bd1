"""``mpe-psn data``: prepare a dataset's frame cache, print a summary, optionally plot samples."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mpe_psn.utils import cli_args as A

    parser.add_argument("dataset", nargs="?", default="synthetic", type=A.choice_of(A.dataset_names, "dataset"),
                        help=f"{', '.join(A.dataset_names())} (default synthetic)")
    parser.add_argument("--data-dir", dest="data_dir", type=A.existing_dir, default=None,
                        help="folder with your copy of the dataset (not for synthetic)")
    parser.add_argument("--root", dest="data_dir", type=A.existing_dir, action=A.DeprecatedAlias, new="--data-dir")
    parser.add_argument("--split", choices=("train", "test", "both"), default="both")
    parser.add_argument("-T", "--T", type=A.positive_int, default=None, help="time steps (default: the dataset's)")
    parser.add_argument("--size", type=A.positive_int, default=None, help="frame side in pixels (default: the dataset's)")
    parser.add_argument("--cache-dir", type=A.folder_path, default=None,
                        help="cache folder (default $MPE_PSN_CACHE or ~/.cache/mpe-psn)")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable recordings (counted) instead of failing")
    parser.add_argument("--option", "-o", action="append", type=A.key_value, default=[], metavar="KEY=VALUE",
                        help="dataset option, e.g. -o num_train=500 -o noise=0.05 (synthetic) or -o split_by=time")
    parser.add_argument("--png", type=A.file_path, default=None, help="write a PNG of a few samples' frames here")
    parser.add_argument("--samples", type=A.positive_int, default=None,
                        help="rows in the PNG (default: the first sample of each class)")


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from mpe_psn.data import build_dataset, dataset_info
    from mpe_psn.data.sources import DatasetNotFoundError
    from mpe_psn.data.summary import format_summary, plot_samples, summarize

    info = dataset_info(args.dataset)  # a known name: the argument type checked it
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    T = args.T or info.default_T
    splits = ("train", "test") if args.split == "both" else (args.split,)
    rows, datasets = [], []
    for split in splits:
        try:
            dataset = build_dataset(args.dataset, split, root=args.data_dir, T=args.T, size=args.size,
                                    cache_dir=args.cache_dir, skip_bad=args.skip_bad, **dict(args.option))
        except (DatasetNotFoundError, ValueError) as error:
            print(f"mpe-psn data: error: {' '.join(str(error).split())}", file=sys.stderr)
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
        if len(datasets[-1]) == 0:
            print(f"mpe-psn data: error: --png: the {splits[-1]} split is empty, there is nothing to draw", file=sys.stderr)
            return 2
        plot_samples(datasets[-1], args.png, info.class_names, count=args.samples)
        print(f"wrote {args.png}")
    return 0
