"""Mixed precision: one rule for every loop (pretraining, fine-tuning, linear probing, frozen features).

Modes (the ``amp`` config key and flag):

- ``bf16``: bf16 autocast, no loss scaler (bf16 has fp32's exponent range). The default on GPU.
- ``fp16``: fp16 autocast plus a dynamic loss scaler, as the official MAE scripts train
  (``torch.cuda.amp.autocast()`` in engine_pretrain.py / engine_finetune.py and
  ``NativeScalerWithGradNormCount`` in util/misc.py, facebookresearch/mae @ efb2a80). For exact reproduction.
- ``fp32``: no autocast.
- ``auto``: ``bf16`` on CUDA, ``fp32`` elsewhere.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError

AMP_MODES = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(mode: str, device: str | torch.device) -> str:
    """``mode`` with ``auto`` replaced by what it means on ``device`` -> fp32 | bf16 | fp16."""
    if mode not in AMP_MODES:
        raise ConfigError(f"amp={mode!r} is not one of {', '.join(AMP_MODES)}")
    if mode != "auto":
        return mode
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


def amp_dtype(mode: str, device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype of ``mode`` on ``device`` (None: full precision)."""
    return _DTYPES[resolve_amp(mode, device)]


def autocast(mode: str, device: str | torch.device):
    """The autocast context of ``mode``; fp32 disables any enclosing autocast."""
    kind, dtype = torch.device(device).type, amp_dtype(mode, device)
    return torch.autocast(kind, dtype=dtype) if dtype else torch.autocast(kind, enabled=False)


def grad_scaler(mode: str, device: str | torch.device) -> torch.amp.GradScaler | None:
    """A dynamic loss scaler for fp16 (torch's defaults, as the official ``NativeScaler``), None otherwise."""
    return torch.amp.GradScaler(torch.device(device).type) if resolve_amp(mode, device) == "fp16" else None
