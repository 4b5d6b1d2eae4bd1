"""Tiny hand-built spiking networks and data for the analysis tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mpe_psn.neurons import LIF, MPEPSN, PSN

T, C, H, W, CLASSES = 4, 2, 6, 6, 3


def make_neuron(kind: str, **options) -> nn.Module:
    if kind == "mpe":
        return MPEPSN(T=T, **options)
    if kind == "lif":
        return LIF(T=T, **options)
    return PSN(T)


class TinyNet(nn.Module):
    """conv3x3 - BN - neuron - maxpool2 - linear - neuron - linear: [T, B, C, H, W] -> [T, B, classes]."""

    def __init__(self, kind: str = "mpe", **options) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.n1 = make_neuron(kind, **options)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(4 * (H // 2) * (W // 2), 8)
        self.n2 = make_neuron(kind, **options)
        self.fc2 = nn.Linear(8, CLASSES)
        with torch.no_grad():  # strong enough weights that both layers fire at moderate rates
            self.conv.weight.uniform_(-0.3, 0.38)
            self.fc1.weight.uniform_(-0.15, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1)))
        y = self.n1(y.reshape(t, b, *y.shape[1:]))
        y = self.pool(y.flatten(0, 1)).flatten(1)
        y = self.n2(self.fc1(y).reshape(t, b, -1))
        return self.fc2(y)


def make_batches(n_batches: int = 3, batch: int = 5, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batch-major ``(x [B, T, C, H, W], y [B])`` pairs, like ``mpe_psn.data.build_loader`` yields."""
    g = torch.Generator().manual_seed(seed)
    return [
        (2.0 * torch.rand(batch, T, C, H, W, generator=g), torch.randint(0, CLASSES, (batch,), generator=g))
        for _ in range(n_batches)
    ]


@pytest.fixture
def batches():
    return make_batches()


@pytest.fixture(params=["mpe", "lif"])
def tiny(request) -> TinyNet:
    torch.manual_seed(0)
    return TinyNet(request.param).eval()


@pytest.fixture
def tiny_mpe() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet("mpe").eval()
