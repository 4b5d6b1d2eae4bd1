"""``mpe-psn data``: prepare a dataset's frame cache, print a summary, optionally plot samples.

The dataset is ``--dataset NAME`` and its options ``--data-option KEY=VALUE``, as in
``mpe-psn train``; the older spellings still work: the name as the first argument
(``mpe-psn data shd``), ``-o``/``--option`` for options and ``--root`` for ``--data-dir``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from mpe_psn.commands import args as A
from mpe_psn.data.registry import DATASETS, SPLITS, dataset_info
from mpe_psn.data.sources import DatasetNotFoundError
from mpe_psn.errors import UsageError

DEFAULT_DATASET = "synthetic"


def configure(parser: argparse.ArgumentParser) -> None:
    dataset = A.choice_of(DATASETS.keys, "dataset")
    parser.add_argument("dataset_name", nargs="?", default=None, type=dataset, metavar="NAME",
                        help="the dataset, as --dataset (the older spelling)")
    parser.add_argument("--dataset", default=None, type=dataset,
                        help=f"{', '.join(DATASETS)} (default {DEFAULT_DATASET})")
    parser.add_argument("--data-dir", dest="data_dir", type=A.existing_dir, default=None,
                        help="folder with your copy of the dataset (not for synthetic)")
    parser.add_argument("--root", dest="data_dir", type=A.existing_dir, action=A.DeprecatedAlias, new="--data-dir")
    parser.add_argument("--data-option", "--option", "-o", dest="data_options", action="append", type=A.key_value,
                        default=[], metavar="KEY=VALUE",
                        help="dataset option, e.g. --data-option num_train=500 (synthetic) or split_by=time (repeatable)")
    parser.add_argument("--split", choices=(*SPLITS, "both"), default="both")
    parser.add_argument("-T", "--T", type=A.positive_int, default=None, help="time steps (default: the dataset's)")
    parser.add_argument("--size", type=A.positive_int, default=None, help="frame side in pixels (default: the dataset's)")
    parser.add_argument("--cache-dir", type=A.folder_path, default=None,
                        help="cache folder (default $MPE_PSN_CACHE or ~/.cache/mpe-psn)")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable recordings (counted) instead of failing")
    parser.add_argument("--png", type=A.file_path, default=None, help="write a PNG of a few samples' frames here")
    parser.add_argument("--samples", type=A.positive_int, default=None,
                        help="rows in the PNG (default: the first sample of each class)")


def run(args: argparse.Namespace) -> int:
    # the summaries (and their plots) are imported here, not when every command's parser is built
    from mpe_psn.data.summary import plot_samples, prepare_splits

    if args.dataset and args.dataset_name and args.dataset != args.dataset_name:
        raise UsageError(f"two datasets given: {args.dataset_name} and --dataset {args.dataset}; give one")
    name = args.dataset or args.dataset_name or DEFAULT_DATASET
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        datasets, summary = prepare_splits(name, args.split, root=args.data_dir, T=args.T, size=args.size,
                                           cache_dir=args.cache_dir, skip_bad=args.skip_bad, **dict(args.data_options))
    except (DatasetNotFoundError, ValueError) as error:
        print(f"mpe-psn data: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(summary)
    if args.png:
        if len(datasets[-1]) == 0:
            last = "test" if args.split == "both" else args.split
            print(f"mpe-psn data: error: --png: the {last} split is empty, there is nothing to draw", file=sys.stderr)
            return 2
        plot_samples(datasets[-1], args.png, dataset_info(name).class_names, count=args.samples)
        print(f"wrote {args.png}")
    return 0
