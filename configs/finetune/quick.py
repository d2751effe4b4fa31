"""Quick fine-tuning for tests and the demo: the mae_vit_tiny_patch16 encoder geometry (192-d, 12 blocks,
3 heads, patch 16) at 64 px on the synthetic scenes, a schedule and augmentation that learn at this scale.

Run: tools/transfer.py --task finetune --ckpt work_dirs/pretrain_quick/checkpoint-last.pth --device cpu
     (no --data-root: a synthetic ImageFolder set of 128 scenes is generated under the work dir)
Expect: from random init, >= 90% top-1 on its own 24 training images (val = train; tests/test_learning.py;
        measured 100%, ~40 s on one CPU thread).

What differs from the full recipe (configs/finetune/_base_.py, official MAE FINETUNE.md): its regularisers are
tuned for 100 epochs over 1.28M images and keep any init at chance after a few hundred steps on a few hundred
images, so Mixup, CutMix, RandAug, random erasing, label smoothing and drop path are off; RandomResizedCrop keeps
scale 0.35-1 (mae_bench.data.CROP_SCALE: the dominant object stays the largest); layer decay 0.75, not 0.65 (at
0.65 the first of 12 blocks gets 0.6% of the head's lr); an absolute lr, not blr x batch / 256.
"""
_base_ = ["./_base_.py"]
model = "vit-t"
input_size = 64
epochs = 40
warmup_epochs = 3
lr = 1e-3
layer_decay = 0.75
drop_path = 0.0
batch_size = 8
effective_batch = None
augment = "rrc"
crop_scale = (0.35, 1.0)  # mae_bench.data.CROP_SCALE: the dominant object stays the largest (tests/test_synthetic.py)
aa = None
reprob = 0.0
mixup = 0.0
cutmix = 0.0
smoothing = 0.0
synthetic_num = 128
num_workers = 0
