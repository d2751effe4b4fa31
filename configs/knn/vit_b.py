"""ImageNet-1K weighted k-NN of a frozen ViT-B/16 (dinov2 eval/knn.py, commit 81b2b64).

Run: tools/transfer.py --task knn --ckpt PATH --config configs/knn/vit_b.py --data-root /datasets/imagenet
Recipe: eval transform (resize 256 bicubic, centre crop 224) for train and val, cls token and mean patch token
of the last block after the final norm, L2-normalised, softmax(sim / 0.07) weighted vote, k 10/20/100/200.
Features are cached per (checkpoint, dataset, transform) under cache_dir. Expect (GPU): one pass over the
1.28 M train images + 50 k val images (~10 min on one H100 for ViT-B in bf16); MAE ViT-B k-NN top-1 is low
(~30-35% reported for the cls token in the efficient-probing logs of MAE ViT-B, logs/mae_base/knn.txt),
DINO ViT-B/16 76.1 (DINO paper, 20-NN).
"""
model = "vit-b"
input_size = 224
eval_batch_size = 256
num_workers = 10
nb_knn = [10, 20, 100, 200]
temperature = 0.07
