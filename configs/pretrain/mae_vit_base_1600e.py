"""MAE ViT-B/16, 1600 epochs (the paper's main setting).

Run: tools/pretrain.sh 8 --config configs/pretrain/mae_vit_base_1600e.py --data_path /datasets/imagenet
Expect: fine-tuned top-1 83.6, COCO AP box 50.3 (Mask R-CNN, paper Table 4), ADE20K mIoU 48.1.
GPU time: about twice the 800-epoch run (~42 h on 8 H200 at 40% MFU).
"""
_base_ = ["./mae_vit_base_800e.py"]
epochs = 1600
output_dir = "work_dirs/mae_vit_base_1600e"
