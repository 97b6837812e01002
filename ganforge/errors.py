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
