"""MAE ViT-H/14, 1600 epochs.

Run: tools/pretrain.sh 8 --config configs/pretrain/mae_vit_huge_1600e.py --data_path /datasets/imagenet
Expect: fine-tuned top-1 86.9 (87.8 at 448 px), linear probe 76.6, COCO AP box 56.7 (ViTDet).
"""
_base_ = ["./mae_vit_huge_800e.py"]
epochs = 1600
output_dir = "work_dirs/mae_vit_huge_1600e"
