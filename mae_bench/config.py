"""Config files (mmengine ``Config`` python files with ``_base_`` inheritance) merged into dataclasses, and the one
check of every setting.

Precedence: dataclass defaults < config file < explicit command-line flags (< ``--cfg-options`` for the transfer
tasks). Each value set by a file, a flag or an option is checked once, before any work, against its field: its type
(``field_types``) and its range: ``SHARED_LIMITS`` for the fields several classes share (``epochs``, ``lr``, ...) and
the ``LIMITS`` a config class declares beside its fields (a ``ClassVar`` dict: field name -> a ``Range``, ``OneOf``,
``Each`` or ``Pair``; a new field adds an entry), plus the relations between fields that every
config shares (``min_lr`` <= ``lr``, ``input_size`` a multiple of the patch). A bad value is a ``ConfigError`` naming
the key, the value, where it came from and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
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
    """Instantiate dataclass ``cls``; unknown keys and bad values (``check_settings``) raise naming the key and the
    source."""
    names = {f.name for f in dataclasses.fields(cls)}
    values, origins = {}, {}
    for origin, d in ((source, file_values or {}), ("command line", cli_values or {})):
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} in {origin}; known: {sorted(names)}")
        values.update(d)
        origins.update(dict.fromkeys(d, origin))
    check_settings(cls, values, origins)
    return cls(**values)


# --- the check of every setting -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """Numbers from ``lo`` to ``hi`` (None: unbounded); ``lo_open`` / ``hi_open`` leave the bound out."""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def ok(self, v) -> bool:
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return self.hi is None or not (v > self.hi or (self.hi_open and v == self.hi))

    def __str__(self) -> str:
        lo = None if self.lo is None else f"{self.lo:g} {'<' if self.lo_open else '<='} "
        hi = None if self.hi is None else f" {'<' if self.hi_open else '<='} {self.hi:g}"
        if lo and hi:
            return f"{lo}x{hi}"
        if lo:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        return f"{'<' if self.hi_open else '<='} {self.hi:g}" if hi else "any finite number"


def at_least(lo: float) -> Range:
    return Range(lo)


def above(lo: float) -> Range:
    return Range(lo, lo_open=True)


def fraction(lo_open: bool = False, hi_open: bool = False) -> Range:
    """A number from 0 to 1."""
    return Range(0, 1, lo_open, hi_open)


@dataclass(frozen=True)
class OneOf:
    choices: tuple

    def ok(self, v) -> bool:
        return v in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


@dataclass(frozen=True)
class Each:
    """A non-empty list whose every item is an integer (``integer``) or a number in ``item``."""
    item: Range
    integer: bool = False

    def ok(self, v) -> bool:
        return (isinstance(v, (list, tuple)) and len(v) > 0
                and all(_is_number(x, self.integer) and self.item.ok(x) for x in v))

    def __str__(self) -> str:
        return f"a non-empty list of {'integers' if self.integer else 'numbers'} {self.item}"


@dataclass(frozen=True)
class Pair:
    """Two numbers LO, HI in ``item`` with LO <= HI."""
    item: Range

    def ok(self, v) -> bool:
        return (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_number(x) and self.item.ok(x) for x in v)
                and v[0] <= v[1])

    def __str__(self) -> str:
        return f"two numbers LO,HI with LO <= HI, each {self.item}"


# the allowed values of the fields several config classes share (a class's own ``LIMITS`` add to and override these)
SHARED_LIMITS = dict(
    input_size=at_least(1),
    patch_size=at_least(1),
    batch_size=at_least(1),
    eval_batch_size=at_least(1),
    epochs=at_least(1),
    max_iters_per_epoch=at_least(1),
    effective_batch=at_least(1),
    accum_iter=at_least(1),
    blr=above(0),
    lr=above(0),
    min_lr=at_least(0),
    weight_decay=at_least(0),
    warmup_epochs=at_least(0),
    clip_grad=above(0),
    drop_path=fraction(hi_open=True),
    crop_scale=Pair(fraction(lo_open=True)),
    eval_crop_pct=fraction(lo_open=True),
    mixup=at_least(0),
    cutmix=at_least(0),
    smoothing=fraction(hi_open=True),
    reprob=fraction(),
    num_workers=at_least(0),
    synthetic_num=at_least(1),
    save_every=at_least(0),
)


def _is_number(v, integer: bool = False) -> bool:
    return not isinstance(v, bool) and isinstance(v, int if integer else (int, float))


def _type_ok(hint, v) -> tuple[bool, str]:
    """Whether ``v`` fits the annotation ``hint`` (``int | None``, ``float``, ``tuple[float, float]``, ``list``) and
    the type's name for the message."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return True, ""
        results = [_type_ok(a, v) for a in args if a is not type(None)]
        return any(ok for ok, _ in results), " or ".join(n for _, n in results) + (
            " or None" if type(None) in args else "")
    base = typing.get_origin(hint) or hint
    if base is bool:
        return isinstance(v, bool), "true/false"
    if base is int:
        return _is_number(v, integer=True), "an integer"
    if base is float:
        return _is_number(v), "a number"
    if base is str:
        return isinstance(v, str), "a string"
    if base in (list, tuple):
        return isinstance(v, (list, tuple)), "a list"
    if base is dict:
        return isinstance(v, dict), "a dict"
    return True, str(hint)


def check_settings(cls, values: dict, origins: dict | str, base=None) -> None:
    """Check each of ``values`` (set by a file, flag or option; ``origins``: key -> where it came from, or one
    origin for all) against the field of dataclass ``cls``: its type, then ``SHARED_LIMITS`` and ``cls.LIMITS``;
    then the relations between fields on ``base`` (a config instance; default: the defaults) updated with
    ``values``. The first bad value raises a ``ConfigError``."""
    rest = "the defaults" if base is None else "the config"

    def origin_of(key: str) -> str:
        origin = (origins if key in values else rest) if isinstance(origins, str) else origins.get(key, rest)
        return f"the flag --{key}" if origin == "command line" else origin

    hints = typing.get_type_hints(cls)
    limits = {**SHARED_LIMITS, **getattr(cls, "LIMITS", {})}
    for key, v in values.items():
        if key not in hints:
            continue
        ok, wanted = _type_ok(hints[key], v)
        if not ok:
            raise ConfigError(f"{key}={v!r} (from {origin_of(key)}) is not {wanted}")
        limit = limits.get(key)
        if limit is not None and v is not None and not limit.ok(v):
            raise ConfigError(f"{key}={v!r} (from {origin_of(key)}) is out of range: allowed {limit}")
    merged = (dataclasses.asdict(base) if base is not None else
              {f.name: f.default if f.default is not dataclasses.MISSING else None for f in dataclasses.fields(cls)})
    merged.update(values)
    for keys, problem in _relations(merged):
        where = ", ".join(f"{k}={merged[k]!r} from {origin_of(k)}" for k in keys)
        raise ConfigError(f"{problem} ({where})")


def _relations(cfg: dict):
    """(keys, problem) for each relation between the fields of ``cfg`` that fails."""
    lr, min_lr = cfg.get("lr"), cfg.get("min_lr")
    if lr is not None and min_lr is not None and min_lr > lr:
        yield ("min_lr", "lr"), "min_lr is above lr: the schedule would raise the lr; allowed min_lr <= lr"
    size, patch = cfg.get("input_size"), cfg.get("patch_size") or _model_patch(cfg.get("model"))
    if size is not None and patch and size % patch:
        keys = ("input_size", "patch_size") if cfg.get("patch_size") else ("input_size", "model")
        yield keys, f"input_size must be a multiple of the patch size {patch}"


def _model_patch(model) -> int | None:
    from .models.sizes import model_size

    try:
        return model_size(model).patch_size if isinstance(model, str) else None
    except ConfigError:
        return None


def field_types(cls) -> dict[str, type]:
    """Concrete python type of each field (``int | None`` -> int) for argparse."""
    hints = typing.get_type_hints(cls)
    out = {}
    for name in (f.name for f in dataclasses.fields(cls)):
        hint = hints[name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        out[name] = args[0] if args else hint
    return out
