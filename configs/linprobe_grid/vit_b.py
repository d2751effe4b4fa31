"""ImageNet-1K linear-head grid on a frozen ViT-B/16 (dinov2 eval/linear.py, commit 81b2b64).

Run: tools/transfer.py --task linprobe_grid --ckpt PATH --config configs/linprobe_grid/vit_b.py \
         --data-root /datasets/imagenet
Recipe: 10 epochs of 1250 iterations at batch 128 (one process; dinov2 runs 128 per GPU), RandomResizedCrop +
flip, one frozen forward per batch feeding 13 learning rates (1e-5 .. 0.1, x batch / 256) x 5 inputs (cls token
of the last 1 or 4 blocks, each with or without the last block's mean patch token, and the mean patch token alone)
= 65 heads; SGD momentum 0.9, cosine to 0; eval resize 256 / centre crop 224; record top1 = best head.
Expect: close to the official single-head linear probe for MAE ViT-B (67.8, --task linprobe), usually a little
above it with the avg inputs; 12.5k iterations of a ViT-B forward (~15 min on one H100 in bf16).
"""
model = "vit-b"
input_size = 224
batch_size = 128
eval_batch_size = 256
epochs = 10
iters_per_epoch = 1250
learning_rates = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]
n_last_blocks = [1, 4]
pools = ["cls", "avg", "cls_avg"]
num_workers = 10
