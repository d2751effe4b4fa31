"""MAE at the demo budget (decoder 128-d, 2 blocks; norm_pix_loss; mask 0.75). Expect the loss to fall
from ~1.0 towards ~0.5 and recognisable reconstructions in vis/."""
_base_ = ["./_base_.py"]
method = "mae"
norm_pix_loss = True
decoder_embed_dim = 128
decoder_depth = 2
decoder_num_heads = 4
blr = 2e-3  # lr 2.5e-4 at batch 32, the same for every method; above the ImageNet recipes: ~400 steps in all
