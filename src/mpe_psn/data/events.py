"""Event arrays: one structured NumPy dtype for every reader, plus the clean-up rules.

An event stream is a 1-D structured array with fields ``t`` (microseconds, int64), ``x``,
``y`` (int16, pixel column and row) and ``p`` (uint8 polarity, 0 = OFF, 1 = ON), in file
order. The clean-up rules (documented in docs/datasets.md) are applied when a recording
becomes frames, never by the readers, which return what the file holds.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["EVENT_DTYPE", "make_events", "empty_events", "sanitize_events", "EventIssues"]

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.uint8)])


def make_events(t, x, y, p) -> np.ndarray:
    """Pack four equally long 1-D sequences into an ``EVENT_DTYPE`` array (polarity must be 0/1)."""
    t, x, y, p = (np.asarray(a) for a in (t, x, y, p))
    n = t.shape[0]
    for name, arr in (("t", t), ("x", x), ("y", y), ("p", p)):
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(f"event field {name!r} must be 1-D with {n} entries, got shape {arr.shape}")
    if n and not np.isin(p, (0, 1)).all():
        raise ValueError(f"polarity must be 0 or 1, got values {np.unique(p)[:5].tolist()}")
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, p
    return events


def empty_events() -> np.ndarray:
    return np.empty(0, dtype=EVENT_DTYPE)


class EventIssues(dict):
    """Counts of what :func:`sanitize_events` fixed: ``outside`` (dropped), ``unsorted`` (0/1)."""


def sanitize_events(
    events: np.ndarray, height: int, width: int, *, source: str = "recording", warn: bool = False
) -> tuple[np.ndarray, EventIssues]:
    """Apply the documented rules before integration.

    * events with ``x`` outside ``[0, width)`` or ``y`` outside ``[0, height)`` are dropped
      (counted in ``issues['outside']``);
    * timestamps that go backwards are put in order by a stable sort on ``t`` (events with
      equal ``t`` keep file order; ``issues['unsorted'] = 1``).
    Empty recordings and recordings with fewer events than T are left as they are:
    :func:`mpe_psn.data.events_to_frames` defines their frames.
    """
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"expected an EVENT_DTYPE array, got dtype {events.dtype}")
    issues = EventIssues(outside=0, unsorted=0)
    inside = (events["x"] >= 0) & (events["x"] < width) & (events["y"] >= 0) & (events["y"] < height)
    if not inside.all():
        issues["outside"] = int((~inside).sum())
        events = events[inside]
    if events.shape[0] > 1 and (np.diff(events["t"]) < 0).any():
        issues["unsorted"] = 1
        events = events[np.argsort(events["t"], kind="stable")]
    if warn and (issues["outside"] or issues["unsorted"]):
        warnings.warn(
            f"{source}: dropped {issues['outside']} events outside the {width}x{height} sensor"
            + ("; timestamps were not sorted and were put in order" if issues["unsorted"] else ""),
            stacklevel=2,
        )
    return events, issues
