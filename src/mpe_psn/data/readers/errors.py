"""The error every reader raises for a file it cannot read."""


class RecordingError(ValueError):
    """A recording that cannot be read: truncated, corrupt, or of an unknown format.

    The message always names the file.
    """
