"""Tonic's event arrays and datasets, as this project reads them.

The work lives in the data layer, where every reader's events meet the frames:
:func:`mpe_psn.data.events.as_events` converts Tonic's structured arrays (any integer or bool
field types, any field order) once, with checks; :func:`mpe_psn.data.tonic_source.from_tonic`
makes a Tonic dataset on disk a training source. They are gathered here so that every other
framework has its file in this folder; Tonic itself is imported only where a dataset is built.
"""

from mpe_psn.data.events import as_events
from mpe_psn.data.tonic_source import TonicFrames, from_tonic

__all__ = ["TonicFrames", "as_events", "from_tonic"]
