"""``checkpoint=``: how a ViT backbone that mmengine's Runner builds gets its pretrained encoder.

The Runner builds its own model from the config, whose values stay plain (it is dumped to the work dir), so the
config names the checkpoint by its path (``model.backbone.checkpoint``). The transfer pipeline has already read
that file once (``mae_bench.checkpoints.read_checkpoint``); ``hand_over`` gives the built backbone that read, so
``init_weights`` (called by ``Runner.train`` before the first iteration) loads it without reading the file again.
A backbone built outside the pipeline (a test, a user's own script) reads the path itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from mmengine.logging import print_log

from mae_bench.checkpoints import CheckpointFile, LoadReport, load_encoder_state
from mae_bench.errors import CheckpointError, ConfigError


def refuse_pretrained(owner: str, pretrained) -> None:
    """One name for the checkpoint of every dense backbone: ``pretrained=`` (mmseg's spelling) is refused."""
    if pretrained is not None:
        raise ConfigError(f"{owner}: pretrained={pretrained!r} is not a setting; give the checkpoint as "
                          f"checkpoint=PATH (model.backbone.checkpoint)")


class CheckpointInit:
    """Mixin of the mmengine ViT backbones: ``checkpoint`` (a path or None) loaded by ``load_checkpoint``.

    Subclasses say which model keys the checkpoint may lack (``allowed_missing``) and how an encoder key maps onto
    theirs (``key_map``, None: the same name)."""

    checkpoint: str | None = None
    _read: CheckpointFile | None = None  # the file as the pipeline read it (hand_over)

    def allowed_missing(self, key: str) -> bool:
        return False

    key_map: Callable[[str], str | None] | None = None

    def hand_over(self, ckpt: CheckpointFile) -> None:
        """Load ``ckpt`` (already read) instead of reading ``self.checkpoint`` again; it must be that file."""
        if not self.checkpoint or Path(ckpt.path).resolve() != Path(self.checkpoint).resolve():
            raise CheckpointError(f"{type(self).__name__}: the config's checkpoint={self.checkpoint!r} is not the "
                                  f"file read for this run ({ckpt.path})")
        self._read = ckpt

    def load_checkpoint(self) -> LoadReport | None:
        """Load the encoder of ``checkpoint`` into this backbone (None: nothing to load, the random init stays)."""
        if not self.checkpoint:
            print_log(f"{type(self).__name__}: random initialisation", logger="current")
            return None
        report = load_encoder_state(self, self._read or self.checkpoint, allowed_missing=self.allowed_missing,
                                    key_map=self.key_map)
        print_log(f"{type(self).__name__}: loaded {report.summary()}", logger="current")
        return report


def hand_over_checkpoint(model, ckpt: CheckpointFile | None) -> None:
    """Give the backbone of an mmengine model (wrapped by DDP or not) the checkpoint the pipeline read."""
    from mmengine.model import is_model_wrapper

    if ckpt is None:
        return
    inner = model.module if is_model_wrapper(model) else model
    backbone = getattr(inner, "backbone", None)
    if isinstance(backbone, CheckpointInit) and backbone.checkpoint:
        backbone.hand_over(ckpt)
