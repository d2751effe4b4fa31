"""MAE models: ViT encoder variants, the masked autoencoder, fixed position embeddings."""
from .mae import (MODEL_NAMES, MaskedAutoencoderViT, create_mae, mae_vit_base_patch16, mae_vit_huge_patch14,
                  mae_vit_large_patch16, mae_vit_small_patch16, mae_vit_tiny_patch16, patchify, random_masking,
                  unpatchify)
from .pos_embed import resample_pos_embed, sincos_pos_embed_2d
from .vit import VARIANTS, Attention, Block, VisionTransformer, create_vit

TIMM_NAMES = {"tiny": "vit_tiny_patch16_224", "small": "vit_small_patch16_224", "base": "vit_base_patch16_224",
              "large": "vit_large_patch16_224", "huge": "vit_huge_patch14_224"}

__all__ = ["MODEL_NAMES", "MaskedAutoencoderViT", "create_mae", "mae_vit_tiny_patch16", "mae_vit_small_patch16",
           "mae_vit_base_patch16", "mae_vit_large_patch16", "mae_vit_huge_patch14", "patchify", "unpatchify",
           "random_masking", "sincos_pos_embed_2d", "resample_pos_embed", "VARIANTS", "Attention", "Block",
           "VisionTransformer", "create_vit", "TIMM_NAMES"]
