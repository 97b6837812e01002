"""Errors written for the user: one line that says what is wrong and where.

The CLI prints ``str(error)`` and exits non-zero; ``--debug`` shows the traceback.
"""
from __future__ import annotations


class GanforgeError(Exception):
    """Base class of every error ganforge raises on purpose."""


class DataError(GanforgeError):
    """A data source is missing, unreadable, empty or malformed."""


class ConfigError(GanforgeError):
    """A configuration field has a value ganforge cannot use."""


class CheckpointError(GanforgeError):
    """A checkpoint or model file is missing, corrupt, or from an incompatible run."""


class DivergenceError(GanforgeError):
    """Training produced non-finite losses again after one recovery."""


def quote(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (plus the length of what was cut), for messages
    that quote a value from the user's data: one 5 MB cell must not become 5 MB of log."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 3]}... ({len(text)} characters)"


def short_reason(error: BaseException, limit: int = 120) -> str:
    """The first line of an exception's text (its type name when it has none), at most ``limit`` characters:
    the part of a library's error that goes after "file: " in a one-line message."""
    text = str(error).strip()
    text = text.splitlines()[0] if text else type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
