"""The project's own error types: bad input that the tools report as one line (exit 2) without a traceback.

Anything else (a bug in mae-bench, mmengine, torch) is not one of these and keeps its traceback. Each type
stays a ``ValueError`` as well, so code that guards a value check keeps working.
"""
from __future__ import annotations


class MaeBenchError(Exception):
    """Base of every error the tools turn into ``error: <message>`` and exit status 2."""


class ConfigError(MaeBenchError, ValueError):
    """A config file, flag or ``--cfg-options`` entry that cannot be used; the message names it."""


class DataError(MaeBenchError, ValueError):
    """A dataset that cannot be used (missing files, empty split, bad label); the message names the file."""


class CheckpointError(MaeBenchError, ValueError):
    """A checkpoint that cannot be used; the message names the file and the keys."""


class TransferError(MaeBenchError, ValueError):
    """Bad transfer input (task, files, flags); the message names it."""


class RecordError(MaeBenchError, ValueError):
    """A result record that does not follow the schema."""


class SaveError(MaeBenchError, OSError):
    """A file that could not be written (a full disk, a quota, a read-only folder); the message names the file and
    the free space left."""
