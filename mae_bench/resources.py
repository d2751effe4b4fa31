"""Where the configs and the tools are: a source checkout's ``configs/`` and ``tools/``, else the installed package's.

A checkout (or ``pip install -e .``) keeps them beside ``mae_bench/``; ``pip install .`` ships the same two folders
inside the package as ``mae_bench/configs`` and ``mae_bench/tools`` (setup.py's ``package_dir``). Either way a
config is named the way users and records write it, ``configs/coco/quick.py``, relative to that root, so a record
of a checkout run is the same as before and an installed run writes the same name.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def root() -> Path:
    """The folder holding ``configs/`` and ``tools/``: the checkout (``setup.py`` beside ``mae_bench/``), else the
    installed package (its ``configs/`` and ``tools/`` are package data)."""
    checkout = PACKAGE.parent
    if (checkout / "setup.py").is_file() and (checkout / "configs").is_dir():
        return checkout
    return PACKAGE


def config_dir() -> Path:
    """``configs/`` of the checkout or of the installed package."""
    return root() / "configs"


def config_file(relpath: str | Path) -> Path:
    """``configs/<relpath>`` of the checkout or of the installed package, e.g. ``config_file("coco/quick.py")``.

    The path is returned whether or not the file exists, so the caller's own message names a missing one."""
    return config_dir() / relpath


def find_config(path: str | Path) -> Path:
    """A config as a user typed it: the path itself when it is a file (relative to the working folder) or absolute,
    else the same relative path under the checkout or the package (``configs/coco/quick.py`` works from any
    folder), else the path unchanged (the loader's message then names it as typed)."""
    p = Path(path)
    if p.is_file() or p.is_absolute():
        return p
    under = root() / p
    return under if under.is_file() else p


def config_name(path: str | Path) -> str:
    """A config as a record names it: relative to the checkout or package when it lives there
    (``configs/coco/quick.py``), else the path as given."""
    full = Path(path).resolve()
    base = root().resolve()
    return str(full.relative_to(base)) if full.is_relative_to(base) else str(path)


def tools_dir() -> Path:
    """``tools/`` of the checkout or of the installed package (the scripts behind the ``mae-bench`` command)."""
    return root() / "tools"


def tool_file(name: str) -> Path:
    """``tools/<name>``, e.g. ``tool_file("transfer.py")``; returned whether or not it exists."""
    return tools_dir() / name
