"""Layer-wise lr decay for mmdet / mmseg runs, from the one pure function ``mae_bench.engine.optim.layer_id``.

Registered in mmengine's root registry, so mmdet and mmseg configs both find it:

    optim_wrapper = dict(constructor="LayerDecayOptimWrapperConstructor",
                         paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.7), ...)

Parameters under ``backbone.`` get ``decay ** (num_layers + 1 - layer_id)``; necks and heads get 1.
No weight decay on 1-D parameters, biases, position embeddings, relative positions and tokens.
"""
from __future__ import annotations

from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from mae_bench.engine.optim import layer_scale, no_weight_decay


@OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """paramwise_cfg keys: ``num_layers`` (transformer blocks), ``layer_decay_rate``, ``prefix`` ('backbone.')."""

    def add_params(self, params: list, module, prefix: str = "", is_dcn_module=None) -> None:
        cfg = self.paramwise_cfg
        num_layers, decay = int(cfg["num_layers"]), float(cfg["layer_decay_rate"])
        bb_prefix = cfg.get("prefix", "backbone.")
        groups: dict[tuple[float, float], dict] = {}
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            scale = layer_scale(name, num_layers, decay, prefix=bb_prefix)
            wd = 0.0 if no_weight_decay(name, p) else self.base_wd
            g = groups.setdefault((scale, wd), {"params": [], "lr": self.base_lr * scale, "weight_decay": wd,
                                                "lr_scale": scale})
            g["params"].append(p)
        params.extend(groups.values())
