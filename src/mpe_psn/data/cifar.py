"""CIFAR-10 / CIFAR-100 from the official python batches, as T repeated frames (direct encoding).

CIFAR-10: ``<root>/cifar-10-batches-py/`` (or root itself) with ``data_batch_1..5`` (train)
and ``test_batch``. CIFAR-100: ``<root>/cifar-100-python/`` with ``train`` and ``test``
(fine labels). Items: (normalised image repeated T times [T, 3, H, W], label). With
``augment`` (train split): crop (pad 4), flip, AutoAugment, Cutout (see
:func:`mpe_psn.data.augment.cifar_transform`); needs torchvision. Options: ``autoaugment``
(bool, default True), ``cutout`` (side, default 16; 0 = off).
"""

from __future__ import annotations


import numpy as np
import torch

from mpe_psn.data.augment import cifar_transform
from mpe_psn.data.readers.cifar_pickle import read_cifar_batch
from mpe_psn.data.sources import check_options, missing, require_root

OPTIONS = ("autoaugment", "cutout", "progress")
_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}, "labels"),
    "cifar100": ("cifar-100-python", {"train": ["train"], "test": ["test"]}, "fine_labels"),
}


class CifarFrames(torch.utils.data.Dataset):
    def __init__(self, name: str, split: str, images: np.ndarray, labels: np.ndarray, T: int, size, transform) -> None:
        self.name, self.split = name, split
        self.images, self.labels = images, labels.astype(np.int64)
        self.T, self.size = T, tuple(size)
        self.transform = transform
        self.skipped = 0

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.transform(self.images[index])
        if tuple(image.shape[-2:]) != self.size:
            image = torch.nn.functional.interpolate(image[None], size=self.size, mode="bilinear", align_corners=False)[0]
        return image.unsqueeze(0).expand(self.T, *image.shape).contiguous(), int(self.labels[index])


def build(info, split, *, root, T, size, augment, cache_dir, skip_bad, autoaugment=True, cutout=16, progress=True, **options):
    check_options(info.name, options, OPTIONS)
    root = require_root(info, root)
    folder_name, files, label_key = _LAYOUT[info.name]
    folder = root / folder_name if (root / folder_name).is_dir() else root
    absent = [f for f in files[split] if not (folder / f).is_file()]
    if absent:
        raise missing(info, folder, f"batch file(s) {absent} not found")
    parts = [read_cifar_batch(folder / f, label_key, info.num_classes) for f in files[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    transform = cifar_transform(info.name, train=split == "train", augment=augment, cutout=cutout, autoaugment=autoaugment)
    return CifarFrames(info.name, split, images, labels, T, size, transform)
