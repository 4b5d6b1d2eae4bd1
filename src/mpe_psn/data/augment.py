"""Augmentation of frame tensors: one random crop and flip shared by all T frames of a sample.

Event frames [T, C, H, W]: zero-pad by ``pad`` pixels, crop back to H x W at a random offset,
flip horizontally with probability 1/2; the same offset and flip apply to every time step.
A flip can change the label (the built-in dataset's "sweep-right" becomes "sweep-left"):
pass ``flip_labels`` (new label for each old one) for such classes. Randomness comes from
torch's global RNG, which DataLoader seeds per worker.

Static images (CIFAR) use torchvision (the optional ``vision`` extra), imported lazily.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["EventAugment", "cifar_transform", "CIFAR_MEAN", "CIFAR_STD"]


class EventAugment:
    """Random crop (zero padding ``pad``) and horizontal flip, identical for all T frames."""

    def __init__(self, pad: int = 4, hflip: bool = True, flip_labels: Sequence[int] | None = None) -> None:
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.pad = int(pad)
        self.hflip = hflip
        self.flip_labels = tuple(flip_labels) if flip_labels is not None else None

    def __call__(self, frames: torch.Tensor, label: int) -> tuple[torch.Tensor, int]:
        if frames.dim() != 4:
            raise ValueError(f"expected frames [T, C, H, W], got shape {tuple(frames.shape)}")
        height, width = frames.shape[-2:]
        if self.pad:
            padded = torch.nn.functional.pad(frames, (self.pad, self.pad, self.pad, self.pad))
            top, left = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,)))
            frames = padded[..., top : top + height, left : left + width]
        if self.hflip and bool(torch.rand(()) < 0.5):
            frames = frames.flip(-1)
            if self.flip_labels is not None:
                label = self.flip_labels[label]
        return frames.contiguous(), label

    def __repr__(self) -> str:
        return f"EventAugment(pad={self.pad}, hflip={self.hflip}, flip_labels={self.flip_labels is not None})"


CIFAR_MEAN = {"cifar10": (0.4914, 0.4822, 0.4465), "cifar100": (0.5071, 0.4865, 0.4409)}
CIFAR_STD = {"cifar10": (0.2470, 0.2435, 0.2616), "cifar100": (0.2673, 0.2564, 0.2762)}


def _torchvision():
    try:
        import torchvision.transforms.v2 as transforms
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "CIFAR datasets need torchvision: pip install 'mpe-psn[vision]' (or pip install torchvision)"
        ) from error
    return transforms


class Cutout:
    """Zero one random ``length`` x ``length`` square (clipped at the border) of a [C, H, W] image."""

    def __init__(self, length: int = 16) -> None:
        self.length = int(length)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        cy, cx = int(torch.randint(0, height, ())), int(torch.randint(0, width, ()))
        half = self.length // 2
        image = image.clone()
        image[..., max(cy - half, 0) : cy + half, max(cx - half, 0) : cx + half] = 0
        return image


def cifar_transform(name: str, train: bool, augment: bool, cutout: int = 16, autoaugment: bool = True):
    """uint8 HWC image -> normalised float [3, 32, 32]; with ``augment`` (train only): crop
    (pad 4), flip, AutoAugment (CIFAR10 policy), then normalise, then Cutout."""
    transforms = _torchvision()
    steps = [transforms.ToImage()]
    if train and augment:
        steps += [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
        if autoaugment:
            steps.append(transforms.AutoAugment(transforms.AutoAugmentPolicy.CIFAR10))
    steps += [transforms.ToDtype(torch.float32, scale=True), transforms.Normalize(CIFAR_MEAN[name], CIFAR_STD[name])]
    if train and augment and cutout:
        steps.append(Cutout(cutout))
    return transforms.Compose(steps)
