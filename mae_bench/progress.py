"""Progress bars: one place that makes them, so a log file under a scheduler is not flooded.

On a terminal a bar redraws ten times a second; where stderr is not a terminal (a Slurm log, a pipe) tqdm
would still write a line at each redraw, so there a bar writes at most one line every ``LOG_INTERVAL_S``.
"""
from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)`` with ``mininterval`` 30 s when stderr is not a terminal (unless given)."""
    if not sys.stderr.isatty():
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(iterable, **kwargs)
