"""The one table of ViT sizes and the one grammar for naming them.

A size's canonical name is timm's architecture name without its image size: ``vit_base_patch16`` (timm names a
pretrained model ``architecture.tag``, ``vit_base_patch16_224.mae``; the architecture is what says the size). The
other names a size goes by are aliases, each kept because a caller types it today (``aliases`` says which), and
``ALIASES`` is the only place a name is looked up. ``model_size`` accepts exactly the names of ``ALIASES`` (or a
width, as an mm config's backbone ``embed_dim`` gives it) and refuses anything else with the list of them.
"""
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

    @property
    def name(self) -> str:
        """The canonical name, timm's architecture without the image size: ``vit_base_patch16``."""
        return f"vit_{self.variant}_patch{self.patch_size}"


MODEL_SIZES: dict[str, ModelSize] = {s.label: s for s in (
    # the demo's CPU-sized ViT for 32 px images (not a published size)
    ModelSize("vit-micro", "micro", "mae_vit_micro_patch8", None, 128, 6, 4, 8, None),
    ModelSize("vit-t", "tiny", "mae_vit_tiny_patch16", "vit_tiny_patch16_224", 192, 12, 3, 16, None),
    ModelSize("vit-s", "small", "mae_vit_small_patch16", "vit_small_patch16_224", 384, 12, 6, 16, None),
    ModelSize("vit-b", "base", "mae_vit_base_patch16", "vit_base_patch16_224", 768, 12, 12, 16, "vit_b"),
    ModelSize("vit-l", "large", "mae_vit_large_patch16", "vit_large_patch16_224", 1024, 24, 16, 16, "vit_l"),
    ModelSize("vit-h", "huge", "mae_vit_huge_patch14", "vit_huge_patch14_224", 1280, 32, 16, 14, "vit_h"),
)}


def aliases(size: ModelSize) -> tuple[str, ...]:
    """The names besides the canonical one that mean ``size``, and who types each."""
    return (
        size.label,  # records' and tables' ``model``; ``--model`` of tools/transfer.py and the transfer configs
        size.variant,  # ``create_vit`` / ``create_classifier`` (``base``)
        size.mae,  # the MAE factory: ``--model`` of tools/pretrain.py and tools/benchmark.py, configs/pretrain
        f"mae_vit_{size.variant}",  # the MAE factory without its patch suffix
        *((size.timm,) if size.timm else ()),  # timm's model (the architecture at 224 px)
    )


def _name_table() -> dict[str, ModelSize]:
    """Every accepted name -> its size; a name that would mean two sizes is a bug of the table above."""
    table: dict[str, ModelSize] = {}
    for size in MODEL_SIZES.values():
        for name in (size.name, *aliases(size)):
            if table.setdefault(name, size) is not size:
                raise AssertionError(f"model name {name!r} means both {table[name].label} and {size.label}")
    return table


ALIASES: dict[str, ModelSize] = _name_table()


def accepted_names() -> str:
    """The list a refusal gives: each canonical name with its aliases, then the widths."""
    rows = [f"{s.name} (or {', '.join(aliases(s))})" for s in MODEL_SIZES.values()]
    return "; ".join(rows) + f"; or a width: {', '.join(str(s.embed_dim) for s in MODEL_SIZES.values())}"


def model_size(name: str | int) -> ModelSize:
    """The size called ``name``: a name of ``ALIASES`` (canonical ``vit_base_patch16``, or an alias such as
    ``vit-b``, ``base``, ``mae_vit_base_patch16``), or a width (``768``, as an mm config's backbone ``embed_dim``
    gives it). A ``ConfigError`` listing the accepted names otherwise."""
    if isinstance(name, int) and not isinstance(name, bool):
        found = next((s for s in MODEL_SIZES.values() if s.embed_dim == name), None)
    else:
        found = ALIASES.get(name) if isinstance(name, str) else None
    if found is None:
        raise ConfigError(f"unknown model {name!r}; accepted: {accepted_names()}")
    return found


def size_label(name: str, key: str) -> str:
    """The record label (``vit-b``) of a size named in any accepted spelling; the refusal names ``key``, the flag or
    config key it came from."""
    try:
        return model_size(name).label
    except ConfigError as e:
        raise ConfigError(f"{key}={name!r}: {e}") from None
