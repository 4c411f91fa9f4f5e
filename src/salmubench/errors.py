"""User-facing errors.

Every problem caused by the user's input (missing file, bad schema, unknown method, untrusted
checkpoint, ...) raises :class:`SalmuError` with a one-line message. The CLI prints that line and
exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations


class SalmuError(Exception):
    """An error the user can fix; its message is one line and names what is wrong."""

    exit_code = 2


class DataError(SalmuError):
    """A dataset directory is missing, malformed or violates a SALMUBench invariant."""


class CheckpointError(SalmuError):
    """A model checkpoint is missing, malformed or untrusted (would need unpickling)."""


class ConfigError(SalmuError):
    """A configuration value, override or name is invalid."""


class ResultError(SalmuError):
    """A result file is missing, malformed, or incompatible with others being combined."""
