"""The training loop: TET + lambda_mem * L_mem, SGD/Adam, cosine schedule, AMP, compile, DDP.

One call of :func:`train` runs a whole configuration as a sequence of named steps::

    _resolve        dataset defaults, the network's arguments, the per-process batch
    _open_resume    the checkpoint to continue (``resume``), or the new run folder's path
    _build_data     both splits (rank 0 first, so that a dataset cache is generated once)
    _build_state    network, optimiser, schedule, scaler; restored from the checkpoint
    _wrap           DistributedDataParallel and torch.compile around the network
    then per epoch: _train_epoch, _test_epoch, _save_epoch, _report_epoch

Every error surfaces before the run folder exists. ``resume`` continues from a checkpoint with
the same results as an uninterrupted run: data order depends only on (seed, epoch), and all
RNG states are restored.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from mpe_psn.losses import total_loss
from mpe_psn.models.batches import input_lengths, model_input, predict
from mpe_psn.models.fidelity import fidelity_summary
from mpe_psn.training.checkpoint import (
    CheckpointError,
    build_from_args,
    capture_rng,
    checkpoint_path,
    load_checkpoint,
    load_state,
    restore_rng,
    save_checkpoint,
)
from mpe_psn.training.config import MODEL_KEYS, ConfigError, TrainConfig
from mpe_psn.training.distributed import DistContext, all_reduce_sum, barrier, broadcast_buffers, setup_distributed
from mpe_psn.training.evaluate import EvalResult, evaluate
from mpe_psn.training.mixup import mixup_batch
from mpe_psn.training.optim import make_optimizer, make_scheduler
from mpe_psn.training.run_folder import RunFolder, default_run_name
from mpe_psn.utils.atomic import atomic_write_bytes
from mpe_psn.utils.device import amp_dtype

__all__ = ["DEFAULT_MODELS", "TrainingError", "TrainResult", "resolve_for_dataset", "train"]

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


#: Seconds between redraws of curves.png during training (it is always drawn after the last epoch).
PLOT_EVERY_S = 120.0
#: the seed of every test-set evaluation during training (the Bernoulli estimator samples; a
#: fixed seed makes the reported accuracies repeat, and evaluating leaves training's RNG alone)
EVAL_SEED = 0

#: Test samples of the fixed batch on which ``log_fidelity`` measures the estimate every epoch.
FIDELITY_SAMPLES = 64


class TrainingError(RuntimeError):
    """A run that cannot go on (out of memory, diverged loss); the message says what to change."""


@dataclass
class TrainResult:
    run_dir: Path | None
    final_acc: float
    best_acc: float
    best_epoch: int
    epochs_done: int
    metrics: list[dict[str, Any]] = field(default_factory=list)
    model: nn.Module | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    """What one run carries from step to step (filled in the order of :func:`train`'s steps)."""

    config: TrainConfig
    ctx: DistContext
    model_args: dict[str, Any]
    num_classes: int
    local_batch: int
    progress: bool
    log: Callable[[str], None]
    run_path: Path | None = None
    content: dict[str, Any] | None = None  # the checkpoint being resumed
    resume: "str | Path | None" = None
    train_set: Any = None
    test_set: Any = None
    net: nn.Module | None = None  # the network itself (state dicts, evaluation)
    model: nn.Module | None = None  # what the training step calls: net, maybe in DDP and compiled
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    scaler: torch.amp.GradScaler | None = None
    dtype: torch.dtype | None = None
    start_epoch: int = 0
    best_acc: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    folder: RunFolder | None = None
    bars: "_Progress | None" = None
    fidelity_batch: torch.Tensor | None = None
    last_plot: float = 0.0


def resolve_for_dataset(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any], Any]:
    """Fill the dataset defaults (T, input size, model); returns (config, build_model args, info)."""
    from mpe_psn.data import dataset_info

    try:
        info = dataset_info(config.dataset)
    except (KeyError, ValueError) as error:
        raise ConfigError(f"config key 'dataset': {error}") from error
    model = config.model or DEFAULT_MODELS.get(config.dataset, "small")
    from mpe_psn.models import MODELS

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


def _check_resume_fits(config: TrainConfig, model_args: dict[str, Any], content: dict[str, Any], source: str) -> None:
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


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class _Progress:
    """tqdm bars on rank 0 (or nothing)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def bar(self, **kwargs):
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        return tqdm(dynamic_ncols=True, **kwargs)


def _start_line(config: TrainConfig, ctx: DistContext, n_train: int, n_test: int, run_path, start_epoch: int) -> str:
    """One line saying what is about to be trained, where, and with which MPE-PSN kernel."""
    neuron = config.neuron
    if neuron == "mpe":
        from mpe_psn.ops import resolve_backend

        neuron = f"mpe (MPE-PSN, {resolve_backend(config.backend, ctx.device)} kernel)"
    where = f"{ctx.device}" + (f" x {ctx.world_size} processes" if ctx.distributed else "")
    what = "resuming" if start_epoch else "training"
    return (f"{what} {config.model} with neuron {neuron} on {config.dataset} (T = {config.T}, "
            f"{n_train} train / {n_test} test samples), epochs {start_epoch + 1}-{config.epochs}, "
            f"batch {config.batch_size}, on {where}; run folder {run_path}")


def train(
    config: TrainConfig,
    *,
    resume: "str | Path | None" = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    keep_model: bool = True,
) -> TrainResult:
    """Train ``config``; continue a run from ``resume`` (a run folder or a checkpoint file).

    Returns the final and best test accuracy and the run folder. Under torchrun every
    process calls this; rank 0 writes the run folder.
    """
    run = _resolve(config, progress, log)
    _open_resume(run, resume)
    _build_data(run)
    _build_state(run)
    _wrap(run)
    _open_folder(run)
    run.log(_start_line(run.config, run.ctx, len(run.train_set), len(run.test_set), run.run_path, run.start_epoch))
    epoch_bar = run.bars.bar(total=run.config.epochs, initial=run.start_epoch, desc="epochs", unit="ep")
    final_acc = float(run.history[-1]["test_acc"]) if run.history else float("nan")
    run.last_plot = time.monotonic()
    try:
        for epoch in range(run.start_epoch, run.config.epochs):
            _start_finetune(run, epoch)
            train_stats = _train_epoch(run, epoch)
            test, test_loader, eval_seconds = _test_epoch(run)
            final_acc = test.accuracy
            row = _epoch_row(run, epoch, train_stats, test, eval_seconds)
            if run.config.log_fidelity and run.ctx.is_main:
                row["fidelity"] = _epoch_fidelity(run, test_loader)
            run.history.append(row)
            _save_epoch(run, epoch, improved=run.best_epoch == epoch)
            _report_epoch(run, epoch, row, epoch_bar)
            barrier()
    except BaseException as error:
        if run.folder is not None:
            run.folder.discard()  # removes the folder only if this run created it and no checkpoint exists
        if isinstance(error, torch.cuda.OutOfMemoryError):
            raise TrainingError(
                f"the GPU ran out of memory training {run.config.model} with {run.config.neuron} at T = {run.config.T}, "
                f"batch {run.local_batch} per process; lower --batch-size or -T, or use --amp"
            ) from error
        raise
    finally:
        if epoch_bar is not None:
            epoch_bar.close()
        if run.folder is not None:
            run.folder.close()
    return TrainResult(
        run_dir=run.folder.path if run.folder is not None else run.run_path,
        final_acc=final_acc, best_acc=run.best_acc, best_epoch=run.best_epoch, epochs_done=run.config.epochs,
        metrics=run.history, model=run.net if keep_model else None, model_args=run.model_args, config=run.config.to_dict(),
    )


# -- the steps before the first epoch ----------------------------------------------------------


def _resolve(config: TrainConfig, progress: bool, log: Callable[[str], None]) -> _Run:
    """Join the process group, fill the dataset defaults, split the global batch over processes."""
    ctx = setup_distributed(config.device)
    log = log if ctx.is_main else (lambda message: None)
    config, model_args, info = resolve_for_dataset(config)
    if config.batch_size % ctx.world_size:
        raise ConfigError(
            f"config key 'batch_size': the global batch {config.batch_size} must divide evenly over {ctx.world_size} processes"
        )
    return _Run(config=config, ctx=ctx, model_args=model_args, num_classes=info.num_classes,
                local_batch=config.batch_size // ctx.world_size, progress=progress, log=log,
                bars=_Progress(progress and ctx.is_main))


def _open_resume(run: _Run, resume: "str | Path | None") -> None:
    """The checkpoint to continue (checked against the config), or the path of a new run folder."""
    config = run.config
    run.resume = resume
    if resume is not None:
        ckpt = checkpoint_path(resume, prefer="last.pt")
        run.content = load_checkpoint(ckpt, map_location="cpu")
        _check_resume_fits(config, run.model_args, run.content, str(ckpt))
        run.run_path = ckpt.parent
        if run.content["epoch"] >= config.epochs:
            raise ConfigError(
                f"{ckpt} already finished {run.content['epoch']} of {config.epochs} epochs; raise --epochs to train further"
            )
        return
    run.run_path = Path(config.out) / (config.name or default_run_name(config.dataset, config.model, config.neuron))
    if run.run_path.exists() and any(run.run_path.iterdir()):
        raise FileExistsError(
            f"run folder {run.run_path} already exists and is not empty; choose another --name, or continue it with --resume {run.run_path}"
        )


def _build_data(run: _Run) -> None:
    """Both splits; rank 0 builds first so that a dataset cache is generated once."""
    from mpe_psn.data import build_dataset

    config, ctx = run.config, run.ctx
    data_options = dict(root=config.data_dir, T=config.T, size=config.input_size, cache_dir=config.cache_dir,
                        progress=run.progress and ctx.is_main)  # the bar of a first-time dataset preparation
    data_options.update(config.dataset_options)
    if not ctx.is_main:
        barrier()
    try:
        run.train_set = build_dataset(config.dataset, "train", augment=config.augment, **data_options)
        run.test_set = build_dataset(config.dataset, "test", augment=False, **data_options)
    finally:
        if ctx.is_main:
            barrier()


def _build_state(run: _Run) -> None:
    """Network, optimiser, schedule and scaler, seeded; a resumed run gets all of them back."""
    config, ctx, content = run.config, run.ctx, run.content
    _seed_everything(config.seed)
    run.net = build_from_args(run.model_args).to(ctx.device)
    run.optimizer = make_optimizer(config, _optimizer_params(run))
    run.scheduler = make_scheduler(config, run.optimizer)
    run.dtype = amp_dtype(config.amp, ctx.device)
    run.scaler = torch.amp.GradScaler(ctx.device.type, enabled=run.dtype == torch.float16)
    if content is None:
        if ctx.rank:
            _seed_everything(config.seed + 7919 * ctx.rank)  # own Bernoulli/dropout noise per process
        return
    load_state(run.net, content["model"], str(run.resume), f"{config.model} with neuron {config.neuron}")
    run.optimizer.load_state_dict(content["optimizer"])
    run.scheduler.load_state_dict(content["scheduler"])
    if content.get("scaler"):
        run.scaler.load_state_dict(content["scaler"])
    run.start_epoch = int(content["epoch"])
    run.best_acc, run.best_epoch = float(content["best_acc"]), int(content["best_epoch"])
    run.history = list(content.get("history", []))[: run.start_epoch]
    if hasattr(run.scheduler, "T_max") and run.scheduler.T_max != config.epochs:
        _stretch_cosine(run.scheduler, config.epochs)  # --epochs was raised on resume
    rng = content["rng"]
    if isinstance(rng, list) != ctx.distributed or (isinstance(rng, list) and len(rng) != ctx.world_size):
        saved = len(rng) if isinstance(rng, list) else 1
        raise CheckpointError(f"{run.resume} was written by {saved} process(es); resume it with the same number (now {ctx.world_size})")
    restore_rng(rng[ctx.rank] if isinstance(rng, list) else rng)


def _stretch_cosine(scheduler: Any, epochs: int) -> None:
    """The cosine schedule over ``epochs`` at the epoch reached: ``lr = eta_min + (base - eta_min)
    (1 + cos(pi e / epochs)) / 2``. (Only T_max changed, the scheduler's recursive update would keep
    a finished run's rate of 0 at 0, so resuming to train further would not train.)"""
    scheduler.T_max = epochs
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * (1 + math.cos(math.pi * scheduler.last_epoch / epochs)) / 2
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def _optimizer_params(run: _Run) -> "nn.Module | list[nn.Parameter]":
    """The network (weight decay by parameter group, see :mod:`mpe_psn.training.optim`); a
    checkpoint written with one group for every parameter resumes with that one group."""
    saved = (run.content or {}).get("optimizer")
    if saved is not None and len(saved.get("param_groups", ())) == 1:
        run.log("resuming a checkpoint whose optimiser decays every parameter: keeping that for this run")
        return list(run.net.parameters())
    return run.net


def _wrap(run: _Run) -> None:
    """DistributedDataParallel (under torchrun) and torch.compile (``compile``) around the network."""
    model: nn.Module = run.net
    if run.ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(run.net, device_ids=[run.ctx.device] if run.ctx.device.type == "cuda" else None)
    if run.config.compile:
        # static shapes: a smaller last batch costs one more compile, and symbolic H and W hit an open
        # inductor bug with convolutions (pytorch/pytorch#185510)
        model = torch.compile(model, dynamic=False)
    run.model = model


def _open_folder(run: _Run) -> None:
    """Rank 0 opens the run folder (the history of a resumed run included) and writes config.json."""
    if not run.ctx.is_main:
        return
    run.folder = RunFolder(run.run_path, resume=run.content is not None)
    run.folder.metrics = run.history
    run.folder.write_config(run.config.to_dict())


# -- the steps of one epoch ----------------------------------------------------------------------


def _start_finetune(run: _Run, epoch: int) -> None:
    """The last ``finetune_epochs`` epochs train (and evaluate) as the exact LIF (training/finetune.py);
    best.pt is then chosen among them only."""
    from mpe_psn.training.finetune import set_finetune

    config = run.config
    active = _finetuned(config, epoch)
    set_finetune(run.net, config.T, active, config.refine_steps)
    best_row = next((r for r in run.history if r.get("epoch") == run.best_epoch), {})
    if active and not best_row.get("finetune"):  # the first fine-tuned epoch (also of a run resumed into it)
        run.best_acc, run.best_epoch = -1.0, -1
        run.log(f"epochs {epoch + 1}-{config.epochs}: fine-tuning as the exact {config.finetune_as.upper()} "
                f"(refine_steps = {config.T - 1})")


def _finetuned(config: TrainConfig, epoch: int) -> bool:
    from mpe_psn.training.finetune import is_finetune_epoch

    return is_finetune_epoch(config.finetune_as, config.finetune_epochs, config.epochs, epoch)


def _train_epoch(run: _Run, epoch: int) -> dict[str, float]:
    """One pass over the training set; returns the epoch's averaged statistics (all processes)."""
    from mpe_psn.data import build_loader

    config, ctx, model, optimizer, scaler = run.config, run.ctx, run.model, run.optimizer, run.scaler
    loader = build_loader(run.train_set, batch_size=run.local_batch, shuffle=True, num_workers=config.num_workers,
                          device=str(ctx.device), seed=config.seed + epoch)
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    lambda_mem = config.lambda_mem if config.mem_loss_off_epoch is None or epoch < config.mem_loss_off_epoch else 0.0
    model.train()
    device = ctx.device
    sums = torch.zeros(5, dtype=torch.float64, device=device)  # total, tet, mem (x samples), correct, samples
    autocast = (lambda: torch.autocast(device.type, dtype=run.dtype)) if run.dtype is not None else contextlib.nullcontext
    bar = run.bars.bar(total=len(loader), desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    every = max(1, len(loader) // 50)
    for step, (x, y) in enumerate(loader):
        x = model_input(x, device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        target: torch.Tensor = y
        if config.mixup > 0:
            x, target = mixup_batch(x, y, run.num_classes, config.mixup, config.mixup_prob)
        lengths = input_lengths(x) if config.mask_padding else None
        with autocast():
            outputs = model(x)
        losses = total_loss(outputs, target, model, lambda_mem, config.tet_lamb, config.tet_phi, lengths)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses.total).backward()
        scaler.step(optimizer)
        scaler.update()
        n = y.shape[0]
        with torch.no_grad():
            correct = (predict(outputs, lengths) == y).sum()
            sums += torch.stack([losses.total.detach().double() * n, losses.tet.detach().double() * n,
                                 losses.mem.detach().double() * n, correct.double(), torch.tensor(float(n), device=device, dtype=torch.float64)])
        if step % every == 0 or step == len(loader) - 1:
            loss_value = float(losses.total.detach())
            if not math.isfinite(loss_value):
                raise TrainingError(
                    f"the loss became {loss_value} at epoch {epoch + 1}, batch {step + 1}; "
                    f"lower --lr (now {config.lr}) or turn off --amp fp16"
                )
            if bar is not None:
                seen = float(sums[4])
                bar.set_postfix(loss=f"{float(sums[0]) / seen:.3f}", acc=f"{100 * float(sums[3]) / seen:.1f}%",
                                samples_s=f"{seen * ctx.world_size / (time.perf_counter() - start):.0f}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    all_reduce_sum(sums)
    samples = float(sums[4])
    return {
        "train_loss": float(sums[0]) / samples,
        "train_tet": float(sums[1]) / samples,
        "mem_loss": float(sums[2]) / samples,
        "train_acc": float(sums[3]) / samples,
        "lambda_mem": lambda_mem,
        "epoch_seconds": seconds,
        "epoch_cpu_seconds": cpu_seconds,  # this process's CPU time: less noisy than wall time on a shared machine
        "samples_per_s": samples / seconds,
    }


def _test_epoch(run: _Run) -> tuple[EvalResult, Any, float]:
    """Step the schedule, share rank 0's batch-norm statistics, evaluate the whole test set."""
    from mpe_psn.data import build_loader

    run.scheduler.step()
    if run.ctx.distributed:
        broadcast_buffers(run.net)  # evaluate (and save) rank 0's batch-norm statistics everywhere
    t0 = time.perf_counter()
    test_loader = build_loader(run.test_set, batch_size=run.local_batch, shuffle=False, num_workers=run.config.num_workers,
                               device=str(run.ctx.device), seed=run.config.seed)
    test = evaluate(run.net, test_loader, run.num_classes, run.ctx.device, run.dtype, seed=EVAL_SEED,
                    mask_padding=run.config.mask_padding)
    return test, test_loader, time.perf_counter() - t0


def _epoch_row(run: _Run, epoch: int, train_stats: dict[str, float], test: EvalResult, eval_seconds: float) -> dict[str, Any]:
    """The metrics line of an epoch; updates the best accuracy so far."""
    if test.accuracy > run.best_acc:
        run.best_acc, run.best_epoch = test.accuracy, epoch
    return {
        "epoch": epoch, "neuron": run.config.neuron, **train_stats,
        "finetune": run.config.finetune_as if _finetuned(run.config, epoch) else None,
        "test_loss": test.loss, "test_acc": test.accuracy, "test_samples": test.total,
        "best_acc": run.best_acc, "lr": run.optimizer.param_groups[0]["lr"], "eval_seconds": eval_seconds,
        "peak_memory_bytes": _peak_memory(run.ctx.device),
    }


def _peak_memory(device: torch.device) -> int:
    """CUDA: the peak of tensor memory allocated so far (torch.cuda.max_memory_allocated). CPU: the
    process's peak resident memory (ru_maxrss: everything, Python, data and the dataset included)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import sys

    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def _epoch_fidelity(run: _Run, test_loader) -> dict | None:
    """:func:`mpe_psn.models.fidelity.fidelity_summary` on the first test batch (fixed for the
    whole run, also on resume); None for a net without MPE-PSN or LIF layers."""
    if run.fidelity_batch is None:
        run.fidelity_batch = model_input(next(iter(test_loader))[0][:FIDELITY_SAMPLES], run.ctx.device)
    try:
        return fidelity_summary(run.net, run.fidelity_batch)
    except ValueError as error:
        run.log(f"fidelity not logged: {error}")
        return None


def _save_epoch(run: _Run, epoch: int, improved: bool) -> None:
    """last.pt (and best.pt when the test accuracy improved), the metrics line, the curves."""
    rng = _gather_rng(run.ctx)
    folder = run.folder
    if folder is None:
        return
    save_checkpoint(
        folder.path / "last.pt", config=run.config.to_dict(), model_args=run.model_args,
        model=run.net.state_dict(), optimizer=run.optimizer.state_dict(), scheduler=run.scheduler.state_dict(),
        scaler=run.scaler.state_dict() if run.scaler.is_enabled() else None,
        epoch=epoch + 1, best_acc=run.best_acc, best_epoch=run.best_epoch, history=run.history, rng=rng,
    )
    if improved:
        atomic_write_bytes(folder.path / "best.pt", (folder.path / "last.pt").read_bytes())
    folder.log_epoch(run.history[-1])
    if epoch == run.config.epochs - 1 or time.monotonic() - run.last_plot > PLOT_EVERY_S:
        folder.plot_curves()  # a PNG costs seconds on a CPU: redraw at most every PLOT_EVERY_S
        run.last_plot = time.monotonic()


def _report_epoch(run: _Run, epoch: int, row: dict[str, Any], epoch_bar) -> None:
    """The epoch bar, or one log line per epoch without bars."""
    if epoch_bar is not None:
        epoch_bar.update(1)
        epoch_bar.set_postfix(test_acc=f"{100 * row['test_acc']:.1f}%", best=f"{100 * run.best_acc:.1f}%")
    else:
        run.log(f"epoch {epoch + 1}/{run.config.epochs}: train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.1f}% | "
                f"test acc {100 * row['test_acc']:.2f}% | {row['epoch_seconds']:.1f} s, {row['samples_per_s']:.0f} samples/s")


def _gather_rng(ctx: DistContext) -> Any:
    """RNG state of this process; under DDP the list of every rank's state (rank 0 saves it)."""
    state = capture_rng()
    if not ctx.distributed:
        return state
    import torch.distributed as dist

    states: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(states, state)
    return states
