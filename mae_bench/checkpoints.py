"""Checkpoint intake: safe loading, format detection and conversion to mae-bench encoder keys.

Every load path of the project (pretrain resume, transfer tasks, ``tools/convert_ckpt.py``) goes
through ``load_file`` (``torch.load(weights_only=True)``: a pickle that would run code is refused)
and, for foreign weights, ``load_encoder_state``. The target key names are the timm / official
MAE ones of ARCHITECTURE.md. Formats register a detector and a converter in ``FORMATS``.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

ENCODER_PREFIXES = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.")
DECODER_PREFIXES = ("mask_token", "decoder_")
HEAD_PREFIXES = ("head.", "fc_norm.")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the keys."""


def load_file(path: str | Path, map_location: str = "cpu") -> dict:
    """``torch.load`` with ``weights_only=True``; any failure becomes a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file as load_st
        return load_st(str(path), device=map_location)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"refusing {path}: it is not a plain weights file (weights_only load failed: "
                              f"{str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt ({str(e).splitlines()[0]})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    return obj


@dataclass
class Format:
    name: str
    detect: Callable[[dict], bool]  # raw file dict -> is this format?
    convert: Callable[[dict], dict]  # raw file dict -> state dict in mae-bench key names (+ leftovers)


FORMATS: list[Format] = []


def register_format(name: str, detect: Callable[[dict], bool], convert: Callable[[dict], dict]) -> None:
    """Formats are tried in registration order; register specific formats before generic ones."""
    FORMATS.append(Format(name, detect, convert))


def _state(obj: dict) -> dict:
    for key in ("model", "state_dict", "module"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def _is_mae_bench(obj: dict) -> bool:
    return isinstance(obj.get("meta"), dict) and obj["meta"].get("producer") == "mae-bench" and "model" in obj


def _has_timm_keys(obj: dict) -> bool:
    sd = _state(obj)
    return "patch_embed.proj.weight" in sd and any(k.startswith("blocks.0.attn.qkv") for k in sd)


register_format("mae-bench", _is_mae_bench, lambda obj: dict(obj["model"]))
# official MAE (encoder-only and _full: {'model': ...}) and timm / DeiT (plain or {'model': ...}) share
# the timm key names; finer formats (MoCo v3, DINO, BEiT, ...) register in front of it.
register_format("timm", _has_timm_keys, lambda obj: dict(_state(obj)))


def detect_format(obj: dict) -> str:
    for fmt in FORMATS:
        if fmt.detect(obj):
            return fmt.name
    sample = ", ".join(list(_state(obj))[:6])
    raise CheckpointError(f"unknown checkpoint format (first keys: {sample}); known: "
                          f"{', '.join(f.name for f in FORMATS)}")


def convert(obj: dict) -> tuple[str, dict]:
    """-> (format name, state dict in mae-bench key names)."""
    name = detect_format(obj)
    fmt = next(f for f in FORMATS if f.name == name)
    return name, fmt.convert(obj)


@dataclass
class LoadReport:
    source: str
    format: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: file shape vs model shape"
    resampled: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.source} ({self.format})"]
        for label in ("missing", "unexpected", "mismatched", "resampled"):
            keys = getattr(self, label)
            if keys:
                parts.append(f"{label} {len(keys)}: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")
        return "; ".join(parts)


def _resample_if_needed(state: dict, model_state: dict, report: LoadReport) -> None:
    from .models.pos_embed import resample_pos_embed
    for key in ("pos_embed",):
        if key in state and key in model_state and state[key].shape != model_state[key].shape:
            src, dst = state[key], model_state[key]
            if src.ndim == 3 and dst.ndim == 3 and src.shape[-1] == dst.shape[-1]:
                n_new = dst.shape[1] - 1
                side = int(round(n_new ** 0.5))
                if side * side == n_new:
                    state[key] = resample_pos_embed(src, (side, side))
                    report.resampled.append(f"{key} {tuple(src.shape)} -> {tuple(dst.shape)}")


def load_encoder_state(model: torch.nn.Module, path: str | Path, allowed_missing: Callable[[str], bool] = None,
                       key_map: Callable[[str], str | None] = None) -> LoadReport:
    """Load a checkpoint of any known format into ``model``'s encoder part.

    ``key_map`` turns a mae-bench encoder key into the model's key (or None to drop it);
    ``allowed_missing(key)`` says which model keys may stay uninitialised (new in the task:
    heads, necks, relative positions). Decoder and classification-head keys of the file are
    ignored and reported; anything else left over, any missing key not allowed, or any shape
    mismatch raises a CheckpointError naming the keys and shapes.
    """
    obj = load_file(path)
    fmt, state = convert(obj)
    report = LoadReport(str(path), fmt)
    model_state = model.state_dict()
    mapped = {}
    for k, v in state.items():
        if not k.startswith(ENCODER_PREFIXES):
            if not k.startswith(DECODER_PREFIXES + HEAD_PREFIXES):
                report.unexpected.append(k)
            continue
        tk = key_map(k) if key_map else k
        if tk is not None:
            mapped[tk] = v
    _resample_if_needed(mapped, model_state, report)
    for k, v in mapped.items():
        if k not in model_state:
            report.unexpected.append(k)
        elif tuple(v.shape) != tuple(model_state[k].shape):
            report.mismatched.append(f"{k}: file {tuple(v.shape)} vs model {tuple(model_state[k].shape)}")
    allowed = allowed_missing or (lambda k: False)
    report.missing = [k for k in model_state if k not in mapped and not allowed(k)]
    if report.unexpected or report.mismatched or report.missing:
        raise CheckpointError(f"checkpoint does not fit the model: {report.summary()}")
    model.load_state_dict({k: v for k, v in mapped.items()}, strict=False)
    return report
