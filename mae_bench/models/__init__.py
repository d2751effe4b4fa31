"""MAE models: ViT encoder sizes, the masked autoencoder, fixed position embeddings."""
from .mae_vit import (
    MaskedAutoencoderViT,
    create_mae,
    mae_vit_base_patch16,
    mae_vit_huge_patch14,
    mae_vit_large_patch16,
    mae_vit_micro_patch8,
    mae_vit_small_patch16,
    mae_vit_tiny_patch16,
    patchify,
    random_masking,
    unpatchify,
)
from .pos_embed import resample_pos_embed, sincos_pos_embed_2d
from .sizes import ALIASES, MODEL_SIZES, ModelSize, model_size
from .vit import Attention, Block, VisionTransformer, create_vit

__all__ = ["ALIASES", "MODEL_SIZES", "ModelSize", "model_size", "MaskedAutoencoderViT", "create_mae",
           "mae_vit_micro_patch8", "mae_vit_tiny_patch16", "mae_vit_small_patch16", "mae_vit_base_patch16",
           "mae_vit_large_patch16", "mae_vit_huge_patch14", "patchify", "unpatchify", "random_masking",
           "sincos_pos_embed_2d", "resample_pos_embed", "Attention", "Block", "VisionTransformer", "create_vit"]
