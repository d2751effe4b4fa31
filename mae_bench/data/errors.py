"""The project's data error type."""


class DataError(ValueError):
    """Bad dataset input; the message names the folder or file (and the key or value)."""
