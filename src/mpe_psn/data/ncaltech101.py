"""N-Caltech101: ``<root>/Caltech101/<class>/image_XXXX.bin`` (ATIS, up to 240x180) or
``<root>/<class>/...``; the 101 folders include BACKGROUND_Google, as in the authors' runs.
Split: per class the first 10% by file name are test. Options: ``split_by``.
"""

from __future__ import annotations

from mpe_psn.data.folder_split import OPTIONS, build_folder_dataset, class_folder_samples
from mpe_psn.data.sources import check_options, require_root

TEST_FRACTION = 0.1


def build(info, split, *, root, T, size, augment, cache_dir, skip_bad, split_by="number", progress=True, **options):
    check_options(info.name, options, OPTIONS)
    root = require_root(info, root)
    if (root / "Caltech101").is_dir():
        root = root / "Caltech101"
    samples = class_folder_samples(info, root, split, info.class_names, (".bin",), TEST_FRACTION)
    return build_folder_dataset(info, split, root, samples, T=T, size=size, augment=augment, cache_dir=cache_dir,
                                skip_bad=skip_bad, split_by=split_by, progress=progress)
