"""The training loop: TET + lambda_mem * L_mem, SGD/Adam, cosine schedule, AMP, compile, DDP.

One call of :func:`train` runs a whole configuration: it resolves the dataset defaults, builds
data, network and optimiser (every error surfaces before the run folder exists), then for each
epoch trains, evaluates the whole test set once, logs a metrics line, and writes ``last.pt`` (and
``best.pt``) atomically. ``resume`` continues from a checkpoint with the same results as an
uninterrupted run: data order depends only on (seed, epoch), and all RNG states are restored.
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
from mpe_psn.training.evaluate import evaluate
from mpe_psn.training.mixup import mixup_batch
from mpe_psn.training.run_folder import RunFolder, default_run_name
from mpe_psn.utils.atomic import atomic_write_bytes

__all__ = ["DEFAULT_MODELS", "TrainingError", "TrainResult", "resolve_for_dataset", "train", "amp_dtype"]

#: The network used for each dataset when the config leaves ``model`` empty.
DEFAULT_MODELS = {
    "synthetic": "small",
    "dvs-gesture": "dvsgesture-net",
    "cifar10-dvs": "vggsnn",
    "n-caltech101": "vggsnn",
    "cifar10": "resnet19",
    "cifar100": "resnet19",
}


#: Seconds between redraws of curves.png during training (it is always drawn after the last epoch).
PLOT_EVERY_S = 120.0


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


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``--amp``: bf16 on the CPU; on CUDA bf16 where supported, else fp16."""
    if mode == "off":
        return None
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16":
        return torch.float16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def resolve_for_dataset(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any], Any]:
    """Fill the dataset defaults (T, input size, model); returns (config, build_model args, info)."""
    from mpe_psn.data import dataset_info

    try:
        info = dataset_info(config.dataset)
    except (KeyError, ValueError) as error:
        raise ConfigError(f"config key 'dataset': {error}") from error
    model = config.model or DEFAULT_MODELS.get(config.dataset, "small")
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
    return config, model_args, info


def _check_resume_fits(config: TrainConfig, model_args: dict[str, Any], content: dict[str, Any], source: str) -> None:
    saved = content["config"]
    for key in MODEL_KEYS:
        if saved.get(key) != getattr(config, key):
            raise CheckpointError(
                f"{source} was trained with {key} = {saved.get(key)!r} but this run asks for {key} = {getattr(config, key)!r}; "
                f"drop that option to continue the checkpoint, or start a new run without --resume"
            )
    if content["model_args"] != model_args:
        diff = {k: (content["model_args"].get(k), v) for k, v in model_args.items() if content["model_args"].get(k) != v}
        raise CheckpointError(f"{source} holds a different network than this config builds (checkpoint vs now: {diff})")


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)  # DistributedDataParallel
    return getattr(model, "_orig_mod", model)  # torch.compile


def _make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


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


FIDELITY_SAMPLES = 64


def _epoch_fidelity(net, x: torch.Tensor, log: Callable[[str], None]) -> dict | None:
    """``mpe_psn.analysis.fidelity.fidelity_summary`` of ``net`` on ``x`` (None for a net without
    MPE-PSN or LIF layers, which has no membrane potential to compare)."""
    from mpe_psn.analysis.fidelity import fidelity_summary  # analysis is optional here: import on use

    try:
        return fidelity_summary(net, x)
    except ValueError as error:
        log(f"fidelity not logged: {error}")
        return None


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
    from mpe_psn.data import build_dataset, build_loader

    ctx = setup_distributed(config.device)
    log = log if ctx.is_main else (lambda message: None)
    config, model_args, info = resolve_for_dataset(config)
    if config.batch_size % ctx.world_size:
        raise ConfigError(
            f"config key 'batch_size': the global batch {config.batch_size} must divide evenly over {ctx.world_size} processes"
        )
    local_batch = config.batch_size // ctx.world_size

    content = None
    if resume is not None:
        ckpt = checkpoint_path(resume, prefer="last.pt")
        content = load_checkpoint(ckpt, map_location="cpu")
        _check_resume_fits(config, model_args, content, str(ckpt))
        run_path: Path | None = ckpt.parent
        if content["epoch"] >= config.epochs:
            raise ConfigError(
                f"{ckpt} already finished {content['epoch']} of {config.epochs} epochs; raise --epochs to train further"
            )
    else:
        run_path = Path(config.out) / (config.name or default_run_name(config.dataset, config.model, config.neuron))
        if run_path.exists() and any(run_path.iterdir()):
            raise FileExistsError(
                f"run folder {run_path} already exists and is not empty; choose another --name, or continue it with --resume {run_path}"
            )

    # Data (rank 0 first, so that a dataset cache is generated once).
    data_options = dict(root=config.data_dir, T=config.T, size=config.input_size, cache_dir=config.cache_dir,
                        progress=progress and ctx.is_main)  # the bar of a first-time dataset preparation
    data_options.update(config.dataset_options)
    if not ctx.is_main:
        barrier()
    try:
        train_set = build_dataset(config.dataset, "train", augment=config.augment, **data_options)
        test_set = build_dataset(config.dataset, "test", augment=False, **data_options)
    finally:
        if ctx.is_main:
            barrier()

    # Network, optimiser, schedule, scaler.
    _seed_everything(config.seed)
    net = build_from_args(model_args).to(ctx.device)
    optimizer = _make_optimizer(config, net.parameters())
    scheduler = _make_scheduler(config, optimizer)
    dtype = amp_dtype(config.amp, ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=dtype == torch.float16)
    start_epoch, best_acc, best_epoch, history = 0, -1.0, -1, []
    if content is not None:
        load_state(net, content["model"], str(resume), f"{config.model} with neuron {config.neuron}")
        optimizer.load_state_dict(content["optimizer"])
        scheduler.load_state_dict(content["scheduler"])
        if content.get("scaler"):
            scaler.load_state_dict(content["scaler"])
        start_epoch = int(content["epoch"])
        best_acc, best_epoch = float(content["best_acc"]), int(content["best_epoch"])
        history = list(content.get("history", []))[:start_epoch]
        if hasattr(scheduler, "T_max"):
            scheduler.T_max = config.epochs  # the same unless --epochs was raised on resume
        rng = content["rng"]
        if isinstance(rng, list) != ctx.distributed or (isinstance(rng, list) and len(rng) != ctx.world_size):
            saved = len(rng) if isinstance(rng, list) else 1
            raise CheckpointError(f"{resume} was written by {saved} process(es); resume it with the same number (now {ctx.world_size})")
        restore_rng(rng[ctx.rank] if isinstance(rng, list) else rng)
    elif ctx.rank:
        _seed_everything(config.seed + 7919 * ctx.rank)  # own Bernoulli/dropout noise per process
    model: nn.Module = net
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
    if config.compile:
        # static shapes: a smaller last batch costs one more compile, and symbolic H and W hit an open
        # inductor bug with convolutions (pytorch/pytorch#185510)
        model = torch.compile(model, dynamic=False)

    folder = None
    if ctx.is_main:
        folder = RunFolder(run_path, resume=content is not None)
        folder.metrics = history
        folder.write_config(config.to_dict())
    log(_start_line(config, ctx, len(train_set), len(test_set), run_path, start_epoch))
    bars = _Progress(progress and ctx.is_main)
    epoch_bar = bars.bar(total=config.epochs, initial=start_epoch, desc="epochs", unit="ep")
    final_acc = float(history[-1]["test_acc"]) if history else float("nan")
    last_plot = time.monotonic()
    fidelity_batch: torch.Tensor | None = None
    try:
        for epoch in range(start_epoch, config.epochs):
            train_stats = _train_epoch(model, config, ctx, train_set, build_loader, local_batch, epoch, dtype, optimizer,
                                       scaler, info.num_classes, bars)
            scheduler.step()
            if ctx.distributed:
                broadcast_buffers(net)  # evaluate (and save) rank 0's batch-norm statistics everywhere
            t0 = time.perf_counter()
            test_loader = build_loader(test_set, batch_size=local_batch, shuffle=False, num_workers=config.num_workers,
                                       device=str(ctx.device), seed=config.seed)
            test = evaluate(net, test_loader, info.num_classes, ctx.device, dtype)
            eval_seconds = time.perf_counter() - t0
            final_acc = test.accuracy
            improved = test.accuracy > best_acc
            if improved:
                best_acc, best_epoch = test.accuracy, epoch
            row = {
                "epoch": epoch, "neuron": config.neuron, **train_stats,
                "test_loss": test.loss, "test_acc": test.accuracy, "test_samples": test.total,
                "best_acc": best_acc, "lr": optimizer.param_groups[0]["lr"], "eval_seconds": eval_seconds,
            }
            if config.log_fidelity and ctx.is_main:
                if fidelity_batch is None:  # the first test batch, fixed for the whole run (and on resume)
                    fidelity_batch = next(iter(test_loader))[0][:FIDELITY_SAMPLES].to(ctx.device).transpose(0, 1)
                row["fidelity"] = _epoch_fidelity(net, fidelity_batch, log)
            history.append(row)
            rng = _gather_rng(ctx)
            if folder is not None:
                save_checkpoint(
                    folder.path / "last.pt", config=config.to_dict(), model_args=model_args,
                    model=net.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                    scaler=scaler.state_dict() if scaler.is_enabled() else None,
                    epoch=epoch + 1, best_acc=best_acc, best_epoch=best_epoch, history=history, rng=rng,
                )
                if improved:
                    atomic_write_bytes(folder.path / "best.pt", (folder.path / "last.pt").read_bytes())
                folder.log_epoch(row)
                if epoch == config.epochs - 1 or time.monotonic() - last_plot > PLOT_EVERY_S:
                    folder.plot_curves()  # a PNG costs seconds on a CPU: redraw at most every PLOT_EVERY_S
                    last_plot = time.monotonic()
            if epoch_bar is not None:
                epoch_bar.update(1)
                epoch_bar.set_postfix(test_acc=f"{100 * test.accuracy:.1f}%", best=f"{100 * best_acc:.1f}%")
            else:
                log(f"epoch {epoch + 1}/{config.epochs}: train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.1f}% | "
                    f"test acc {100 * test.accuracy:.2f}% | {row['epoch_seconds']:.1f} s, {row['samples_per_s']:.0f} samples/s")
            barrier()
    except BaseException as error:
        if folder is not None:
            folder.discard()  # removes the folder only if this run created it and no checkpoint exists
        if isinstance(error, torch.cuda.OutOfMemoryError):
            raise TrainingError(
                f"the GPU ran out of memory training {config.model} with {config.neuron} at T = {config.T}, "
                f"batch {local_batch} per process; lower --batch-size or -T, or use --amp"
            ) from error
        raise
    finally:
        if epoch_bar is not None:
            epoch_bar.close()
        if folder is not None:
            folder.close()
    return TrainResult(
        run_dir=folder.path if folder is not None else run_path,
        final_acc=final_acc, best_acc=best_acc, best_epoch=best_epoch, epochs_done=config.epochs,
        metrics=history, model=net if keep_model else None, model_args=model_args, config=config.to_dict(),
    )


def _gather_rng(ctx: DistContext) -> Any:
    """RNG state of this process; under DDP the list of every rank's state (rank 0 saves it)."""
    state = capture_rng()
    if not ctx.distributed:
        return state
    import torch.distributed as dist

    states: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(states, state)
    return states


def _train_epoch(model, config: TrainConfig, ctx: DistContext, train_set, build_loader, local_batch: int, epoch: int,
                 dtype, optimizer, scaler, num_classes: int, bars: _Progress) -> dict[str, float]:
    """One pass over the training set; returns the epoch's averaged statistics (all processes)."""
    loader = build_loader(train_set, batch_size=local_batch, shuffle=True, num_workers=config.num_workers,
                          device=str(ctx.device), seed=config.seed + epoch)
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    lambda_mem = config.lambda_mem if config.mem_loss_off_epoch is None or epoch < config.mem_loss_off_epoch else 0.0
    model.train()
    device = ctx.device
    sums = torch.zeros(5, dtype=torch.float64, device=device)  # total, tet, mem (x samples), correct, samples
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype is not None else contextlib.nullcontext
    bar = bars.bar(total=len(loader), desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    every = max(1, len(loader) // 50)
    for step, (x, y) in enumerate(loader):
        x = x.to(device, non_blocking=True).transpose(0, 1)  # [T, B, C, H, W]
        y = y.to(device, non_blocking=True)
        target: torch.Tensor = y
        if config.mixup > 0:
            x, target = mixup_batch(x, y, num_classes, config.mixup, config.mixup_prob)
        with autocast():
            outputs = model(x)
        losses = total_loss(outputs, target, model, lambda_mem, config.tet_lamb, config.tet_phi)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses.total).backward()
        scaler.step(optimizer)
        scaler.update()
        n = y.shape[0]
        with torch.no_grad():
            correct = (outputs.float().mean(0).argmax(-1) == y).sum()
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
