"""Config files (mmengine ``Config`` python files with ``_base_`` inheritance) merged into dataclasses.

Precedence: dataclass defaults < config file < explicit command-line flags.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path


from .errors import ConfigError  # noqa: F401  (raised here, importable from here)


def load_config_file(path: str | Path) -> dict:
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    cfg = Config.fromfile(str(path)).to_dict()
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def pipeline_with(pipeline: list, **changes: dict) -> list[dict]:
    """A base config's data ``pipeline`` with fields of some transforms replaced, for configs that change only sizes:
    ``pipeline_with(_base_.train_pipeline, RandomCrop=dict(crop_size=(64, 64)))`` (every transform of that type).
    A type the pipeline does not have raises a ConfigError naming it. The ``_scope_`` mmengine stamps on transforms
    read from a package's base config (``mmseg::``) is left out: they build in the run's scope, as a restated
    pipeline does. Import it after the ``_base_`` line: mmengine takes a config whose first statement imports a
    package for one of its lazy-import configs."""
    types = [t["type"] for t in pipeline]
    missing = sorted(set(changes) - set(types))
    if missing:
        raise ConfigError(f"the pipeline has no {', '.join(missing)} transform; it has {', '.join(types)}")
    return [{**{k: v for k, v in t.items() if k != "_scope_"}, **changes.get(t["type"], {})} for t in pipeline]


def build(cls, file_values: dict | None = None, cli_values: dict | None = None, source: str = "config"):
    """Instantiate dataclass ``cls``; unknown keys raise naming the key and the source."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for origin, d in ((source, file_values or {}), ("command line", cli_values or {})):
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} in {origin}; known: {sorted(names)}")
        values.update(d)
    return cls(**values)


def field_types(cls) -> dict[str, type]:
    """Concrete python type of each field (``int | None`` -> int) for argparse."""
    hints = typing.get_type_hints(cls)
    out = {}
    for name, hint in hints.items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        out[name] = args[0] if args else hint
    return out
