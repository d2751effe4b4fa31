"""ImageNet-1K attentive probe (efficient probing, EP_32) on a frozen ViT-B/16.

Run: tools/transfer.py --task attentive --ckpt PATH --config configs/attentive/vit_b.py --data-root /datasets/imagenet
Reference: Psomas et al., arXiv 2506.10178, billpsomas/efficient-probing (commit b8f4fb8): their README command for
MAE ViT-B (main_linprobe.py --epochs 90 --optimizer lars --batch_size 1024 on 4 GPUs --cls_features ep) with
main_linprobe.py's defaults (blr 0.1, lr = blr x 4096 / 256, 10 warmup epochs, wd 0) and probe_heads.py's head
(EP with 32 queries -> BatchNorm1d(affine=False) -> Linear) on the last block's patch tokens after the norm.
Here one process with batch 4096 (same effective batch). Expect: MAE ViT-B ~75.5 top-1 (the paper; linear probe
67.8); 90 epochs of ViT-B forwards (GPU-days on one GPU: the cheapest honest number is fewer epochs, say so).
`--cfg-options num_queries=1` gives the single-query probe.
"""
model = "vit-b"
input_size = 224
batch_size = 4096
eval_batch_size = 256
epochs = 90
iters_per_epoch = None
num_queries = 32
optimizer = "lars"
blr = 0.1
weight_decay = 0.0
warmup_epochs = 10
num_workers = 10
