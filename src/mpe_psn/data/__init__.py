"""Datasets: readers for event-camera files and CIFAR, frames, cache, splits, augmentation,
the built-in event dataset, and loaders.

Public API::

    DATASETS, DatasetInfo, dataset_info, build_dataset   # registry
    build_loader                                         # DataLoader factory
    read_events, events_to_frames                        # one recording -> events -> frames
    as_events, from_tonic                                # Tonic's event arrays and datasets
"""

from mpe_psn.data.events import EVENT_DTYPE, as_events
from mpe_psn.data.frames import events_to_frames
from mpe_psn.data.loaders import build_loader
from mpe_psn.data.readers import read_events
from mpe_psn.data.registry import DATASETS, DatasetInfo, build_dataset, dataset_info
from mpe_psn.data.tonic_source import from_tonic

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "EVENT_DTYPE",
    "as_events",
    "build_dataset",
    "build_loader",
    "dataset_info",
    "events_to_frames",
    "from_tonic",
    "read_events",
]
