"""Where the project's own files are: the configs (temporary lead version; replaced at merge)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def config_file(relpath: str) -> Path:
    return REPO / "configs" / relpath


def config_name(path) -> str:
    full = Path(path).resolve()
    return str(full.relative_to(REPO)) if full.is_relative_to(REPO) else str(path)
