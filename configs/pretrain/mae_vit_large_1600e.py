"""MAE ViT-L/16, 1600 epochs.

Run: tools/pretrain.sh 8 --config configs/pretrain/mae_vit_large_1600e.py --data_path /datasets/imagenet
Expect: fine-tuned top-1 85.9, linear probe 75.8, COCO AP box 53.3, ADE20K mIoU 53.6 (paper).
"""
_base_ = ["./mae_vit_large_800e.py"]
epochs = 1600
output_dir = "work_dirs/mae_vit_large_1600e"
