"""Datasets: readers for event-camera files and CIFAR, frames, cache, splits, augmentation,
the built-in event dataset, and loaders.

Public API::

    DATASETS, DatasetInfo, dataset_info, build_dataset   # registry
    build_loader                                         # DataLoader factory
    read_events, events_to_frames                        # one recording -> events -> frames
"""

from mpe_psn.data.events import EVENT_DTYPE
from mpe_psn.data.frames import events_to_frames
from mpe_psn.data.loaders import build_loader
from mpe_psn.data.readers import read_events
from mpe_psn.data.registry import DATASETS, DatasetInfo, build_dataset, dataset_info

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "EVENT_DTYPE",
    "build_dataset",
    "build_loader",
    "dataset_info",
    "events_to_frames",
    "read_events",
]
