"""MAE at the demo budget (decoder 128-d, 2 blocks, 4 heads; norm_pix_loss; mask 0.75). The loss falls from ~1.2
to ~0.6 in 10 epochs of the 1200-scene pool; the reconstructions in vis/ recover colours and coarse shapes."""
_base_ = ["./_base_.py"]
method = "mae"
norm_pix_loss = True
decoder_embed_dim = 128
decoder_depth = 2
decoder_num_heads = 4
