#!/usr/bin/env python
"""Write the expected per-parameter (lr multiplier, weight decay) tables of the dense recipes from the references.

    PYTHONPATH=$PWD .venv/bin/python tests/expected/make_fidelity_tables.py    # rewrites tests/expected/*_groups.json

The rules are restated here from the reference code, independently of ``backbones/layer_decay.py``:

- COCO: detectron2 ``get_default_optimizer_params`` (detectron2/solver/build.py) with the ViTDet configs'
  arguments (projects/ViTDet/configs/COCO/mask_rcnn_vitdet_{b,l}_100ep.py, configs/common/optim.py), lr factor
  ``get_vit_lr_decay_rate`` (detectron2/modeling/backbone/vit.py), facebookresearch/detectron2 @ 02b5c4e.
- ADE20K: mmseg ``LearningRateDecayOptimizerConstructor`` with ``get_layer_id_for_vit``
  (mmseg/engine/optimizers/layer_decay_optimizer_constructor.py, open-mmlab/mmsegmentation @ 4b76f27), with the
  arguments of configs/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py (@ e663aca).

Parameter names are ours (mmdet / mmseg models built from our configs on the meta device); the only translation
is the one the references' name tests need: mmseg calls the ViT blocks ``layers``, ours are ``blocks``; detectron2's
channel LayerNorm (``detectron2.layers.LayerNorm``, used by its neck and heads) is not an ``nn.LayerNorm``, and our
stand-in for it is ``backbones.vitdet.LayerNorm2d``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
TABLES = {  # file -> (config, reference rule, weight decay, layer decay, blocks)
    "coco_vit_b_groups.json": ("configs/coco/mask_rcnn_vit_b.py", "detectron2", 0.1, 0.7, 12),
    "coco_vit_l_groups.json": ("configs/coco/mask_rcnn_vit_l.py", "detectron2", 0.1, 0.8, 24),
    "ade20k_vit_b_groups.json": ("configs/ade20k/upernet_vit_b.py", "mmseg", 0.05, 0.65, 12),
    "ade20k_vit_l_groups.json": ("configs/ade20k/upernet_vit_l.py", "mmseg", 0.05, 0.95, 24),
}


def build_model(config: str) -> nn.Module:
    """The whole mmdet / mmseg model of ``config`` (a path under the repo), on the meta device (no memory)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.utils import import_modules_from_strings

    cfg = Config.fromfile(str(REPO / config))
    import_modules_from_strings(**cfg.custom_imports)
    scope = "mmdet" if "/coco/" in config else "mmseg"
    if scope == "mmdet":
        import mmdet.models  # noqa: F401  (registers mmdet's models)
        from mmdet.registry import MODELS
    else:
        import mmseg.models  # noqa: F401
        from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope), torch.device("meta"):
        return MODELS.build(cfg.model)


# ---------------------------------------------------------------- detectron2 (solver/build.py, backbone/vit.py)

D2_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.InstanceNorm1d,
            nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm, nn.LocalResponseNorm)


def d2_vit_lr_decay_rate(name: str, lr_decay_rate: float, num_layers: int) -> float:
    layer_id = num_layers + 1
    if name.startswith("backbone"):
        if ".pos_embed" in name or ".patch_embed" in name:
            layer_id = 0
        elif ".blocks." in name and ".residual." not in name:
            layer_id = int(name[name.find(".blocks."):].split(".")[2]) + 1
    return lr_decay_rate ** (num_layers + 1 - layer_id)


def d2_table(model: nn.Module, weight_decay: float, decay: float, num_layers: int) -> dict[str, list[float]]:
    """get_default_optimizer_params(weight_decay_norm=0.0, overrides={"pos_embed": {"weight_decay": 0.0}})."""
    from backbones.vitdet import LayerNorm2d

    overrides = {"pos_embed": {"weight_decay": 0.0}}
    out, memo = {}, set()
    for module_name, module in model.named_modules():
        for local, value in module.named_parameters(recurse=False):
            if not value.requires_grad or id(value) in memo:
                continue
            memo.add(id(value))
            name = f"{module_name}.{local}"
            hyper = {"lr": 1.0, "weight_decay": weight_decay}
            if isinstance(module, D2_NORMS) and not isinstance(module, LayerNorm2d):
                hyper["weight_decay"] = 0.0
            hyper["lr"] *= d2_vit_lr_decay_rate(name, decay, num_layers)
            hyper.update(overrides.get(local, {}))
            out[name] = [hyper["lr"], hyper["weight_decay"]]
    return out


# ---------------------------------------------------------------- mmseg (layer_decay_optimizer_constructor.py)


def mmseg_layer_id_for_vit(var_name: str, max_layer_id: int) -> int:
    if var_name in ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed"):
        return 0
    elif var_name.startswith("backbone.patch_embed"):
        return 0
    elif var_name.startswith("backbone.layers"):
        return int(var_name.split(".")[2]) + 1
    return max_layer_id - 1


def mmseg_table(model: nn.Module, weight_decay: float, decay: float, num_layers: int) -> dict[str, list[float]]:
    """LearningRateDecayOptimizerConstructor(paramwise_cfg=dict(num_layers=n, decay_rate=decay)) on an MAE backbone."""
    out = {}
    max_layer_id = num_layers + 2
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        wd = 0.0 if len(param.shape) == 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token") \
            else weight_decay
        layer_id = mmseg_layer_id_for_vit(name.replace("backbone.blocks.", "backbone.layers.", 1), max_layer_id)
        out[name] = [decay ** (max_layer_id - layer_id - 1), wd]
    return out


def make_table(config: str, rule: str, weight_decay: float, decay: float, num_layers: int) -> dict:
    model = build_model(config)
    table = (d2_table if rule == "detectron2" else mmseg_table)(model, weight_decay, decay, num_layers)
    ref = ("detectron2 solver/build.py get_default_optimizer_params + modeling/backbone/vit.py get_vit_lr_decay_rate"
           " @ 02b5c4e" if rule == "detectron2" else
           "mmsegmentation engine/optimizers/layer_decay_optimizer_constructor.py @ 4b76f27")
    return {"config": config, "reference": ref, "weight_decay": weight_decay, "layer_decay": decay,
            "num_layers": num_layers, "params": table}


def dump(table: dict) -> str:
    """JSON with one parameter per line (name: [lr multiplier, weight decay])."""
    head = {k: v for k, v in table.items() if k != "params"}
    rows = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in table["params"].items())
    return json.dumps(head, indent=1)[:-2] + ',\n "params": {\n' + rows + "\n }\n}\n"


def main() -> int:
    sys.path.insert(0, str(REPO))
    for name, args in TABLES.items():
        table = make_table(*args)
        (OUT / name).write_text(dump(table))
        print(f"{name}: {len(table['params'])} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
