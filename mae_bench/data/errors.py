"""The data layer's error type: the project's ``DataError`` (``mae_bench.errors``), importable from here."""
from ..errors import DataError

__all__ = ["DataError"]
