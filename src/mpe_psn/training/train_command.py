"""``mpe-psn train``: train a network; with no arguments, the small net on the built-in dataset.

Settings come from (lowest to highest): the config defaults, a preset (``--preset NAME|FILE``;
without one, the preset named like the dataset), then the flags given explicitly.
Under ``torchrun --nproc-per-node N mpe-psn train ...`` it trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _optional_epoch(text: str) -> int | None:
    from mpe_psn.utils.cli_args import non_negative_int

    return None if text.lower() in ("none", "null", "never") else non_negative_int(text)


def _run_name(text: str) -> str:
    if text in ("", ".", "..") or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"expected a folder name without slashes (the folder goes in --out), got {text!r}")
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    from mpe_psn.utils import cli_args as A

    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    S = argparse.SUPPRESS  # flags not given stay out of the namespace: the preset decides
    estimators = ("bernoulli", "expected")
    g = parser.add_argument_group("what to train")
    g.add_argument("--preset", default=None, help="preset name (see --list-presets) or path to a JSON config "
                   "(a run folder's config.json reruns that configuration); default: the preset named like --dataset")
    g.add_argument("--dataset", type=A.choice_of(A.dataset_names, "dataset"), default=S,
                   help=f"{', '.join(A.dataset_names())} (synthetic is built in; see docs/datasets.md)")
    g.add_argument("--data-dir", dest="data_dir", type=A.existing_dir, default=S, help="folder with your copy of the dataset")
    g.add_argument("--data-option", dest="data_options", action="append", type=A.key_value, default=[], metavar="KEY=VALUE",
                   help="dataset option, e.g. num_train=500 for the built-in dataset (repeatable)")
    g.add_argument("--cache-dir", dest="cache_dir", type=A.folder_path, default=S,
                   help="frame cache folder ($MPE_PSN_CACHE or ~/.cache/mpe-psn)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=S, help="training augmentation")
    g.add_argument("--model", type=A.choice_of(A.model_names, "model"), default=S,
                   help=f"{', '.join(A.model_names())} (default: the dataset's)")
    g.add_argument("--neuron", type=A.choice_of(A.neuron_names, "neuron"), default=S,
                   help="mpe (MPE-PSN), lif (exact sequential), psn, sj-lif (SpikingJelly), snntorch (snnTorch's Leaky)")
    g.add_argument("-T", dest="T", type=A.positive_int, default=S, help="time steps (default: the dataset's)")
    g.add_argument("--input-size", dest="input_size", type=A.positive_int, default=S, help="frame side in pixels")
    g.add_argument("--model-option", dest="model_option_pairs", action="append", type=A.key_value, default=[],
                   metavar="KEY=VALUE", help="network option, e.g. hidden=512 or depth=3 for the mlp (repeatable)")
    g.add_argument("--mask-padding", dest="mask_padding", action=argparse.BooleanOptionalAction, default=S,
                   help="loss and prediction over each sample's true length (zero-padded temporal data such as SHD)")
    o = parser.add_argument_group("optimisation")
    o.add_argument("--epochs", type=A.positive_int, default=S)
    o.add_argument("--batch-size", dest="batch_size", type=A.positive_int, default=S, help="global batch (split over processes)")
    o.add_argument("--lr", type=A.positive_float, default=S)
    o.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default=S, help="sgd, adam or adamw")
    o.add_argument("--weight-decay", dest="weight_decay", type=A.non_negative_float, default=S)
    o.add_argument("--mixup", type=A.non_negative_float, default=S, help="mixup Beta(alpha, alpha); 0 = off")
    o.add_argument("--seed", type=A.non_negative_int, default=S)
    m = parser.add_argument_group("MPE-PSN")
    m.add_argument("--estimator", choices=estimators, default=S, help="training estimator: bernoulli (paper) or expected")
    m.add_argument("--eval-estimator", dest="eval_estimator", choices=estimators, default=S,
                   help="estimator at test time: bernoulli (default; on a fixed seed, so runs repeat) or expected")
    m.add_argument("--refine-steps", dest="refine_steps", type=A.non_negative_int, default=S,
                   help="extra correction passes (T-1 = exact LIF)")
    m.add_argument("--lambda-mem", dest="lambda_mem", type=A.fraction, default=S, help="weight of the membrane loss L_mem (0 = off)")
    m.add_argument("--mem-loss-off-epoch", dest="mem_loss_off_epoch", type=_optional_epoch, default=S,
                   help="L_mem is used for epochs before this one (none = always)")
    m.add_argument("--kappa", choices=("learned", "uniform"), default=S, help="L_mem step weights: learned or uniform")
    m.add_argument("--backend", choices=("auto", "reference", "triton", "cpu"), default=S,
                   help="MPE-PSN kernel: auto, reference, triton, cpu")
    m.add_argument("--log-fidelity", dest="log_fidelity", action=argparse.BooleanOptionalAction, default=S,
                   help="log the estimate's distance to the exact LIF on one test batch each epoch "
                        "(plot it with `mpe-psn analyze fidelity --train RUN`)")
    m.add_argument("--finetune-as", dest="finetune_as", choices=("lif",), default=S,
                   help="train the last --finetune-epochs epochs as this exact neuron (closes the deployment gap)")
    m.add_argument("--finetune-epochs", dest="finetune_epochs", type=A.non_negative_int, default=S,
                   help="how many of the last --epochs to fine-tune (with --finetune-as)")
    r = parser.add_argument_group("machinery")
    r.add_argument("--device", type=A.device, default=S, help="auto, cpu, cuda, cuda:N")
    r.add_argument("--amp", nargs="?", const="auto", choices=("off", "auto", "bf16", "fp16"), default=S,
                   help="mixed precision: auto (bf16 on CPU; bf16 or fp16 on CUDA), bf16, fp16, off")
    r.add_argument("--compile", action=argparse.BooleanOptionalAction, default=S, help="torch.compile the network")
    r.add_argument("--num-workers", dest="num_workers", type=A.non_negative_int, default=S, help="data loader worker processes")
    r.add_argument("--out", type=A.folder_path, default=S, help="parent folder of run folders")
    r.add_argument("--name", type=_run_name, default=S, help="run folder name (default: dataset-model-neuron-time)")
    r.add_argument("--set", dest="settings", action="append", type=A.key_value, default=[], metavar="KEY=VALUE",
                   help="any config key (see docs/training.md), e.g. --set momentum=0.8 (repeatable)")
    r.add_argument("--resume", default=None, metavar="RUN_OR_CHECKPOINT", type=A.existing_path,
                   help="continue a run (its folder or last.pt) with its saved settings")
    r.add_argument("--quiet", action="store_true", help="no progress bars (one line per epoch instead)")
    r.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    r.add_argument("--list-presets", action="store_true", help="list the built-in presets and exit")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the user set explicitly on the command line."""
    from mpe_psn.training.config import TrainConfig

    values: dict[str, Any] = {}
    for key in TrainConfig.keys():  # a flag's destination is its config key; unset flags are not in args
        if hasattr(args, key):
            values[key] = getattr(args, key)
    for key, value in getattr(args, "settings", []):
        values[key] = value
    if getattr(args, "data_options", None):
        values["dataset_options"] = {**values.get("dataset_options", {}), **dict(args.data_options)}
    if getattr(args, "model_option_pairs", None):
        values["model_options"] = {**values.get("model_options", {}), **dict(args.model_option_pairs)}
    return values


def config_from_args(args: argparse.Namespace):
    """Resolve the TrainConfig (and checkpoint to resume, if any) from parsed arguments."""
    from mpe_psn.training.checkpoint import checkpoint_path, load_checkpoint
    from mpe_psn.training.config import TrainConfig
    from mpe_psn.training.presets import resolve_config

    overrides = overrides_from_args(args)
    if args.resume is None:
        return resolve_config(args.preset, overrides)
    saved = load_checkpoint(checkpoint_path(args.resume, prefer="last.pt"))["config"]
    if args.preset is not None:
        raise ValueError("--resume continues a run with its saved settings; drop --preset (flags such as --epochs still apply)")
    return TrainConfig.from_dict({**saved, **overrides}, source=f"resumed config of {args.resume}")


def run(args: argparse.Namespace) -> int:
    from mpe_psn.training.checkpoint import CheckpointError
    from mpe_psn.training.config import ConfigError
    from mpe_psn.training.distributed import teardown_distributed
    from mpe_psn.training.loop import TrainingError, train
    from mpe_psn.training.presets import list_presets

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
    except (ConfigError, CheckpointError, TrainingError, FileExistsError, FileNotFoundError, ImportError) as error:
        print(f"mpe-psn train: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except ValueError as error:  # dataset and model errors carry their own explanation
        print(f"mpe-psn train: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    finally:
        teardown_distributed()
    if result.run_dir is not None and _is_main():
        print(
            f"test accuracy {100 * result.final_acc:.2f}% after {result.epochs_done} epochs "
            f"(best {100 * result.best_acc:.2f}% at epoch {result.best_epoch + 1}); run saved in {result.run_dir}"
        )
    return 0


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
