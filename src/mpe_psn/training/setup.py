"""What a training run builds before its first epoch: the frozen :class:`Setup` and the :class:`RunState`.

:func:`build_setup` runs the build steps in this order::

    _resolve        join the process group, fill the dataset defaults, split the global batch
    _open_resume    the checkpoint to continue (``resume``), or the new run folder's path
    _build_data     both splits (rank 0 first, so that a dataset cache is generated once)
    _build_state    network, optimiser, schedule, scaler; restored from the checkpoint
    _wrap           DistributedDataParallel and torch.compile around the network
    _open_folder    rank 0's run folder (last: every error surfaces before it exists)

The :class:`Setup` holds what stays the same for the whole run; the :class:`RunState` what
the epochs change (the best accuracy, the metrics rows), restored from the checkpoint on resume.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from mpe_psn.data import build_dataset, dataset_info
from mpe_psn.models import MODELS
from mpe_psn.ops import registry
from mpe_psn.training.checkpoint import (
    CheckpointError,
    build_from_args,
    checkpoint_path,
    load_checkpoint,
    load_state,
    restore_rng,
)
from mpe_psn.training.config import MODEL_KEYS, ConfigError, TrainConfig, compile_mode
from mpe_psn.training.distributed import DistContext, barrier, setup_distributed
from mpe_psn.training.optim import make_optimizer, make_scheduler
from mpe_psn.training.run_folder import RunFolder, default_run_name
from mpe_psn.utils.device import amp_dtype

__all__ = ["DEFAULT_MODELS", "ProgressBars", "RunState", "Setup", "build_setup", "resolve_for_dataset"]

#: The network used for each dataset when the config leaves ``model`` empty.
DEFAULT_MODELS = {
    "synthetic": "small",
    "dvs-gesture": "dvsgesture-net",
    "cifar10-dvs": "vggsnn",
    "n-caltech101": "vggsnn",
    "cifar10": "resnet19",
    "cifar100": "resnet19",
    "temporal": "mlp",
    "shd": "mlp",
    "ssc": "mlp",
}


class ProgressBars:
    """tqdm bars on rank 0 (or nothing)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def bar(self, **kwargs):
        if not self.enabled:
            return None
        return tqdm(dynamic_ncols=True, **kwargs)


@dataclass(frozen=True)
class _Resolved:
    """The first step's result: the filled config, this process, the network's arguments."""

    config: TrainConfig
    ctx: DistContext
    model_args: dict[str, Any]
    num_classes: int
    local_batch: int  # the global batch split over the processes
    progress: bool
    log: Callable[[str], None]  # silent on every rank but 0


@dataclass(frozen=True)
class Setup(_Resolved):
    """What one run trains with, fixed before the first epoch: the resolved run (config, process, network
    arguments) and what was built from it. (The optimiser's state changes, the record does not.)"""

    bars: ProgressBars
    run_path: Path
    start_epoch: int  # 0, or the epochs a resumed checkpoint finished
    train_set: Any
    test_set: Any
    net: nn.Module  # the network itself (state dicts, evaluation)
    model: nn.Module  # what the training step calls: net, maybe in DDP and compiled
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    dtype: torch.dtype | None  # the autocast type (None: no AMP)
    folder: RunFolder | None  # rank 0 only


@dataclass
class RunState:
    """What the epochs change: the best test accuracy and its epoch, the metrics rows, the plot clock."""

    best_acc: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    last_plot: float = 0.0  # time.monotonic() of the last curves.png
    fidelity_batch: torch.Tensor | None = None  # the fixed test batch of ``log_fidelity``, taken at the first epoch


@dataclass(frozen=True)
class _Opened:
    """The checkpoint a run continues (``content`` None for a new run) and the run folder's path."""

    source: "str | Path | None"
    content: dict[str, Any] | None
    run_path: Path

    @property
    def start_epoch(self) -> int:
        return int(self.content["epoch"]) if self.content is not None else 0


@dataclass(frozen=True)
class _Trainable:
    """The network and what updates it."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    dtype: torch.dtype | None


def build_setup(
    config: TrainConfig,
    resume: "str | Path | None" = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[Setup, RunState]:
    """The build steps in order: the run's frozen :class:`Setup` and its starting :class:`RunState`."""
    run = _resolve(config, progress, log)
    opened = _open_resume(run, resume)
    train_set, test_set = _build_data(run)
    trainable = _build_state(run, opened)
    state = _restored_state(opened)
    model = _wrap(run, trainable.net)
    folder = _open_folder(run, opened, state.history)
    resolved = {f.name: getattr(run, f.name) for f in fields(run)}
    setup = Setup(
        **resolved, bars=ProgressBars(progress and run.ctx.is_main), run_path=opened.run_path,
        start_epoch=opened.start_epoch, train_set=train_set, test_set=test_set, net=trainable.net, model=model,
        optimizer=trainable.optimizer, scheduler=trainable.scheduler, scaler=trainable.scaler, dtype=trainable.dtype,
        folder=folder,
    )
    return setup, state


def resolve_for_dataset(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any], Any]:
    """Fill the dataset defaults (T, input size, model); returns (config, build_model args, info)."""
    try:
        info = dataset_info(config.dataset)
    except (KeyError, ValueError) as error:
        raise ConfigError(f"config key 'dataset': {error}") from error
    model = config.model or DEFAULT_MODELS.get(config.dataset, "small")
    data_kind = "temporal" if info.kind == "temporal" else "frames"
    if MODELS[model].input_kind != data_kind:
        layouts = {"temporal": "spike channels [T, channels]", "frames": "frames [T, C, H, W]"}
        fits = [name for name, spec in MODELS.items() if spec.input_kind == data_kind]
        raise ConfigError(
            f"config key 'model': {model!r} takes {layouts[MODELS[model].input_kind]} but dataset {config.dataset!r} "
            f"gives {layouts[data_kind]}; choose one of {fits}"
        )
    if data_kind == "temporal" and config.input_size not in (None, 1):
        raise ConfigError(f"config key 'input_size': dataset {config.dataset!r} has no frame size (spike channels); "
                          f"drop --input-size")
    config = config.replace(
        T=config.T or info.default_T,
        input_size=config.input_size or info.height,
        model=model,
    )
    model_args = {
        "name": model,
        "neuron": config.neuron,
        "T": config.T,
        "num_classes": info.num_classes,
        "in_channels": info.in_channels,
        "input_size": config.input_size,
        "neuron_options": config.neuron_options(),
    }
    if config.model_options:
        model_args["model_options"] = dict(config.model_options)
    return config, model_args, info


# -- the build steps, in build_setup's order -----------------------------------------------------


def _resolve(config: TrainConfig, progress: bool, log: Callable[[str], None]) -> _Resolved:
    """Join the process group, fill the dataset defaults, split the global batch over processes."""
    ctx = setup_distributed(config.device)
    log = log if ctx.is_main else (lambda message: None)
    config, model_args, info = resolve_for_dataset(config)
    _check_backend(config, ctx.device)
    if config.batch_size % ctx.world_size:
        raise ConfigError(
            f"config key 'batch_size': the global batch {config.batch_size} must divide evenly over {ctx.world_size} processes"
        )
    return _Resolved(config=config, ctx=ctx, model_args=model_args, num_classes=info.num_classes,
                     local_batch=config.batch_size // ctx.world_size, progress=progress, log=log)


def _check_backend(config: TrainConfig, device: torch.device) -> None:
    """A fused backend named for the neuron that cannot run on ``device`` is a config error now,
    before any data is read (``auto`` and ``reference`` always run)."""
    if not registry.backends(config.neuron):  # a neuron without fused kernels ignores the key
        return
    try:
        registry.select(config.neuron, config.backend, device)
    except ValueError as error:
        raise ConfigError(f"config key 'backend': {error}") from None


def _open_resume(run: _Resolved, resume: "str | Path | None") -> _Opened:
    """The checkpoint to continue (checked against the config), or the path of a new run folder."""
    config = run.config
    if resume is not None:
        ckpt = checkpoint_path(resume, prefer="last.pt")
        content = load_checkpoint(ckpt, map_location="cpu")
        _check_resume_fits(config, run.model_args, content, str(ckpt))
        if content["epoch"] >= config.epochs:
            raise ConfigError(
                f"{ckpt} already finished {content['epoch']} of {config.epochs} epochs; raise --epochs to train further"
            )
        return _Opened(source=resume, content=content, run_path=ckpt.parent)
    run_path = Path(config.out) / (config.name or default_run_name(config.dataset, config.model, config.neuron))
    if run_path.exists() and any(run_path.iterdir()):
        raise FileExistsError(
            f"run folder {run_path} already exists and is not empty; choose another --name, or continue it with --resume {run_path}"
        )
    return _Opened(source=None, content=None, run_path=run_path)


def _check_resume_fits(config: TrainConfig, model_args: dict[str, Any], content: dict[str, Any], source: str) -> None:
    """Raise :class:`CheckpointError` when the checkpoint holds another network than ``config`` builds."""
    saved = content["config"]
    for key in MODEL_KEYS:
        if saved.get(key, {} if key == "model_options" else None) != getattr(config, key):
            raise CheckpointError(
                f"{source} was trained with {key} = {saved.get(key)!r} but this run asks for {key} = {getattr(config, key)!r}; "
                f"drop that option to continue the checkpoint, or start a new run without --resume"
            )
    if content["model_args"] != model_args:
        diff = {k: (content["model_args"].get(k), v) for k, v in model_args.items() if content["model_args"].get(k) != v}
        raise CheckpointError(f"{source} holds a different network than this config builds (checkpoint vs now: {diff})")


def _build_data(run: _Resolved) -> tuple[Any, Any]:
    """Both splits; rank 0 builds first so that a dataset cache is generated once."""
    config, ctx = run.config, run.ctx
    data_options = dict(root=config.data_dir, T=config.T, size=config.input_size, cache_dir=config.cache_dir,
                        progress=run.progress and ctx.is_main)  # the bar of a first-time dataset preparation
    data_options.update(config.dataset_options)
    if not ctx.is_main:
        barrier()
    try:
        train_set = build_dataset(config.dataset, "train", augment=config.augment, **data_options)
        test_set = build_dataset(config.dataset, "test", augment=False, **data_options)
    finally:
        if ctx.is_main:
            barrier()
    return train_set, test_set


def _build_state(run: _Resolved, opened: _Opened) -> _Trainable:
    """Network, optimiser, schedule and scaler, seeded; a resumed run gets all of them (and its RNG) back."""
    config, ctx, content = run.config, run.ctx, opened.content
    _seed_everything(config.seed)
    net = build_from_args(run.model_args).to(ctx.device)
    optimizer = make_optimizer(config, _optimizer_params(net, content, run.log))
    scheduler = make_scheduler(config, optimizer)
    dtype = amp_dtype(config.amp, ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=dtype == torch.float16)
    trainable = _Trainable(net=net, optimizer=optimizer, scheduler=scheduler, scaler=scaler, dtype=dtype)
    if content is None:
        if ctx.rank:
            _seed_everything(config.seed + 7919 * ctx.rank)  # own Bernoulli/dropout noise per process
        return trainable
    load_state(net, content["model"], str(opened.source), f"{config.model} with neuron {config.neuron}")
    optimizer.load_state_dict(content["optimizer"])
    scheduler.load_state_dict(content["scheduler"])
    if content.get("scaler"):
        scaler.load_state_dict(content["scaler"])
    if hasattr(scheduler, "T_max") and scheduler.T_max != config.epochs:
        _stretch_cosine(scheduler, config.epochs)  # --epochs was raised on resume
    rng = content["rng"]
    if isinstance(rng, list) != ctx.distributed or (isinstance(rng, list) and len(rng) != ctx.world_size):
        saved = len(rng) if isinstance(rng, list) else 1
        raise CheckpointError(f"{opened.source} was written by {saved} process(es); resume it with the same number (now {ctx.world_size})")
    restore_rng(rng[ctx.rank] if isinstance(rng, list) else rng)
    return trainable


def _seed_everything(seed: int) -> None:
    """Seed torch, NumPy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _optimizer_params(net: nn.Module, content: dict[str, Any] | None,
                      log: Callable[[str], None]) -> "nn.Module | list[nn.Parameter]":
    """The network (weight decay by parameter group, see :mod:`mpe_psn.training.optim`); a
    checkpoint written with one group for every parameter resumes with that one group."""
    saved = (content or {}).get("optimizer")
    if saved is not None and len(saved.get("param_groups", ())) == 1:
        log("resuming a checkpoint whose optimiser decays every parameter: keeping that for this run")
        return list(net.parameters())
    return net


def _stretch_cosine(scheduler: Any, epochs: int) -> None:
    """The cosine schedule over ``epochs`` at the epoch reached: ``lr = eta_min + (base - eta_min)
    (1 + cos(pi e / epochs)) / 2``. (Only T_max changed, the scheduler's recursive update would keep
    a finished run's rate of 0 at 0, so resuming to train further would not train.)"""
    scheduler.T_max = epochs
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * (1 + math.cos(math.pi * scheduler.last_epoch / epochs)) / 2
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def _restored_state(opened: _Opened) -> RunState:
    """A new run's empty state, or the best accuracy, its epoch and the metrics rows of the checkpoint."""
    content = opened.content
    if content is None:
        return RunState()
    return RunState(best_acc=float(content["best_acc"]), best_epoch=int(content["best_epoch"]),
                    history=list(content.get("history", []))[: opened.start_epoch])


def _wrap(run: _Resolved, net: nn.Module) -> nn.Module:
    """DistributedDataParallel (under torchrun) and torch.compile (``compile``) around the network."""
    model: nn.Module = net
    if run.ctx.distributed:
        model = DistributedDataParallel(net, device_ids=[run.ctx.device] if run.ctx.device.type == "cuda" else None)
    mode = compile_mode(run.config.compile)
    if mode == "reduce-overhead" and run.ctx.device.type != "cuda":
        run.log(f"compile: reduce-overhead captures CUDA graphs, which need a CUDA device; on {run.ctx.device.type} "
                f"the network is compiled in the default mode")
        mode = "default"
    if mode != "off":
        # static shapes: a smaller last batch costs one more compile (and, with reduce-overhead, one
        # more CUDA graph), and symbolic H and W hit an open inductor bug with convolutions
        # (pytorch/pytorch#185510)
        model = torch.compile(model, dynamic=False, mode=mode)
    return model


def _open_folder(run: _Resolved, opened: _Opened, history: list[dict[str, Any]]) -> RunFolder | None:
    """Rank 0 opens the run folder (the history of a resumed run included) and writes config.json."""
    if not run.ctx.is_main:
        return None
    folder = RunFolder(opened.run_path, resume=opened.content is not None)
    folder.metrics = history
    folder.write_config(run.config.to_dict())
    return folder
