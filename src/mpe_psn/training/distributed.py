"""Process-group plumbing for ``torchrun``: NCCL on GPUs, Gloo on CPUs, rank-0 helpers.

Under ``torchrun --nproc-per-node N`` the environment carries ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; without them training runs as one process and every helper is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mpe_psn.training.config import ConfigError
from mpe_psn.utils.device import DeviceError
from mpe_psn.utils.device import resolve_device as _resolve_device

__all__ = ["DistContext", "setup_distributed", "teardown_distributed", "all_reduce_sum", "barrier", "broadcast_buffers", "resolve_device"]


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """:func:`mpe_psn.utils.device.resolve_device` with its error as a :class:`ConfigError` on key ``device``."""
    try:
        return _resolve_device(name, local_rank)
    except DeviceError as error:
        raise ConfigError(f"config key 'device': {error}") from error


def setup_distributed(device: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cpu" and world_size > 1:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    return DistContext(rank, world_size, local_rank, dev)


def teardown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes (in place) when distributed; returns it."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (batch-norm running statistics) to every process."""
    if dist.is_available() and dist.is_initialized():
        for buffer in module.buffers():
            dist.broadcast(buffer, src)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
