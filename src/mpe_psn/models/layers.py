"""Building blocks shared by the networks: time-merged stateless layers and time-shared dropout.

Spiking networks here run time-major tensors [T, B, ...]. Stateless layers (conv, BN, pooling,
linear) see every time step as an independent sample, so they run once on [T*B, ...];
neurons see the whole sequence [T, B, ...].
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TimeMerged", "TimeSharedDropout", "conv_bn"]


class TimeMerged(nn.Sequential):
    """Run stateless layers on [T, B, ...] by merging time into batch: [T*B, ...] and back.

    With ``step_mode = "s"`` (see ``mpe_psn.set_step_mode``) the input is one step [B, ...].
    """

    step_mode = "m"

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.step_mode == "s":
            return super().forward(x)
        T, B = x.shape[0], x.shape[1]
        y = super().forward(x.flatten(0, 1))
        return y.unflatten(0, (T, B))


class TimeSharedDropout(nn.Module):
    """Dropout on [T, B, ...] with one mask per sample shared by all time steps.

    A fresh mask at every step would cut each neuron's input at random moments, which a
    spiking neuron integrates as noise; sharing the mask drops whole units as in a plain net.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x[:1]).bernoulli_(1.0 - self.p) / (1.0 - self.p)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def conv_bn(in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 3) -> list[nn.Module]:
    """``Conv(k x k, padding k // 2, no bias) - BatchNorm`` as a list of layers."""
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
