"""Checkpoint intake: safe loading, format detection and conversion to mae-bench encoder keys.

Every load path of the project (pretrain resume, transfer tasks, ``tools/convert_ckpt.py``) goes
through ``load_file`` (``torch.load(weights_only=True)``: a pickle that would run code is refused)
and, for foreign weights, ``load_encoder_state``. The target key names are the timm / official
MAE ones of docs/architecture.md. Formats register a detector and a converter in ``FORMATS``, most
specific first:

| format | file layout (as its public code writes it) |
| --- | --- |
| ``mae-bench`` | ``{model, optimizer, epoch, config, meta: {producer: mae-bench}}``; encoder + decoder / heads |
| ``mocov3`` | ``{state_dict: {module.base_encoder.*, module.momentum_encoder.*, module.predictor.*}}`` |
| ``dino`` | ``{teacher: {backbone.*, head.*}, student: {module.backbone.*, ...}, args: Namespace}`` |
| ``beit`` | ``{model}`` with ``attn.q_bias / v_bias``, ``gamma_1/2``, relative position tables |
| ``mmpretrain`` | ``{meta, state_dict: {backbone.layers.N.ln1 / attn.qkv / ffn.layers.0.0 / ffn.layers.1, ...}}`` |
| ``hf`` | Hugging Face ViT / ViTMAE: ``[vit.]embeddings.*``, ``encoder.layer.N.attention.attention.query`` |
| ``mae-official`` | ``{model}`` with timm keys; ``_full`` files add the decoder |
| ``timm`` | timm / DeiT: a plain timm state dict (or ``{model}``) with ``head.*`` |
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import pickle
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .errors import CheckpointError, SaveError

ENCODER_PREFIXES = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.")
DECODER_PREFIXES = ("mask_token", "decoder_")
HEAD_PREFIXES = ("head.", "fc_norm.")
# heads of the baseline families (projection / prediction MLPs, momentum copies, DINO and BEiT heads):
# never part of the encoder, ignored like decoder keys and listed in the report
AUX_PREFIXES = ("projector.", "predictor.", "momentum_encoder.", "momentum_projector.", "dino_head.", "lm_head.",
                "pooler.", "enc_mask_token", "pca_mean", "pca_basis")  # the last three: MAE ablation variants
# encoder extras some backbones have (BEiT relative position tables, layer scale): loaded where the target
# model has the key with the same shape, otherwise dropped and listed in the report
OPTIONAL_PATTERNS = (re.compile(r"blocks\.\d+\.attn\.relative_position_(bias_table|index)$"),
                     re.compile(r"blocks\.\d+\.ls[12]\.gamma$"), re.compile(r"rel_pos_bias\..+"))
# plain (non-code) types some public checkpoints pickle besides tensors (DINO saves its argparse ``args``)
SAFE_GLOBALS = [argparse.Namespace]




def load_file(path: str | Path, map_location: str = "cpu") -> dict:
    """``torch.load`` with ``weights_only=True``; any failure becomes a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        return _load_safetensors(path, path.read_bytes())
    return _torch_load(path, path, map_location)


def _torch_load(path: Path, source, map_location: str) -> dict:
    """``torch.load(weights_only=True)``; every failure (a pickle that would run code, garbage, a truncated or
    corrupt file) is a CheckpointError naming ``path``."""
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            obj = torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = _unpickler_reason(e)
        if "GLOBAL" not in str(e):  # no refused global: not a pickle of code, just not a weights file
            raise CheckpointError(f"cannot read checkpoint {path}: not a torch weights file, or corrupt "
                                  f"({reason[:200]})") from None
        raise CheckpointError(f"refusing {path}: it is not a plain weights file; loading it would run code or build "
                              f"objects other than tensors ({reason})") from None
    except Exception as e:  # noqa: BLE001 - torch raises KeyError, IndexError, RuntimeError, ... on garbage
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt ({type(e).__name__}: "
                              f"{first[:200]})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    return obj


def hash_file(path: str | Path) -> Path:
    """Where the sha256 of ``path``'s bytes is recorded when it is saved: ``<path>.sha256`` beside it."""
    return Path(f"{path}.sha256")


def record_sha256(path: str | Path, digest: str | None = None) -> None:
    """Record the sha256 of ``path`` (hashed here unless ``digest`` is given) in ``hash_file(path)``."""
    from .meta import sha256

    target = hash_file(path)
    tmp = temp_name(target)
    try:
        tmp.write_text((digest or sha256(path)) + "\n")
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SaveError(f"could not save {target}: {e.strerror or e} ({free_space(target.parent)})") from None


def check_sha256(path: str | Path, digest: str | None = None) -> bool:
    """Whether ``path`` matches the sha256 recorded at its save (True when none is recorded); a mismatch raises a
    CheckpointError naming the file. ``digest``: the hash of the bytes when the caller already has it."""
    from .meta import sha256

    recorded = hash_file(path)
    if not recorded.is_file():
        return True
    want = recorded.read_text().strip()
    if (digest or sha256(path)) != want:
        raise CheckpointError(f"checkpoint {path} is corrupt: its bytes differ from the sha256 recorded when it was "
                              f"saved ({recorded})")
    return True


def temp_name(path: str | Path) -> Path:
    """The temporary name of ``path`` for this process, ``.<name>.tmp<pid>`` beside it: two processes never share
    one, and one left by a killed process is known by its pid (``engine.outdir.remove_stale_temp_files``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def free_space(folder: str | Path) -> str:
    """The free space of the file system holding ``folder``, e.g. ``'12.0 MB free'``."""
    try:
        return f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free on that file system"
    except OSError:
        return "free space unknown"


def save_file(obj, path: str | Path) -> Path:
    """``torch.save`` to this process's temporary name, then rename: ``path`` holds a whole file or its old one.

    On any failure the temporary file is removed; a failed write (a full disk, a quota, a read-only folder: torch
    reports some as ``RuntimeError: ... unexpected pos``) raises a one-line ``SaveError`` naming the file and the
    free space left."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if not isinstance(e, (OSError, RuntimeError)):
            raise
        reason = (e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0] if str(e)
                  else type(e).__name__)
        raise SaveError(f"could not save {path}: {reason} ({free_space(path.parent if path.parent.is_dir() else '.')}"
                        f"); the file is left as it was") from None
    return path


# --- one read per transfer: file dict, format and sha256 from the same bytes --------------------------------------

TRAINING_STATE_KEYS = ("optimizer", "scaler", "lr_scheduler")  # never needed to initialise a model: not kept


@dataclass
class CheckpointFile:
    """A checkpoint read once: its path, the sha256 of its bytes, its format and its dict (training state left out)."""
    path: str
    sha256: str
    format: str
    obj: dict


def read_checkpoint(path: str | Path, expected: dict | None = None, name: str | None = None) -> CheckpointFile:
    """Read ``path`` once: hash the bytes and load them (``weights_only=True``); the format is detected.

    ``expected``: hashes its publisher states (``{"sha256": prefix, "md5": prefix}``, from ``hub.Source``),
    checked on the same bytes; a mismatch raises naming the file, ``name`` (the ``--ckpt`` it was given as), the
    expected and the actual hash."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    check_sha256(path, digest)
    for algo, prefix in (expected or {}).items():
        actual = digest if algo == "sha256" else hashlib.new(algo, data).hexdigest()
        if not actual.startswith(prefix.lower()):
            raise CheckpointError(f"refusing {path} ({name or path}): {algo} mismatch, expected {prefix}... "
                                  f"(published), actual {actual}; the file is corrupt or not the released one: "
                                  f"delete it and fetch it again")
    obj = _load_safetensors(path, data) if path.suffix == ".safetensors" else _torch_load(path, io.BytesIO(data), "cpu")
    del data
    try:
        fmt = detect_format(obj)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return CheckpointFile(str(path), digest, fmt, {k: v for k, v in obj.items() if k not in TRAINING_STATE_KEYS})


def _unpickler_reason(e: Exception) -> str:
    """The line of torch's weights_only error that names the refused global, e.g. 'Unsupported global: exec'."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    hit = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0] if lines else type(e).__name__)
    hit = hit.replace("WeightsUnpickler error: ", "")
    return re.sub(r"\x1b\[[0-9;]*m", "", hit).split(". Please use")[0]


def _load_safetensors(path: Path, data: bytes) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load as load_st

    try:
        return load_st(data)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"cannot read safetensors file {path}: {e}") from None


@dataclass
class Format:
    name: str
    detect: Callable[[dict], bool]  # raw file dict -> is this format?
    convert: Callable[..., dict]  # raw file dict (, branch=...) -> state dict in mae-bench key names (+ leftovers)


class ConvertedState(dict):
    """A converted state dict plus ``notes``: what the converter changed or filled in (for the report)."""

    def __init__(self, *args, notes: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes = list(notes or [])
        self.relative_positions_only = False  # positions live only in relative tables (BEiT): pos_embed is zeros


FORMATS: list[Format] = []


def register_format(name: str, detect: Callable[[dict], bool], convert: Callable[..., dict],
                    before: str | None = None) -> None:
    """Formats are tried in order; ``before='timm'`` puts a new specific format in front of the generic ones."""
    fmt = Format(name, detect, convert)
    names = [f.name for f in FORMATS]
    FORMATS.insert(names.index(before) if before in names else len(FORMATS), fmt)


def _state(obj: dict) -> dict:
    for key in ("model", "state_dict", "module"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def _strip(prefix: str, sd: dict) -> dict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


# --- mae-bench, official MAE, timm / DeiT --------------------------------------------------------------------


def _is_mae_bench(obj: dict) -> bool:
    return isinstance(obj.get("meta"), dict) and obj["meta"].get("producer") == "mae-bench" and "model" in obj


def _has_timm_keys(obj: dict) -> bool:
    sd = _state(obj)
    return "patch_embed.proj.weight" in sd and any(k.startswith("blocks.0.attn.qkv") for k in sd)


def _is_mae_official(obj: dict) -> bool:
    """Official MAE pretraining files: ``{'model': ...}`` without a classifier (``_full`` adds the decoder)."""
    sd = obj.get("model")
    return isinstance(sd, dict) and _has_timm_keys(obj) and "head.weight" not in sd


# --- MoCo v3 ----------------------------------------------------------------------------------------------------


def _is_mocov3(obj: dict) -> bool:
    sd = obj.get("state_dict")
    return isinstance(sd, dict) and any(k.startswith(("module.base_encoder.", "base_encoder.")) for k in sd)


def _convert_mocov3(obj: dict, branch: str = "base") -> ConvertedState:
    """base_encoder (or ``branch='momentum'``) -> encoder; its ``head`` (projection MLP) -> ``projector.*``;
    the other encoder -> ``momentum_encoder.*``; the prediction MLP -> ``predictor.*``."""
    if branch not in ("base", "momentum"):
        raise CheckpointError(f"MoCo v3 branch must be 'base' or 'momentum', got {branch!r}")
    sd = {k.removeprefix("module."): v for k, v in obj["state_dict"].items()}
    keep, other = ("base_encoder.", "momentum_encoder.") if branch == "base" else ("momentum_encoder.", "base_encoder.")
    out = ConvertedState(notes=[f"MoCo v3 {branch} encoder"])
    for k, v in _strip(keep, sd).items():
        out["projector." + k[5:] if k.startswith("head.") else k] = v
    out.update({"momentum_encoder." + k: v for k, v in _strip(other, sd).items()})
    out.update({"predictor." + k: v for k, v in _strip("predictor.", sd).items()})
    return out


# --- DINO -------------------------------------------------------------------------------------------------------


def _is_dino(obj: dict) -> bool:
    return isinstance(obj.get("teacher"), dict) and isinstance(obj.get("student"), dict)


def _convert_dino(obj: dict, branch: str = "teacher") -> ConvertedState:
    """``teacher`` (default) or ``student`` backbone -> encoder; the DINO head -> ``dino_head.*``."""
    if branch not in ("teacher", "student"):
        raise CheckpointError(f"DINO branch must be 'teacher' or 'student', got {branch!r}")
    sd = {k.removeprefix("module."): v for k, v in obj[branch].items()}
    out = ConvertedState(_strip("backbone.", sd), notes=[f"DINO {branch}"])
    out.update({"dino_head." + k: v for k, v in _strip("head.", sd).items()})
    return out


# --- BEiT -------------------------------------------------------------------------------------------------------


def _is_beit(obj: dict) -> bool:
    return any(k.endswith("attn.q_bias") for k in _state(obj))


def _convert_beit(obj: dict) -> ConvertedState:
    """q_bias / v_bias -> fused qkv bias with a zero k bias; gamma_1/2 -> ls1/ls2.gamma (timm names);
    relative position tables kept under their names (optional keys); a shared table (``rel_pos_bias.*``,
    BEiT pretraining's ``use_shared_rel_pos_bias``) copied into every block's table, as BEiT's fine-tuning does.
    No absolute position embedding (BEiT's default) -> zeros, and the state is marked ``relative_positions_only``:
    ``load_encoder_state`` refuses it for a model with no relative position bias to take the tables."""
    sd = _state(obj)
    out = ConvertedState()
    for k, v in sd.items():
        if k.endswith("attn.q_bias"):
            base = k[: -len("q_bias")]
            out[base + "qkv.bias"] = torch.cat([v, torch.zeros_like(v), sd[base + "v_bias"]])
        elif k.endswith("attn.v_bias") or k.startswith("rel_pos_bias."):
            continue
        elif re.search(r"\.gamma_[12]$", k):
            out[re.sub(r"gamma_([12])$", r"ls\1.gamma", k)] = v
        else:
            out[k] = v
    shared = sd.get("rel_pos_bias.relative_position_bias_table")
    if shared is not None:
        blocks = sorted({int(m[1]) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))})
        for i in blocks:
            out[f"blocks.{i}.attn.relative_position_bias_table"] = shared.clone()
        out.notes.append(f"shared relative position bias copied into the tables of {len(blocks)} blocks")
    if "pos_embed" not in out:
        index = next((v for k, v in sd.items() if k.endswith("relative_position_index")), None)
        if index is not None and "cls_token" in sd:
            out["pos_embed"] = torch.zeros(1, index.shape[0], sd["cls_token"].shape[-1])
            out.relative_positions_only = True
            out.notes.append("no absolute pos_embed in the file (relative positions only): zeros")
    return out


# --- mmpretrain -------------------------------------------------------------------------------------------------

MMPRETRAIN_RULES = [(re.compile(p), r) for p, r in (  # first match wins
    (r"^patch_embed\.projection\.", "patch_embed.proj."),
    (r"^layers\.(\d+)\.attn\.gamma1\.weight$", r"blocks.\1.ls1.gamma"),  # layer scale (LayerScale.weight)
    (r"^layers\.(\d+)\.ffn\.gamma2\.weight$", r"blocks.\1.ls2.gamma"),
    (r"^layers\.(\d+)\.ln1\.", r"blocks.\1.norm1."),
    (r"^layers\.(\d+)\.ln2\.", r"blocks.\1.norm2."),
    (r"^layers\.(\d+)\.attn\.", r"blocks.\1.attn."),
    (r"^layers\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp.fc1."),
    (r"^layers\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.mlp.fc2."),
    (r"^ln1\.", "norm."),  # final norm
    (r"^ln2\.", "fc_norm."),  # norm after average pooling (out_type='avg_featmap')
)]


def _is_mmpretrain(obj: dict) -> bool:
    return any(k.startswith("backbone.layers.0.ln1") for k in _state(obj))


def _convert_mmpretrain(obj: dict) -> ConvertedState:
    """``backbone.*`` renamed to timm names; MAE's ``neck.*`` decoder -> ``decoder_*`` / ``mask_token``."""
    sd = _state(obj)
    out = ConvertedState()
    for k, v in _strip("backbone.", sd).items():
        for pattern, repl in MMPRETRAIN_RULES:
            if pattern.search(k):
                k = pattern.sub(repl, k)
                break
        out[k] = v
    for k, v in _strip("neck.", sd).items():
        out[k if k.startswith(DECODER_PREFIXES) else "decoder_" + k] = v
    out.update({"head." + k.removeprefix("layers.head."): v for k, v in _strip("head.", sd).items()})
    return out


# --- Hugging Face ViT / ViTMAE ----------------------------------------------------------------------------------

HF_RULES = [(re.compile(p), r) for p, r in (
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^encoder\.layer\.(\d+)\.layernorm_before\.", r"blocks.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.layernorm_after\.", r"blocks.\1.norm2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"blocks.\1.mlp.fc2."),
    (r"^layernorm\.", "norm."),
    (r"^classifier\.", "head."),
)]
HF_QKV = re.compile(r"^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$")


def _hf_state(obj: dict) -> dict:
    sd = _state(obj)
    return {k.removeprefix("vit."): v for k, v in sd.items()}


def _is_hf(obj: dict) -> bool:
    return any(HF_QKV.match(k) for k in _hf_state(obj))


def _convert_hf(obj: dict) -> ConvertedState:
    """Separate query / key / value -> fused ``attn.qkv`` (q, k, v order); ViTMAE ``decoder.*`` -> decoder keys."""
    sd = _hf_state(obj)
    out, qkv = ConvertedState(notes=["HF ViT LayerNorm eps is 1e-12 (config); the encoder uses 1e-6"]), {}
    for k, v in sd.items():
        m = HF_QKV.match(k)
        if m:
            qkv.setdefault((m[1], m[3]), {})[m[2]] = v
            continue
        if k.startswith("decoder."):
            k = k.removeprefix("decoder.")
            out[k if k.startswith(DECODER_PREFIXES) else "decoder_" + k] = v
            continue
        for pattern, repl in HF_RULES:
            if pattern.search(k):
                k = pattern.sub(repl, k)
                break
        out[k] = v
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise CheckpointError(f"HF layer {layer} has {sorted(parts)} {kind}s; need query, key and value")
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out


register_format("mae-bench", _is_mae_bench, lambda obj: ConvertedState(obj["model"]))
register_format("mocov3", _is_mocov3, _convert_mocov3)
register_format("dino", _is_dino, _convert_dino)
register_format("beit", _is_beit, _convert_beit)
register_format("mmpretrain", _is_mmpretrain, _convert_mmpretrain)
register_format("hf", _is_hf, _convert_hf)
register_format("mae-official", _is_mae_official, lambda obj: ConvertedState(obj["model"]))
register_format("timm", _has_timm_keys, lambda obj: ConvertedState(_state(obj)))


def detect_format(obj: dict) -> str:
    for fmt in FORMATS:
        if fmt.detect(obj):
            return fmt.name
    sample = ", ".join(list(_state(obj))[:6])
    raise CheckpointError(f"unknown checkpoint format (first keys: {sample}); known: "
                          f"{', '.join(f.name for f in FORMATS)}")


def convert(obj: dict, branch: str | None = None, fmt: str | None = None) -> tuple[str, dict]:
    """-> (format name, state dict in mae-bench key names; a ``ConvertedState`` with ``notes``).

    ``fmt``: the format already detected (``CheckpointFile.format``), else it is detected here.
    ``branch`` picks the network of two-network files: DINO ``teacher`` (default) / ``student``,
    MoCo v3 ``base`` (default) / ``momentum``.
    """
    name = fmt or detect_format(obj)
    fmt = next(f for f in FORMATS if f.name == name)
    if branch is not None and name not in ("dino", "mocov3"):
        raise CheckpointError(f"branch={branch!r} given, but a {name} checkpoint holds one network")
    state = fmt.convert(obj, branch) if branch is not None else fmt.convert(obj)
    return name, state if isinstance(state, ConvertedState) else ConvertedState(state)


# --- what a file says about how it was trained -------------------------------------------------------------------

METHOD_OF_FORMAT = {"mocov3": "mocov3", "dino": "dino", "beit": "beit", "mae-official": "mae"}
# their training code saves the 0-based index of the epoch just finished (official MAE, BEiT and DeiT's
# ``save_model``: ``'epoch': epoch``, resumed at ``epoch + 1``); MoCo v3 and DINO save ``epoch + 1``
LAST_EPOCH_INDEX = ("mae-official", "beit", "timm")


def trained_by(obj: dict, fmt: str) -> str | None:
    """The pretraining method the file itself tells; None where its layout cannot (plain timm, HF, mmpretrain).

    A mae-bench pretraining file names its method; a mae-bench classifier passes on the labels of the checkpoint
    it was trained from. DeiT's released layout, ``{model}`` with a cls-token classifier (``head`` after
    ``norm``, no ``fc_norm``), is supervised."""
    if fmt == "mae-bench":
        config = obj.get("config") if isinstance(obj.get("config"), dict) else {}
        return (config.get("init_labels") or {}).get("pretrain_method") or config.get("method")
    if fmt == "timm":
        sd = obj.get("model")
        deit = isinstance(sd, dict) and "head.weight" in sd and "norm.weight" in sd
        return "supervised" if deit and not any(k.startswith("fc_norm.") for k in sd) else None
    return METHOD_OF_FORMAT.get(fmt)


def epochs_completed(obj: dict, fmt: str) -> int | None:
    """Epochs the file's training had completed, from its own ``epoch`` entry; None when it has none."""
    config = obj.get("config") if isinstance(obj.get("config"), dict) else {}
    if fmt == "mae-bench" and config.get("init_labels"):
        return config["init_labels"].get("pretrain_epochs")
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    epoch = meta.get("epoch") if fmt == "mmpretrain" else obj.get("epoch")  # mmengine: epochs completed
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        return None
    return epoch + 1 if fmt in LAST_EPOCH_INDEX else epoch


@dataclass
class LoadReport:
    source: str
    format: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: file shape vs model shape"
    resampled: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # decoder / head / baseline-head keys of the file
    dropped: list[str] = field(default_factory=list)  # optional encoder extras the model has no place for
    notes: list[str] = field(default_factory=list)  # what the converter changed or filled in

    def summary(self) -> str:
        parts = [f"{self.source} ({self.format})"]
        for label in ("missing", "unexpected", "mismatched", "resampled", "dropped", "ignored", "notes"):
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


def _square_side(rows: int) -> int | None:
    """Side s of a BEiT relative table with (2s-1)^2 + 3 rows (offsets + 3 cls entries), else None."""
    d = int(round((rows - 3) ** 0.5))
    return (d + 1) // 2 if d * d == rows - 3 and d % 2 else None


def _fit_relative_table(key: str, table: torch.Tensor, target: torch.Tensor, report: LoadReport) -> torch.Tensor:
    """A BEiT relative position table for another window: the offset part resampled bicubically, as BEiT's own
    fine-tuning code does; the 3 cls rows kept. Returns ``table`` unchanged when it cannot be fitted."""
    src, dst = _square_side(table.shape[0]), _square_side(target.shape[0])
    if (table.ndim != 2 or target.ndim != 2 or table.shape[1] != target.shape[1] or src is None or dst is None
            or not key.endswith("relative_position_bias_table")):
        return table
    heads = table.shape[1]
    grid = table[:-3].T.reshape(1, heads, 2 * src - 1, 2 * src - 1)
    grid = torch.nn.functional.interpolate(grid, size=(2 * dst - 1, 2 * dst - 1), mode="bicubic", align_corners=False)
    report.resampled.append(f"{key} {tuple(table.shape)} -> {tuple(target.shape)}")
    return torch.cat([grid.reshape(heads, -1).T, table[-3:]])


def is_optional(key: str) -> bool:
    return any(p.search(key) for p in OPTIONAL_PATTERNS)


def match_state(model_state: dict, state: dict, report: LoadReport, allowed_missing: Callable[[str], bool] = None,
                key_map: Callable[[str], str | None] = None) -> dict:
    """Map ``state`` (mae-bench names) onto ``model_state``'s keys, filling ``report``; raises on a misfit.

    Returns the tensors to load (model key -> tensor)."""
    mapped = {}
    for k, v in state.items():
        if is_optional(k):
            tk = key_map(k) if key_map else k
            if tk is not None and tk in model_state and tuple(model_state[tk].shape) != tuple(v.shape):
                v = _fit_relative_table(k, v, model_state[tk], report)
            if tk is not None and tk in model_state and tuple(model_state[tk].shape) == tuple(v.shape):
                mapped[tk] = v
            else:
                report.dropped.append(k)
        elif not k.startswith(ENCODER_PREFIXES):
            (report.ignored if k.startswith(DECODER_PREFIXES + HEAD_PREFIXES + AUX_PREFIXES)
             else report.unexpected).append(k)
        elif (tk := key_map(k) if key_map else k) is not None:
            mapped[tk] = v
    _resample_if_needed(mapped, model_state, report)
    for k, v in mapped.items():
        if k not in model_state:
            report.unexpected.append(k)
        elif tuple(v.shape) != tuple(model_state[k].shape):
            report.mismatched.append(f"{k}: file {tuple(v.shape)} vs model {tuple(model_state[k].shape)}")
    allowed = allowed_missing or (lambda k: False)
    report.missing = [k for k in model_state if k not in mapped and not allowed(k) and not is_optional(k)]
    if report.unexpected or report.mismatched or report.missing:
        raise CheckpointError(f"checkpoint does not fit the model: {report.summary()}")
    return mapped


def open_checkpoint(source: CheckpointFile | str | Path) -> CheckpointFile:
    """A checkpoint already read (returned as it is), or a file read now (``read_checkpoint``)."""
    return source if isinstance(source, CheckpointFile) else read_checkpoint(source)


def load_encoder_state(model: torch.nn.Module, source: CheckpointFile | str | Path,
                       allowed_missing: Callable[[str], bool] = None, key_map: Callable[[str], str | None] = None,
                       branch: str | None = None) -> LoadReport:
    """Load a checkpoint of any known format into ``model``'s encoder part.

    ``source``: the checkpoint as ``read_checkpoint`` read it (the transfer tasks pass the file the pipeline read
    once), or a path to read now. The steps are separate: read and detect the format (``read_checkpoint``),
    convert to mae-bench keys (``convert``), match onto the model (``match_state``).

    ``key_map`` turns a mae-bench encoder key into the model's key (or None to drop it);
    ``allowed_missing(key)`` says which model keys may stay uninitialised (new in the task:
    heads, necks, relative positions). Decoder, classification-head and baseline-head keys
    (MoCo v3 projector / predictor / momentum encoder, DINO head) are ignored and listed in
    ``report.ignored``; optional extras (BEiT relative position tables, layer scale) load where
    the model has them (a relative table resampled to the model's window) and are listed in
    ``report.dropped`` otherwise; ``pos_embed`` is resampled to the model's grid; anything else left over,
    any missing key not allowed, or any shape mismatch raises a CheckpointError naming the keys
    and shapes. ``branch`` picks DINO teacher/student or MoCo v3 base/momentum.
    """
    ckpt = open_checkpoint(source)
    path = ckpt.path
    try:
        fmt, state = convert(ckpt.obj, branch, ckpt.format)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    report = LoadReport(str(path), fmt, notes=list(getattr(state, "notes", [])))
    mapped = match_state(model.state_dict(), state, report, allowed_missing, key_map)
    if getattr(state, "relative_positions_only", False) and not any("relative_position_bias_table" in k
                                                                     for k in mapped):
        raise CheckpointError(
            f"{path}: this {fmt} checkpoint has no absolute position embedding, its positions live only in relative "
            f"position bias tables, and {type(model).__name__} has no relative position bias table to take them: "
            f"refusing to transfer an encoder without any position information (use a backbone with relative "
            f"position bias, e.g. MAEViTSeg with use_rel_pos_bias=True)")
    model.load_state_dict(mapped, strict=False)
    return report


def encoder_for_state(state: dict) -> torch.nn.Module:
    """A plain ``VisionTransformer`` shaped like the encoder keys of ``state`` (for checking a conversion)."""
    from .models.vit import VisionTransformer

    for key in ("cls_token", "pos_embed", "patch_embed.proj.weight"):
        if key not in state:
            raise CheckpointError(f"converted state has no {key!r}; cannot infer the encoder shape")
    dim, patch = state["cls_token"].shape[-1], state["patch_embed.proj.weight"].shape[-1]
    depth = 1 + max(int(m[1]) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
    side = int(round((state["pos_embed"].shape[1] - 1) ** 0.5))
    mlp_ratio = state["blocks.0.mlp.fc1.weight"].shape[0] / dim if "blocks.0.mlp.fc1.weight" in state else 4.0
    in_chans = state["patch_embed.proj.weight"].shape[1]
    return VisionTransformer(img_size=side * patch, patch_size=patch, in_chans=in_chans, embed_dim=dim, depth=depth,
                             num_heads=1, mlp_ratio=mlp_ratio)
