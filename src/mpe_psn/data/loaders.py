"""DataLoader factory: shuffling, workers, pinned memory and distributed sharding.

Batches are ``(x, y)`` with x float32 [B, T, C, H, W] and y int64 [B].

Under ``torch.distributed`` (``torchrun``):
* training (``shuffle=True``): a :class:`torch.utils.data.DistributedSampler`; the caller
  calls ``loader.sampler.set_epoch(epoch)`` every epoch;
* evaluation (``shuffle=False``): a :class:`ShardSampler` that gives rank ``r`` of ``w`` the
  indices ``r, r + w, r + 2w, ...`` with no padding and no duplicates, so that summing the
  per-rank correct counts and sample counts gives the exact global accuracy.
"""

from __future__ import annotations

import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

__all__ = ["build_loader", "ShardSampler", "resolve_distributed"]


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + num_replicas, ...`` of a dataset of ``length`` items (no padding)."""

    def __init__(self, length: int, rank: int, num_replicas: int) -> None:
        if num_replicas < 1 or not (0 <= rank < num_replicas):
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        self.length, self.rank, self.num_replicas = int(length), int(rank), int(num_replicas)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.num_replicas))

    def set_epoch(self, epoch: int) -> None:  # same order every epoch; kept for a uniform API
        pass


def resolve_distributed(distributed: "bool | tuple[int, int] | None") -> tuple[int, int] | None:
    """(rank, world_size) to shard for, or None. ``None`` = auto (torch.distributed initialised);
    ``True`` requires it to be initialised; ``(rank, world)`` is taken as given (tests)."""
    if isinstance(distributed, tuple):
        rank, world = distributed
        return int(rank), int(world)
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed is None:
        distributed = initialised
    if not distributed:
        return None
    if not initialised:
        raise RuntimeError("distributed=True but torch.distributed is not initialised; start with torchrun")
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    device: "str | torch.device" = "cpu",
    drop_last: bool = False,
    seed: int = 0,
    distributed: "bool | tuple[int, int] | None" = None,
) -> DataLoader:
    """A DataLoader over ``dataset`` (see the module docstring for the distributed rules)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    shard = resolve_distributed(distributed)
    sampler = None
    generator = None
    if shard is not None:
        rank, world = shard
        if shuffle:
            sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=drop_last)
        else:
            sampler = ShardSampler(len(dataset), rank, world)
    elif shuffle:
        generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=torch.device(device).type == "cuda",
        drop_last=drop_last,
        generator=generator,
        worker_init_fn=_seed_worker if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
    )
