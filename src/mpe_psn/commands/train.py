"""``mpe-psn train``: train a network; with no arguments, the small net on the built-in dataset.

Settings come from (lowest to highest): the config defaults, a preset (``--preset NAME|FILE``;
without one, the preset named like the dataset), then the flags given explicitly. Every config
key has its flag, made from its field in ``mpe_psn.training.config`` (``--tau``, ``--lr``, ...),
and ``--set KEY=VALUE`` sets any key too.
Under ``torchrun --nproc-per-node N mpe-psn train ...`` it trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from mpe_psn.commands import args as A
from mpe_psn.commands.config_flags import add_setting_flags, settings_given
from mpe_psn.training.checkpoint import CheckpointError
from mpe_psn.training.config import ConfigError, TrainConfig
from mpe_psn.training.presets import list_presets, resolve_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    g = parser.add_argument_group("what to train")
    g.add_argument("--preset", default=None, help="preset name or path to a JSON config (a run folder's config.json "
                   "reruns that configuration); default: the preset named like --dataset; built in: "
                   f"{', '.join(list_presets())}")
    g.add_argument("--resume", default=None, metavar="RUN_OR_CHECKPOINT", type=A.existing_path,
                   help="continue a run (its folder or last.pt) with its saved settings")
    g.add_argument("--set", dest="settings", action="append", type=A.key_value, default=[], metavar="KEY=VALUE",
                   help="any config key (see docs/training.md), e.g. --set momentum=0.8 (repeatable)")
    add_setting_flags(parser, TrainConfig.SECTIONS)
    o = parser.add_argument_group("output")
    o.add_argument("--quiet", action="store_true", help="no progress bars (one line per epoch instead)")
    o.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    o.add_argument("--list-presets", action="store_true", help="list the built-in presets and exit")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the user set explicitly on the command line."""
    return settings_given(args, TrainConfig.SECTIONS)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig that parsed arguments ask for (resuming: the run's, with the flags over it)."""
    return resolve_config(args.preset, overrides_from_args(args), resume=args.resume)


def run(args: argparse.Namespace) -> int:
    # the training machinery is imported here, not when every command's parser is built
    from mpe_psn.training.distributed import teardown_distributed
    from mpe_psn.training.loop import TrainingError, train

    if args.list_presets:
        for name, description in list_presets().items():
            print(f"{name:<14} {description}")
        return 0
    try:
        config = config_from_args(args)
        if args.print_config:
            print(json.dumps(config.to_dict(), indent=2))
            return 0
        result = train(config, resume=args.resume, progress=not args.quiet)
    # (ValueError: dataset and model errors carry their own explanation)
    except (ConfigError, CheckpointError, TrainingError, FileExistsError, FileNotFoundError, ImportError, ValueError) as error:
        print(f"mpe-psn train: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    finally:
        teardown_distributed()
    if result.run_dir is not None and os.environ.get("RANK", "0") == "0":  # the main process reports
        print(
            f"test accuracy {100 * result.final_acc:.2f}% after {result.epochs_done} epochs "
            f"(best {100 * result.best_acc:.2f}% at epoch {result.best_epoch + 1}); run saved in {result.run_dir}"
        )
    return 0
