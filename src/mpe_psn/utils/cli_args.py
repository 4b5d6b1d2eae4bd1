"""Argument types shared by the ``mpe-psn`` sub-commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["key_value"]


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``: VALUE is parsed as JSON when it is JSON (``3``,
    ``true``, ``"a"``, ``[1, 2]``), else kept as a string; dashes in KEY become underscores."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip().replace("-", "_"), value
