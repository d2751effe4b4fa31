"""Layer-wise lr decay and the weight-decay rule of each dense recipe's reference, for mmdet / mmseg runs.

Registered in mmengine's root registry, so mmdet and mmseg configs both find it:

    optim_wrapper = dict(constructor="LayerDecayOptimWrapperConstructor",
                         paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.7, wd_rule="detectron2"), ...)

lr: parameters under ``backbone.`` get ``decay ** (num_layers + 1 - layer_id)`` (``mae_bench.engine.optim.layer_id``:
pos_embed / cls_token / patch_embed 0, block i i + 1, the rest num_layers + 1); necks and heads get 1. This equals
detectron2's ``get_vit_lr_decay_rate`` (detectron2/modeling/backbone/vit.py @ 02b5c4e) and mmseg's
``LearningRateDecayOptimizerConstructor`` with ``get_layer_id_for_vit`` (mmseg/engine/optimizers/
layer_decay_optimizer_constructor.py @ 4b76f27) exactly.

Weight decay, ``paramwise_cfg.wd_rule``:

- ``"detectron2"`` (COCO, ViTDet): ``get_default_optimizer_params`` (detectron2/solver/build.py @ 02b5c4e). Every
  parameter decays, biases included, except the parameters of normalisation modules when ``weight_decay_norm`` is
  not None (they get that value) and the parameters whose own name is a key of ``wd_overrides`` (ViT-B/L:
  ``{"pos_embed": 0.0}``; ViT-H's recipe sets ``weight_decay_norm=None`` and no overrides, so everything decays).
  detectron2's norm types are torch's BatchNorm / SyncBatchNorm / GroupNorm / InstanceNorm / LayerNorm /
  LocalResponseNorm; the channel LayerNorm of its neck and heads (``detectron2.layers.LayerNorm``) is not one of
  them, so our stand-in for it, ``LayerNorm2d`` (``LN2d``), decays too although it subclasses ``nn.LayerNorm``.
- ``"mmseg"`` (ADE20K): mmseg's constructor: no decay for 1-D parameters and names ending in ``.bias``; everything
  else decays, including ``backbone.pos_embed``, ``backbone.cls_token`` and the relative position tables (mmseg
  tests ``name in ('pos_embed', 'cls_token')`` against prefixed names, which never match).
- ``"mae"`` (default): ``mae_bench.engine.optim.no_weight_decay`` (no decay on 1-D parameters, biases, position
  embeddings, relative positions and tokens), the rule of the official MAE fine-tuning.
"""
from __future__ import annotations

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from mae_bench.engine.optim import layer_scale, no_weight_decay

# detectron2/solver/build.py get_default_optimizer_params: norm_module_types.
DETECTRON2_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.InstanceNorm1d,
                    nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm, nn.LocalResponseNorm)
WD_RULES = ("mae", "detectron2", "mmseg")


def _is_detectron2_norm(module: nn.Module) -> bool:
    from backbones.vitdet import LayerNorm2d  # detectron2.layers.LayerNorm is no nn.LayerNorm
    return isinstance(module, DETECTRON2_NORMS) and not isinstance(module, LayerNorm2d)


def detectron2_weight_decay(model: nn.Module, weight_decay: float, weight_decay_norm: float | None = 0.0,
                            overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Full parameter name -> weight decay under detectron2's ``get_default_optimizer_params`` rule."""
    overrides, out, seen = overrides or {}, {}, set()
    for module_name, module in model.named_modules():
        for local, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            wd = weight_decay_norm if weight_decay_norm is not None and _is_detectron2_norm(module) else weight_decay
            out[f"{module_name}.{local}" if module_name else local] = overrides.get(local, wd)
    return out


def mmseg_weight_decay(name: str, param, weight_decay: float) -> float:
    """mmseg ``LearningRateDecayOptimizerConstructor``: 0 for 1-D parameters and biases, else ``weight_decay``."""
    return 0.0 if param.ndim == 1 or name.endswith(".bias") else weight_decay


def weight_decays(model: nn.Module, cfg: dict, base_wd: float) -> dict[str, float]:
    """Parameter name -> weight decay for ``paramwise_cfg`` ``cfg`` (``wd_rule`` and its options)."""
    rule = cfg.get("wd_rule", "mae")
    if rule not in WD_RULES:
        raise ValueError(f"paramwise_cfg.wd_rule={rule!r} is not one of {WD_RULES}")
    if rule == "detectron2":
        return detectron2_weight_decay(model, base_wd, cfg.get("weight_decay_norm", 0.0), cfg.get("wd_overrides"))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if rule == "mmseg":
        return {n: mmseg_weight_decay(n, p, base_wd) for n, p in named}
    return {n: 0.0 if no_weight_decay(n, p) else base_wd for n, p in named}


@OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """paramwise_cfg keys: ``num_layers`` (transformer blocks), ``layer_decay_rate``, ``prefix`` ('backbone.'),
    ``wd_rule`` ('mae' | 'detectron2' | 'mmseg'), and for 'detectron2' ``weight_decay_norm`` (0.0; None = decay
    norms too) and ``wd_overrides`` ({parameter's own name: weight decay})."""

    def add_params(self, params: list, module, prefix: str = "", is_dcn_module=None) -> None:
        cfg = self.paramwise_cfg
        num_layers, decay = int(cfg["num_layers"]), float(cfg["layer_decay_rate"])
        bb_prefix = cfg.get("prefix", "backbone.")
        wds = weight_decays(module, cfg, self.base_wd)
        groups: dict[tuple[float, float], dict] = {}
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            scale, wd = layer_scale(name, num_layers, decay, prefix=bb_prefix), wds[name]
            g = groups.setdefault((scale, wd), {"params": [], "lr": self.base_lr * scale, "weight_decay": wd,
                                                "lr_scale": scale})
            g["params"].append(p)
        params.extend(groups.values())
