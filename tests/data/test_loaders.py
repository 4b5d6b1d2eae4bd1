"""Loaders: batch layout, seeded shuffling, and distributed sharding simulated per rank."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DistributedSampler, TensorDataset

from mpe_psn.data import build_loader
from mpe_psn.data.augment import EventAugment
from mpe_psn.data.loaders import ShardSampler


class Frames(torch.utils.data.Dataset):
    def __init__(self, n=23, T=3):
        self.n, self.T = n, T

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full((self.T, 2, 4, 4), float(i)), i % 5


def test_batches():
    loader = build_loader(Frames(), batch_size=8, shuffle=False)
    x, y = next(iter(loader))
    assert x.shape == (8, 3, 2, 4, 4) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert sum(len(b[1]) for b in loader) == 23
    assert not loader.pin_memory
    assert build_loader(Frames(), batch_size=8, shuffle=False, device="cuda:0").pin_memory  # not iterated here
    assert build_loader(Frames(), batch_size=8, shuffle=False, drop_last=True).__len__() == 2


def test_seeded_shuffle():
    order = lambda seed: torch.cat([x[:, 0, 0, 0, 0] for x, _ in build_loader(Frames(), batch_size=5, shuffle=True, seed=seed)])
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))
    assert sorted(order(1).tolist()) == list(range(23))


@pytest.mark.parametrize("n", [1, 7, 23, 24])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_eval_sharding_counts_every_sample_once(n, world):
    seen = []
    correct_total = 0
    for rank in range(world):
        loader = build_loader(Frames(n), batch_size=4, shuffle=False, distributed=(rank, world))
        assert isinstance(loader.sampler, ShardSampler)
        for x, y in loader:
            ids = x[:, 0, 0, 0, 0].long()
            seen += ids.tolist()
            correct_total += int((ids % 2 == 0).sum())  # a fake "correct" rule
    assert sorted(seen) == list(range(n))  # no padding, no duplicates
    assert correct_total == len([i for i in range(n) if i % 2 == 0])


def test_train_sharding_uses_distributed_sampler():
    loaders = [build_loader(Frames(), batch_size=4, shuffle=True, distributed=(r, 2), seed=3) for r in range(2)]
    assert all(isinstance(l.sampler, DistributedSampler) for l in loaders)
    epoch0 = [list(l.sampler) for l in loaders]
    assert len(epoch0[0]) == len(epoch0[1]) == 12  # 23 samples padded to 24 for training
    assert sorted(set(epoch0[0]) | set(epoch0[1])) == list(range(23))
    loaders[0].sampler.set_epoch(1)
    assert list(loaders[0].sampler) != epoch0[0]


def test_not_distributed_by_default_and_errors():
    loader = build_loader(Frames(), batch_size=4, shuffle=False)
    assert not isinstance(loader.sampler, (ShardSampler, DistributedSampler))
    with pytest.raises(RuntimeError, match="torch.distributed is not initialised"):
        build_loader(Frames(), batch_size=4, shuffle=True, distributed=True)
    with pytest.raises(ValueError, match="batch_size"):
        build_loader(Frames(), batch_size=0, shuffle=True)
    with pytest.raises(ValueError, match="rank"):
        ShardSampler(5, rank=2, num_replicas=2)


def test_workers_and_augment_same_for_all_frames():
    base = torch.zeros(4, 2, 8, 8)
    base[:, :, 2, 3] = torch.arange(1, 5).view(4, 1).float()  # one pixel, a different value per step
    augment = EventAugment(pad=2, hflip=True, flip_labels=[1, 0])
    torch.manual_seed(0)
    moved = set()
    for _ in range(30):
        out, label = augment(base, 0)
        positions = [tuple(torch.nonzero(out[t, 0]).flatten().tolist()) for t in range(4)]
        assert len(set(positions)) == 1 and out[:, 0].sum(dim=(1, 2)).tolist() in ([1, 2, 3, 4], [0, 0, 0, 0])
        flipped = label == 1
        if positions[0]:
            moved.add((positions[0], flipped))
    assert len(moved) > 5
    dataset = TensorDataset(torch.zeros(6, 2, 2, 4, 4), torch.arange(6))
    loader = build_loader(dataset, batch_size=3, shuffle=True, num_workers=1)
    assert sorted(torch.cat([y for _, y in loader]).tolist()) == list(range(6))
