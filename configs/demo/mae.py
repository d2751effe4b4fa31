"""MAE at the demo budget (decoder 128-d, 2 blocks, 4 heads; norm_pix_loss; mask 0.75, so 4 of the 16 patches
are visible). The loss (epoch mean) falls from ~1.17 to ~0.67 in 20 epochs of the 2400-scene pool; the
reconstructions in vis/ recover colours and coarse shapes."""
_base_ = ["./_base_.py"]
method = "mae"
norm_pix_loss = True
decoder_embed_dim = 128
decoder_depth = 2
decoder_num_heads = 4
