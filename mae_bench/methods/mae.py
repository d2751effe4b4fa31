"""MAE pretraining: the masked autoencoder of ``mae_bench.models.mae`` trained on its reconstruction loss."""
from __future__ import annotations

from ..data.fast import to_model_input
from ..models import create_mae
from .base import Method, PretrainConfig, model_device


def build_mae(cfg: PretrainConfig) -> Method:
    model = create_mae(cfg.model, img_size=cfg.input_size, patch_size=cfg.patch_size, norm_pix_loss=cfg.norm_pix_loss,
                       decoder_embed_dim=cfg.decoder_embed_dim, decoder_depth=cfg.decoder_depth,
                       decoder_num_heads=cfg.decoder_num_heads, mask_ratio=cfg.mask_ratio,
                       drop_path_rate=cfg.drop_path)

    def step(model, batch):
        imgs = to_model_input(batch[0], model_device(model), cfg.input_size)
        loss, _, _ = model(imgs, mask_ratio=cfg.mask_ratio)
        return loss, imgs.shape[0]

    return Method(model=model, step=step, no_decay_names=())  # timm 0.3.2 add_weight_decay, as main_pretrain.py
