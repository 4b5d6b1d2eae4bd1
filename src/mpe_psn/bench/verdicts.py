"""A speed target's verdict: the worst of its measured ratios, and whether it keeps the bound."""

from __future__ import annotations

__all__ = ["verdict"]


def verdict(name: str, what: str, points: list[dict], bound: float, sense: str) -> dict:
    """``{"name", "what", "met", "worst", "bound", "sense", "points"}`` for ``points`` (dicts with
    a ``"ratio"``): ``sense`` ``"max"`` means every ratio must stay at or below ``bound``, ``"min"``
    at or above it. No points (its rows did not run): ``met`` is None."""
    if not points:
        return {"name": name, "what": what, "met": None, "worst": None, "points": []}
    worst = max(points, key=lambda p: p["ratio"]) if sense == "max" else min(points, key=lambda p: p["ratio"])
    met = worst["ratio"] <= bound if sense == "max" else worst["ratio"] >= bound
    return {"name": name, "what": what, "met": met, "worst": worst, "bound": bound, "sense": sense, "points": points}
