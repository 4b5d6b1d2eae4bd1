"""Named difficulties of the built-in dataset: presets of the camera's own parameters.

``difficulty="standard"`` (the default) changes nothing: the same ``SyntheticConfig``, so the
same frames and the same cache key as without the option. ``"hard"`` films the same scenes
with a noisy sensor, so that the order of events within a clip is harder to read and the
neurons stop all reaching 100 % in a short training budget:

* ``noise`` 0.02 -> 0.6 sensor-noise events per pixel per frame (30x the default; on the
  32 x 32 frames at T = 8, about 4900 noise events per clip against about 1600-4500 at the
  standard setting).

A difficulty only sets defaults: an option given explicitly (``noise=...``) wins over it. It
is resolved before the cache key is made, so a difficulty and the same options spelled out
share one cache entry.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DIFFICULTIES", "resolve_difficulty"]

#: difficulty -> the generator options it sets (explicit options override them)
DIFFICULTIES: dict[str, dict[str, Any]] = {
    "standard": {},
    "hard": {"noise": 0.6},
}


def resolve_difficulty(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``difficulty`` replaced by the generator options it stands for.

    An unknown difficulty is a ``ValueError`` naming the option and the accepted values.
    """
    options = dict(options)
    difficulty = options.pop("difficulty", "standard")
    if not isinstance(difficulty, str) or difficulty not in DIFFICULTIES:
        raise ValueError(f"synthetic option difficulty must be one of {list(DIFFICULTIES)}, got {difficulty!r}")
    return {**DIFFICULTIES[difficulty], **options}
