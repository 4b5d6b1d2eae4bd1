"""A decorator that files a function in a table under one or more keys (converter maps, say)."""

from __future__ import annotations

from typing import Any, Callable, MutableMapping, TypeVar

__all__ = ["filed_under"]

F = TypeVar("F", bound=Callable[..., Any])


def filed_under(table: MutableMapping[Any, Any], *keys: Any) -> Callable[[F], F]:
    """``@filed_under(table, a, b)`` puts the decorated function in ``table[a]`` and ``table[b]``
    and returns it unchanged."""

    def file(function: F) -> F:
        for key in keys:
            table[key] = function
        return function

    return file
