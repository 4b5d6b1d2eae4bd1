"""The training loop: TET + lambda_mem * L_mem, SGD/Adam, cosine schedule, AMP, compile, DDP.

One call of :func:`train` builds the run's frozen :class:`~mpe_psn.training.setup.Setup` and its
:class:`~mpe_psn.training.setup.RunState` (:func:`~mpe_psn.training.setup.build_setup`: resolve,
resume, data, state, wrap, folder), then runs every epoch as a sequence of named steps::

    _start_finetune   the last ``finetune_epochs`` epochs train as the exact LIF
    _train_epoch      one pass over the training set; for each batch:
                        _forward_loss   mixup, the padding mask's lengths, forward under AMP, the loss
                        _backward_step  backward and optimiser step through the GradScaler
                        _add_batch      the batch's loss and accuracy added to the epoch's sums
                        _check_finite   a NaN or infinite loss stops the run (every 50th of the epoch)
                      then _epoch_stats: the sums added over the processes, averaged
    _test_epoch       schedule step, rank 0's batch-norm statistics, the whole test set
    _epoch_row        the metrics line (and the best accuracy so far)
    _save_epoch       last.pt and best.pt (atomic writes), metrics.jsonl, curves.png
    _report_epoch     the epoch bar, or one log line

Every error surfaces before the run folder exists. ``resume`` continues from a checkpoint with
the same results as an uninterrupted run: data order depends only on (seed, epoch), and all
RNG states are restored.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from mpe_psn.data import build_loader
from mpe_psn.losses import TotalLoss, total_loss
from mpe_psn.models.batches import input_lengths, model_input, predict
from mpe_psn.models.fidelity import fidelity_summary
from mpe_psn.ops import resolve_backend
from mpe_psn.training.checkpoint import capture_rng, save_checkpoint
from mpe_psn.training.config import TrainConfig
from mpe_psn.training.distributed import DistContext, all_reduce_sum, barrier, broadcast_buffers
from mpe_psn.training.evaluate import EvalResult, evaluate
from mpe_psn.training.finetune import is_finetune_epoch, set_finetune
from mpe_psn.training.mixup import mixup_batch
from mpe_psn.training.setup import DEFAULT_MODELS, RunState, Setup, build_setup, resolve_for_dataset
from mpe_psn.utils.atomic import atomic_write_bytes

__all__ = ["DEFAULT_MODELS", "TrainingError", "TrainResult", "resolve_for_dataset", "train"]


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


def _start_line(setup: Setup) -> str:
    """One line saying what is about to be trained, where, and with which MPE-PSN kernel."""
    config, ctx = setup.config, setup.ctx
    neuron = config.neuron
    if neuron == "mpe":
        neuron = f"mpe (MPE-PSN, {resolve_backend(config.backend, ctx.device)} kernel)"
    where = f"{ctx.device}" + (f" x {ctx.world_size} processes" if ctx.distributed else "")
    what = "resuming" if setup.start_epoch else "training"
    return (f"{what} {config.model} with neuron {neuron} on {config.dataset} (T = {config.T}, "
            f"{len(setup.train_set)} train / {len(setup.test_set)} test samples), "
            f"epochs {setup.start_epoch + 1}-{config.epochs}, "
            f"batch {config.batch_size}, on {where}; run folder {setup.run_path}")


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
    setup, state = build_setup(config, resume, progress, log)
    setup.log(_start_line(setup))
    epoch_bar = setup.bars.bar(total=setup.config.epochs, initial=setup.start_epoch, desc="epochs", unit="ep")
    state.last_plot = time.monotonic()
    try:
        for epoch in range(setup.start_epoch, setup.config.epochs):
            _run_epoch(setup, state, epoch, epoch_bar)
    except BaseException as error:
        if setup.folder is not None:
            setup.folder.discard()  # removes the folder only if this run created it and no checkpoint exists
        if isinstance(error, torch.cuda.OutOfMemoryError):
            raise TrainingError(
                f"the GPU ran out of memory training {setup.config.model} with {setup.config.neuron} at T = {setup.config.T}, "
                f"batch {setup.local_batch} per process; lower --batch-size or -T, or use --amp"
            ) from error
        raise
    finally:
        if epoch_bar is not None:
            epoch_bar.close()
        if setup.folder is not None:
            setup.folder.close()
    return TrainResult(
        run_dir=setup.folder.path if setup.folder is not None else setup.run_path,
        final_acc=float(state.history[-1]["test_acc"]) if state.history else float("nan"),
        best_acc=state.best_acc, best_epoch=state.best_epoch, epochs_done=setup.config.epochs, metrics=state.history,
        model=setup.net if keep_model else None, model_args=setup.model_args, config=setup.config.to_dict(),
    )


# -- the steps of one epoch ----------------------------------------------------------------------


def _run_epoch(setup: Setup, state: RunState, epoch: int, epoch_bar) -> None:
    """One epoch: the fine-tune switch, training, testing, the metrics row, saving, reporting."""
    _start_finetune(setup, state, epoch)
    train_stats = _train_epoch(setup, epoch)
    test, test_loader, eval_seconds = _test_epoch(setup)
    row = _epoch_row(setup, state, epoch, train_stats, test, eval_seconds)
    if setup.config.log_fidelity and setup.ctx.is_main:
        row["fidelity"] = _epoch_fidelity(setup, state, test_loader)
    state.history.append(row)
    _save_epoch(setup, state, epoch, improved=state.best_epoch == epoch)
    _report_epoch(setup, state, epoch, row, epoch_bar)
    barrier()


def _start_finetune(setup: Setup, state: RunState, epoch: int) -> None:
    """The last ``finetune_epochs`` epochs train (and evaluate) as the exact LIF (training/finetune.py);
    best.pt is then chosen among them only."""
    config = setup.config
    active = _finetuned(config, epoch)
    set_finetune(setup.net, config.T, active, config.refine_steps)
    best_row = next((r for r in state.history if r.get("epoch") == state.best_epoch), {})
    if active and not best_row.get("finetune"):  # the first fine-tuned epoch (also of a run resumed into it)
        state.best_acc, state.best_epoch = -1.0, -1
        setup.log(f"epochs {epoch + 1}-{config.epochs}: fine-tuning as the exact {config.finetune_as.upper()} "
                  f"(refine_steps = {config.T - 1})")


def _finetuned(config: TrainConfig, epoch: int) -> bool:
    """Whether ``epoch`` trains as ``finetune_as`` (one of the last ``finetune_epochs``)."""
    return is_finetune_epoch(config.finetune_as, config.finetune_epochs, config.epochs, epoch)


def _train_epoch(setup: Setup, epoch: int) -> dict[str, float]:
    """One pass over the training set; returns the epoch's averaged statistics (all processes)."""
    loader = _train_loader(setup, epoch)
    lambda_mem = _lambda_mem(setup.config, epoch)
    setup.model.train()
    device = setup.ctx.device
    sums = torch.zeros(5, dtype=torch.float64, device=device)  # total, tet, mem (x samples), correct, samples
    bar = setup.bars.bar(total=len(loader), desc=f"epoch {epoch + 1}/{setup.config.epochs}", unit="batch", leave=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    every = max(1, len(loader) // 50)
    for step, (x, y) in enumerate(loader):
        x, y = model_input(x, device, non_blocking=True), y.to(device, non_blocking=True)
        losses, outputs, lengths = _forward_loss(setup, x, y, lambda_mem)
        _backward_step(setup, losses.total)
        _add_batch(sums, losses, outputs, y, lengths)
        if step % every == 0 or step == len(loader) - 1:
            _check_finite(losses.total, setup.config, epoch, step)
            _show_batch(bar, sums, setup.ctx.world_size, start)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return _epoch_stats(sums, lambda_mem, time.perf_counter() - start, time.process_time() - cpu_start)


def _train_loader(setup: Setup, epoch: int):
    """The training set's loader of ``epoch``: its order depends only on (seed, epoch)."""
    loader = build_loader(setup.train_set, batch_size=setup.local_batch, shuffle=True, num_workers=setup.config.num_workers,
                          device=str(setup.ctx.device), seed=setup.config.seed + epoch)
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    return loader


def _lambda_mem(config: TrainConfig, epoch: int) -> float:
    """The weight of L_mem at ``epoch``: ``lambda_mem``, 0 from ``mem_loss_off_epoch`` on."""
    return config.lambda_mem if config.mem_loss_off_epoch is None or epoch < config.mem_loss_off_epoch else 0.0


def _forward_loss(setup: Setup, x: torch.Tensor, y: torch.Tensor,
                  lambda_mem: float) -> tuple[TotalLoss, torch.Tensor, torch.Tensor | None]:
    """One batch's (losses, outputs, true lengths): mixup, the padding mask, the forward under AMP, the loss."""
    config = setup.config
    target: torch.Tensor = y
    if config.mixup > 0:
        x, target = mixup_batch(x, y, setup.num_classes, config.mixup, config.mixup_prob)
    lengths = input_lengths(x) if config.mask_padding else None
    with _autocast(setup.dtype, setup.ctx.device):
        outputs = setup.model(x)
    losses = total_loss(outputs, target, setup.model, lambda_mem, config.tet_lamb, config.tet_phi, lengths)
    return losses, outputs, lengths


def _autocast(dtype: torch.dtype | None, device: torch.device):
    """AMP's autocast to ``dtype`` on ``device``; no AMP (None): a context that does nothing."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _backward_step(setup: Setup, loss: torch.Tensor) -> None:
    """Backward of the (scaled) loss and one optimiser step through the GradScaler (fp16 AMP only scales)."""
    setup.optimizer.zero_grad(set_to_none=True)
    setup.scaler.scale(loss).backward()
    setup.scaler.step(setup.optimizer)
    setup.scaler.update()


def _add_batch(sums: torch.Tensor, losses: TotalLoss, outputs: torch.Tensor, y: torch.Tensor,
               lengths: torch.Tensor | None) -> None:
    """Add a batch to the epoch's ``sums``: total, TET and mem loss (x samples), correct predictions, samples."""
    n = y.shape[0]
    with torch.no_grad():
        correct = (predict(outputs, lengths) == y).sum()
        sums += torch.stack([losses.total.detach().double() * n, losses.tet.detach().double() * n,
                             losses.mem.detach().double() * n, correct.double(),
                             torch.tensor(float(n), device=sums.device, dtype=torch.float64)])


def _check_finite(loss: torch.Tensor, config: TrainConfig, epoch: int, step: int) -> None:
    """Raise :class:`TrainingError` when the batch's loss is NaN or infinite."""
    loss_value = float(loss.detach())
    if not math.isfinite(loss_value):
        raise TrainingError(
            f"the loss became {loss_value} at epoch {epoch + 1}, batch {step + 1}; "
            f"lower --lr (now {config.lr}) or turn off --amp fp16"
        )


def _show_batch(bar, sums: torch.Tensor, world_size: int, start: float) -> None:
    """The running loss, accuracy and throughput on the epoch's bar (when there is one)."""
    if bar is None:
        return
    seen = float(sums[4])
    bar.set_postfix(loss=f"{float(sums[0]) / seen:.3f}", acc=f"{100 * float(sums[3]) / seen:.1f}%",
                    samples_s=f"{seen * world_size / (time.perf_counter() - start):.0f}")


def _epoch_stats(sums: torch.Tensor, lambda_mem: float, seconds: float, cpu_seconds: float) -> dict[str, float]:
    """The epoch's sums added over all processes, as averages per sample, with the epoch's times."""
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


def _test_epoch(setup: Setup) -> tuple[EvalResult, Any, float]:
    """Step the schedule, share rank 0's batch-norm statistics, evaluate the whole test set."""
    setup.scheduler.step()
    if setup.ctx.distributed:
        broadcast_buffers(setup.net)  # evaluate (and save) rank 0's batch-norm statistics everywhere
    t0 = time.perf_counter()
    test_loader = build_loader(setup.test_set, batch_size=setup.local_batch, shuffle=False, num_workers=setup.config.num_workers,
                               device=str(setup.ctx.device), seed=setup.config.seed)
    test = evaluate(setup.net, test_loader, setup.num_classes, setup.ctx.device, setup.dtype, seed=EVAL_SEED,
                    mask_padding=setup.config.mask_padding)
    return test, test_loader, time.perf_counter() - t0


def _epoch_row(setup: Setup, state: RunState, epoch: int, train_stats: dict[str, float], test: EvalResult,
               eval_seconds: float) -> dict[str, Any]:
    """The metrics line of an epoch; updates the best accuracy so far."""
    if test.accuracy > state.best_acc:
        state.best_acc, state.best_epoch = test.accuracy, epoch
    return {
        "epoch": epoch, "neuron": setup.config.neuron, **train_stats,
        "finetune": setup.config.finetune_as if _finetuned(setup.config, epoch) else None,
        "test_loss": test.loss, "test_acc": test.accuracy, "test_samples": test.total,
        "best_acc": state.best_acc, "lr": setup.optimizer.param_groups[0]["lr"], "eval_seconds": eval_seconds,
        "peak_memory_bytes": _peak_memory(setup.ctx.device),
    }


def _peak_memory(device: torch.device) -> int:
    """CUDA: the peak of tensor memory allocated so far (torch.cuda.max_memory_allocated). CPU: the
    process's peak resident memory (ru_maxrss: everything, Python, data and the dataset included)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource  # Unix only: the except below is Windows
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def _epoch_fidelity(setup: Setup, state: RunState, test_loader) -> dict | None:
    """:func:`mpe_psn.models.fidelity.fidelity_summary` on the first test batch (fixed for the
    whole run, also on resume); None for a net without MPE-PSN or LIF layers. It draws on a fork
    of the random generators (a loader's iterator draws a seed, the Bernoulli estimate samples),
    so logging the fidelity does not change what is trained."""
    cuda = [setup.ctx.device] if setup.ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        if state.fidelity_batch is None:
            state.fidelity_batch = model_input(next(iter(test_loader))[0][:FIDELITY_SAMPLES], setup.ctx.device)
        try:
            return fidelity_summary(setup.net, state.fidelity_batch)
        except ValueError as error:
            setup.log(f"fidelity not logged: {error}")
            return None


def _save_epoch(setup: Setup, state: RunState, epoch: int, improved: bool) -> None:
    """last.pt (and best.pt when the test accuracy improved), the metrics line, the curves."""
    rng = _gather_rng(setup.ctx)
    folder = setup.folder
    if folder is None:
        return
    save_checkpoint(
        folder.path / "last.pt", config=setup.config.to_dict(), model_args=setup.model_args,
        model=setup.net.state_dict(), optimizer=setup.optimizer.state_dict(), scheduler=setup.scheduler.state_dict(),
        scaler=setup.scaler.state_dict() if setup.scaler.is_enabled() else None,
        epoch=epoch + 1, best_acc=state.best_acc, best_epoch=state.best_epoch, history=state.history, rng=rng,
    )
    if improved:
        atomic_write_bytes(folder.path / "best.pt", (folder.path / "last.pt").read_bytes())
    folder.log_epoch(state.history[-1])
    if epoch == setup.config.epochs - 1 or time.monotonic() - state.last_plot > PLOT_EVERY_S:
        folder.plot_curves()  # a PNG costs seconds on a CPU: redraw at most every PLOT_EVERY_S
        state.last_plot = time.monotonic()


def _report_epoch(setup: Setup, state: RunState, epoch: int, row: dict[str, Any], epoch_bar) -> None:
    """The epoch bar, or one log line per epoch without bars."""
    if epoch_bar is not None:
        epoch_bar.update(1)
        epoch_bar.set_postfix(test_acc=f"{100 * row['test_acc']:.1f}%", best=f"{100 * state.best_acc:.1f}%")
    else:
        setup.log(f"epoch {epoch + 1}/{setup.config.epochs}: train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.1f}% | "
                  f"test acc {100 * row['test_acc']:.2f}% | {row['epoch_seconds']:.1f} s, {row['samples_per_s']:.0f} samples/s")


def _gather_rng(ctx: DistContext) -> Any:
    """RNG state of this process; under DDP the list of every rank's state (rank 0 saves it)."""
    state = capture_rng()
    if not ctx.distributed:
        return state
    states: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(states, state)
    return states
