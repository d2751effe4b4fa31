"""The one table of ViT sizes: every name a size goes by (record label, ``create_vit`` variant, MAE factory, timm
model), its geometry and the stem of its recipe configs, with one lookup, ``model_size``."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class ModelSize:
    label: str  # the ``model`` of records and tables, and ``--model`` of the transfer tasks
    variant: str  # ``create_vit`` / ``create_classifier`` name
    mae: str  # MAE factory (``--model`` of pretraining)
    timm: str | None  # timm model with the same encoder keys and shapes (None: not a published size)
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    recipe: str | None  # stem of the recipe configs (``configs/finetune/vit_b.py``); None: no published recipe


MODEL_SIZES: dict[str, ModelSize] = {s.label: s for s in (
    # the demo's CPU-sized ViT for 32 px images (not a published size)
    ModelSize("vit-micro", "micro", "mae_vit_micro_patch8", None, 128, 6, 4, 8, None),
    ModelSize("vit-t", "tiny", "mae_vit_tiny_patch16", "vit_tiny_patch16_224", 192, 12, 3, 16, None),
    ModelSize("vit-s", "small", "mae_vit_small_patch16", "vit_small_patch16_224", 384, 12, 6, 16, None),
    ModelSize("vit-b", "base", "mae_vit_base_patch16", "vit_base_patch16_224", 768, 12, 12, 16, "vit_b"),
    ModelSize("vit-l", "large", "mae_vit_large_patch16", "vit_large_patch16_224", 1024, 24, 16, 16, "vit_l"),
    ModelSize("vit-h", "huge", "mae_vit_huge_patch14", "vit_huge_patch14_224", 1280, 32, 16, 14, "vit_h"),
)}


def model_size(name: str | int) -> ModelSize:
    """The size called ``name``: a label (``vit-b``), a variant (``base``), an MAE factory name with or without
    its patch suffix (``mae_vit_base_patch16``, ``mae_vit_base``), a timm name, or a width (``768``, as an mm
    config's backbone ``embed_dim`` gives it). A ``ConfigError`` naming the known labels otherwise."""
    for size in MODEL_SIZES.values():
        names = (size.label, size.variant, size.mae, f"mae_vit_{size.variant}", size.timm)
        if name in names or name == size.embed_dim:
            return size
    raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODEL_SIZES)} "
                   f"(or {', '.join(s.mae for s in MODEL_SIZES.values())})")
