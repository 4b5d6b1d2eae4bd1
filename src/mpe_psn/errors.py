"""The one exception class for mistakes a user fixes from the command line.

``mpe-psn`` prints a :class:`UsageError` as one line, ``mpe-psn <command>: error: <message>``,
and exits with status 2; anything else that escapes a command is a bug and keeps its traceback.
Library errors that a user can cause (a file that is not a checkpoint, an impossible config)
subclass it, so that the command line and Python callers see the same message.
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(ValueError):
    """A mistake in what the user asked for (a flag, a file, a config value); the message says
    which and what would be accepted. A ``ValueError``, so ``except ValueError`` still works."""
