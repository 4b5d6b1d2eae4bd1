"""CIFAR10-DVS: ``<root>/<class>/*.aedat`` (AEDAT 2.0, original) or ``*.aedat4`` (AEDAT 4 release).

Class folders: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck (1000
recordings each, 128x128). Split: per class the first 10% by file name (100) are test.
Options: ``split_by`` ("number" or "time").
"""

from __future__ import annotations

from mpe_psn.data.folder_split import OPTIONS, build_folder_dataset, class_folder_samples
from mpe_psn.data.sources import check_options, require_root

TEST_FRACTION = 0.1


def build(info, split, *, root, T, size, augment, cache_dir, skip_bad, split_by="number", progress=True, **options):
    check_options(info.name, options, OPTIONS)
    root = require_root(info, root)
    samples = class_folder_samples(info, root, split, info.class_names, (".aedat", ".aedat4"), TEST_FRACTION)
    return build_folder_dataset(info, split, root, samples, T=T, size=size, augment=augment, cache_dir=cache_dir,
                                skip_bad=skip_bad, split_by=split_by, progress=progress)
