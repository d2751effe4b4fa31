"""Training checkpoints (docs/architecture.md "Checkpoint file"): atomic save, resume with checks."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..checkpoints import CheckpointError, check_sha256, hash_file, load_file, record_sha256, save_file
from ..meta import git_sha, versions

log = logging.getLogger("mae_bench.checkpoint")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside DistributedDataParallel (``.module``) and torch.compile (``._orig_mod``)."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def plain(obj):
    """Config values as plain types only (so the file loads with weights_only=True)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


class NonFiniteWeights(CheckpointError):
    """Weights with NaN or inf values: never saved, never used."""


def non_finite(state: dict) -> list[str]:
    """The keys of the floating-point tensors of ``state`` holding a NaN or an inf."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(state: dict, what: str) -> None:
    """A ``NonFiniteWeights`` naming ``what`` and the keys when any tensor of ``state`` is not finite."""
    bad = non_finite(state)
    if bad:
        raise NonFiniteWeights(f"{what}: {len(bad)} of {len(state)} tensors hold NaN or inf values "
                               f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")


def save_checkpoint(path: str | Path, model, optimizer, epoch: int, config: dict, scaler=None, **extra) -> Path:
    """Write {model, optimizer, scaler, epoch, config, meta, **extra} (``checkpoints.save_file``).

    Weights that are not finite are never saved (a ``NonFiniteWeights``: the file at ``path`` stays as it was)."""
    check_finite(unwrap(model).state_dict(), f"not saving {path}: the weights after epoch {epoch} diverged")
    state = dict(model=unwrap(model).state_dict(), optimizer=optimizer.state_dict() if optimizer else {},
                 scaler=scaler.state_dict() if scaler is not None else {}, epoch=int(epoch), config=plain(config),
                 meta=dict(producer="mae-bench", versions=versions(), git_sha=git_sha()), **extra)
    hash_file(path).unlink(missing_ok=True)  # a kill before the new hash is written leaves none, not a wrong one
    save_file(state, path)
    record_sha256(path)
    return Path(path)


def resume_path(resume: str | None, output_dir: str | Path) -> Path | None:
    """``auto`` -> the newest usable checkpoint in ``output_dir`` (``checkpoint-last.pth``, else the highest
    ``checkpoint-<epoch>.pth``; one that is corrupt is passed over with a warning) or None when there is none; a
    path must exist."""
    if not resume:
        return None
    if resume == "auto":
        return newest_usable_checkpoint(output_dir)
    p = Path(resume)
    if not p.is_file():
        raise CheckpointError(f"--resume {resume}: no such file")
    return p


def checkpoints_newest_first(output_dir: str | Path) -> list[Path]:
    """``checkpoint-last.pth``, then ``checkpoint-<epoch>.pth`` from the highest epoch down."""
    out = Path(output_dir)
    numbered = sorted(((int(p.stem.split("-")[1]), p) for p in out.glob("checkpoint-*.pth")
                       if p.stem.split("-")[1].isdigit()), reverse=True)
    last = [out / "checkpoint-last.pth"] if (out / "checkpoint-last.pth").is_file() else []
    return last + [p for _, p in numbered]


def newest_checkpoint(output_dir: str | Path) -> Path | None:
    found = checkpoints_newest_first(output_dir)
    return found[0] if found else None


def newest_usable_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest checkpoint of ``output_dir`` that matches its recorded sha256 (or, with none recorded, loads);
    a corrupt newer one is passed over with a warning naming it. None when there is none; a CheckpointError when
    none is usable."""
    found = checkpoints_newest_first(output_dir)
    problems = []
    for path in found:
        try:
            if not hash_file(path).is_file():
                load_file(path)
            check_sha256(path)
        except CheckpointError as e:
            log.warning("passing over %s for the resume: %s", path, e)
            problems.append(str(e))
            continue
        if problems:
            log.warning("resuming from %s instead", path)
        return path
    if problems:
        raise CheckpointError(f"no usable checkpoint in {output_dir} to resume from: {'; '.join(problems)}")
    return None


def check_same_config(path, saved: dict, requested: dict, ignore: tuple[str, ...]) -> None:
    """Refuse to resume ``path`` when its saved run config differs from ``requested`` in a field that changes the
    result (every field both have, except ``ignore``: where files go, how fast, how often saved); names the fields."""
    changed = [f"{k} (saved {saved[k]!r}, requested {plain(v)!r})" for k, v in requested.items()
               if k in saved and k not in ignore and plain(v) != saved[k]]
    if changed:
        raise CheckpointError(f"refusing to resume {path}: it was trained with another config in {len(changed)} "
                              f"field(s) that change the result: {'; '.join(changed)}. Resume with the saved values, "
                              f"or start the new config in another output folder")


def check_shapes(path, state: dict, model: torch.nn.Module) -> None:
    own = unwrap(model).state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise CheckpointError(f"checkpoint {path} does not match the model: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, shape mismatch {wrong[:5]}")


def load_training_state(path: str | Path, model, optimizer=None, scaler=None) -> dict:
    """Restore model / optimizer / scaler from a mae-bench checkpoint (checked against the sha256 recorded at its
    save, where there is one); returns the file dict."""
    check_sha256(path)
    return restore_state(load_file(path), path, model, optimizer, scaler)


def restore_state(ckpt: dict, path: str | Path, model, optimizer=None, scaler=None) -> dict:
    """``load_training_state`` of a file dict already read (``path``: its file, for the messages)."""
    for key in ("model", "epoch"):
        if key not in ckpt:
            raise CheckpointError(f"checkpoint {path} has no '{key}' entry; not a mae-bench training checkpoint")
    check_shapes(path, ckpt["model"], model)
    unwrap(model).load_state_dict(ckpt["model"])
    if optimizer is not None and ckpt.get("optimizer"):
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"checkpoint {path}: optimizer state does not fit ({e})") from None
    if scaler is not None and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    return ckpt
