"""Event arrays: one structured NumPy dtype for every reader, plus the clean-up rules.

An event stream is a 1-D structured array with fields ``t`` (microseconds, int64), ``x``,
``y`` (int16, pixel column and row) and ``p`` (uint8 polarity, 0 = OFF, 1 = ON), in file
order. The clean-up rules (documented in docs/datasets.md) are applied when a recording
becomes frames, never by the readers, which return what the file holds.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["EVENT_DTYPE", "as_events", "make_events", "empty_events", "sanitize_events", "EventIssues"]

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.uint8)])
EVENT_FIELDS = ("t", "x", "y", "p")


def as_events(events: np.ndarray, *, source: str = "events") -> np.ndarray:
    """``events`` as an ``EVENT_DTYPE`` array, converted once with checks.

    Accepts any 1-D structured array with integer or bool fields ``t``, ``x``, ``y``, ``p`` in
    any order, other fields ignored (Tonic's datasets: NMNIST int64 x, y, t, p; DVSGesture
    int16 x/y and bool p; CIFAR10DVS uint64 t, uint16 x/y, bool p). An ``EVENT_DTYPE`` array is
    returned as it is. Raises a one-line error naming the field for a missing or non-integer
    field, a negative value, a value too large for the field here (t < 2**63, x and y < 2**15)
    or a polarity other than 0/1; and for anything but a 1-D structured array.
    """
    if isinstance(events, np.ndarray) and events.dtype == EVENT_DTYPE and events.ndim == 1:
        return events
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not isinstance(events, np.ndarray) or names is None:
        kind = f"array of dtype {events.dtype}" if isinstance(events, np.ndarray) else type(events).__name__
        raise TypeError(f"{source}: events must be a 1-D structured array with fields t, x, y, p; got a {kind}")
    if events.ndim != 1:
        raise ValueError(f"{source}: events must be a 1-D structured array, got shape {events.shape}")
    missing = [f for f in EVENT_FIELDS if f not in names]
    if missing:
        raise ValueError(f"{source}: events lack field(s) {missing}; they have {list(names)} (need t, x, y, p)")
    out = np.empty(events.shape[0], dtype=EVENT_DTYPE)
    for field in EVENT_FIELDS:
        column = events[field]
        if column.dtype.kind not in "biu":
            raise TypeError(f"{source}: event field {field!r} must hold integers or bools, got {column.dtype}")
        if column.size:
            low, high = column.min(), column.max()
            if low < 0:
                raise ValueError(f"{source}: event field {field!r} has a negative value ({int(low)})")
            limit = 1 if field == "p" else np.iinfo(EVENT_DTYPE[field]).max
            if int(high) > limit:
                what = "polarity must be 0 or 1" if field == "p" else f"larger than {limit}, the most it can hold here"
                raise ValueError(f"{source}: event field {field!r} has the value {int(high)}: {what}")
        out[field] = column
    return out


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
    Any array :func:`as_events` accepts is converted first.
    Empty recordings and recordings with fewer events than T are left as they are:
    :func:`mpe_psn.data.events_to_frames` defines their frames.
    """
    events = as_events(events, source=source)
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
