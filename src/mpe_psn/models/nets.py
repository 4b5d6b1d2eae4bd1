"""The paper's networks (docs/design.md, "Networks") and a small net for the built-in dataset.

Every network is built from a neuron factory ``neuron() -> nn.Module`` so that the neuron can
be swapped (MPE-PSN, exact LIF, PSN, SpikingJelly's LIF). Convolutions, batch norm and pooling
run on [T*B, ...] (:class:`TimeMerged`), neurons on [T, B, ...].
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from mpe_psn.models.base import SpikingNetwork
from mpe_psn.models.layers import TimeMerged, TimeSharedDropout, conv_bn

__all__ = ["DVSGestureNet", "VGGSNN", "ResNet19", "SmallNet", "MLP", "BasicBlock", "VotingPool"]

NeuronFactory = Callable[[], nn.Module]


def _pooled(size: int, times: int, what: str) -> int:
    for _ in range(times):
        size //= 2
    if size < 1:
        raise ValueError(f"input_size is too small for {what}: {times} halvings leave nothing")
    return size


class VotingPool(nn.Module):
    """Average groups of ``votes`` consecutive outputs: [..., classes * votes] -> [..., classes]."""

    def __init__(self, votes: int) -> None:
        super().__init__()
        self.votes = votes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.votes)).mean(-1)

    def extra_repr(self) -> str:
        return f"votes={self.votes}"


class DVSGestureNet(SpikingNetwork):
    """The paper's "7B-Net" for DVS-Gesture (input 2 x 64 x 64)::

        5 x [Conv3x3(256) - BN - neuron - MaxPool2], Flatten, Dropout 0.5, Linear(1024), neuron,
        Dropout 0.5, Linear(10 * classes), average of each 10 outputs (voting)

    Six neuron layers.
    """

    def __init__(self, neuron: NeuronFactory, T: int, num_classes: int, in_channels: int = 2,
                 input_size: int = 64, channels: int = 256, hidden: int = 1024, votes: int = 10) -> None:
        super().__init__(T, num_classes, in_channels, input_size)
        layers: list[nn.Module] = []
        c_in = in_channels
        for _ in range(5):
            layers += [TimeMerged(*conv_bn(c_in, channels)), neuron(), TimeMerged(nn.MaxPool2d(2))]
            c_in = channels
        side = _pooled(input_size, 5, "the DVS-Gesture net")
        layers += [
            TimeMerged(nn.Flatten()),
            TimeSharedDropout(0.5),
            TimeMerged(nn.Linear(channels * side * side, hidden)),
            neuron(),
            TimeSharedDropout(0.5),
            TimeMerged(nn.Linear(hidden, num_classes * votes)),
            VotingPool(votes),
        ]
        self.body = nn.Sequential(*layers)


class VGGSNN(SpikingNetwork):
    """VGGSNN for CIFAR10-DVS and N-Caltech101 (input 2 x 48 x 48)::

        64C3, 128C3, AP2, 256C3, 256C3, AP2, 512C3, 512C3, AP2, 512C3, 512C3, AP2,
        Dropout 0.25, Linear(classes)        (each C3 = Conv3x3 - BN - neuron)

    Eight neuron layers.
    """

    PLAN: tuple = (64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512, "A")

    def __init__(self, neuron: NeuronFactory, T: int, num_classes: int, in_channels: int = 2, input_size: int = 48) -> None:
        super().__init__(T, num_classes, in_channels, input_size)
        layers: list[nn.Module] = []
        c_in = in_channels
        for item in self.PLAN:
            if item == "A":
                layers.append(TimeMerged(nn.AvgPool2d(2)))
            else:
                layers += [TimeMerged(*conv_bn(c_in, item)), neuron()]
                c_in = item
        side = _pooled(input_size, 4, "VGGSNN")
        layers += [TimeMerged(nn.Flatten()), TimeSharedDropout(0.25), TimeMerged(nn.Linear(c_in * side * side, num_classes))]
        self.body = nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """``neuron(BN(conv(neuron(BN(conv(x))))) + shortcut(x))`` on [T, B, C, H, W]."""

    def __init__(self, neuron: NeuronFactory, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = TimeMerged(*conv_bn(in_channels, out_channels, stride))
        self.neuron1 = neuron()
        self.conv2 = TimeMerged(*conv_bn(out_channels, out_channels))
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = TimeMerged(*conv_bn(in_channels, out_channels, stride, kernel_size=1))
        else:
            self.shortcut = nn.Identity()
        self.neuron2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.neuron1(self.conv1(x)))
        return self.neuron2(out + self.shortcut(x))


class ResNet19(SpikingNetwork):
    """ResNet19 for CIFAR10/100 (input 3 x 32 x 32, direct encoding)::

        Conv3x3(64) - BN - neuron; BasicBlocks 3 x 128 (stride 1), 3 x 256 (stride 2),
        2 x 512 (stride 2), a neuron after each residual add; global average pool,
        Linear(256), neuron, Linear(classes)

    Eighteen neuron layers.
    """

    STAGES = ((128, 3, 1), (256, 3, 2), (512, 2, 2))

    def __init__(self, neuron: NeuronFactory, T: int, num_classes: int, in_channels: int = 3, input_size: int = 32) -> None:
        super().__init__(T, num_classes, in_channels, input_size)
        layers: list[nn.Module] = [TimeMerged(*conv_bn(in_channels, 64)), neuron()]
        c_in = 64
        for channels, blocks, stride in self.STAGES:
            for index in range(blocks):
                layers.append(BasicBlock(neuron, c_in, channels, stride if index == 0 else 1))
                c_in = channels
        _pooled(input_size, 2, "ResNet19")
        layers += [
            TimeMerged(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 256)),
            neuron(),
            TimeMerged(nn.Linear(256, num_classes)),
        ]
        self.body = nn.Sequential(*layers)


class SmallNet(SpikingNetwork):
    """A small convolutional SNN that trains on the built-in dataset on a CPU in minutes::

        Conv3x3(c1, stride 2) - BN - neuron,
        [Conv3x3(c2) - BN - neuron - MaxPool2], [Conv3x3(c3) - BN - neuron - MaxPool2],
        Flatten, Linear(hidden), neuron, Linear(classes)

    Four neuron layers. The strided first convolution keeps the largest (first) neuron layer
    a quarter of the input's size, which is what makes it cheap on a CPU.
    """

    def __init__(self, neuron: NeuronFactory, T: int, num_classes: int, in_channels: int = 2, input_size: int = 32,
                 channels: tuple[int, int, int] = (16, 32, 64), hidden: int = 128) -> None:
        super().__init__(T, num_classes, in_channels, input_size)
        c1, c2, c3 = channels
        layers: list[nn.Module] = [TimeMerged(*conv_bn(in_channels, c1, stride=2)), neuron()]
        for c_in, c_out in ((c1, c2), (c2, c3)):
            layers += [TimeMerged(*conv_bn(c_in, c_out)), neuron(), TimeMerged(nn.MaxPool2d(2))]
        side = _pooled((input_size + 1) // 2, 2, "the small net")
        layers += [
            TimeMerged(nn.Flatten(), nn.Linear(c3 * side * side, hidden)),
            neuron(),
            TimeMerged(nn.Linear(hidden, num_classes)),
        ]
        self.body = nn.Sequential(*layers)


class MLP(SpikingNetwork):
    """A feed-forward spiking MLP for temporal spike data [T, B, channels] (SHD, the built-in task)::

        depth x [Linear(hidden, no bias) - BN - neuron (- Dropout)], Linear(classes)

    ``depth`` neuron layers. Feed-forward on purpose: a recurrent connection (the input of
    step t depending on the spikes of step t - 1) would make every neuron sequential again,
    and no parallel neuron could compute its T steps at once. ``norm=False`` drops the batch
    norm (``Linear`` with bias). ``input_size`` has no meaning here and must stay 1.
    """

    step_dims = 1

    def __init__(self, neuron: NeuronFactory, T: int, num_classes: int, in_channels: int = 700, input_size: int = 1,
                 hidden: int = 256, depth: int = 2, norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__(T, num_classes, in_channels, input_size)
        if input_size != 1:
            raise ValueError(f"the mlp takes spike channels [T, B, channels]; input_size does not apply (got {input_size})")
        for name, value in (("hidden", hidden), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"mlp option {name} must be a positive int, got {value!r}")
        if not isinstance(norm, bool):
            raise ValueError(f"mlp option norm must be true or false, got {norm!r}")
        self.hidden, self.depth, self.norm = hidden, depth, norm
        layers: list[nn.Module] = []
        width = in_channels
        for _ in range(depth):
            linear = nn.Linear(width, hidden, bias=not norm)
            layers += [TimeMerged(linear, nn.BatchNorm1d(hidden)) if norm else TimeMerged(linear), neuron()]
            if dropout:
                layers.append(TimeSharedDropout(dropout))
            width = hidden
        layers.append(TimeMerged(nn.Linear(width, num_classes)))
        self.body = nn.Sequential(*layers)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, hidden={self.hidden}, depth={self.depth}, norm={self.norm}"
