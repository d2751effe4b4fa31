#!/usr/bin/env python
"""Pretrain a ViT with MAE (or a baseline via --method). Usually started by tools/pretrain.sh.

  python tools/pretrain.py --config configs/pretrain/mae_vit_base_800e.py --data_path /datasets/imagenet
  tools/pretrain.sh 2 --device cpu --model mae_vit_tiny_patch16 --input_size 64 --epochs 2
Accepts the official MAE flag names (--model --batch_size --epochs --accum_iter --mask_ratio
--norm_pix_loss --blr --weight_decay --warmup_epochs --input_size --data_path --output_dir --resume
--device --seed); every field of mae_bench.methods.PretrainConfig is a flag, spelt with underscores as there
(--mask-ratio is accepted as well). --config configs/pretrain/... is found from any folder, in the checkout or in
the installed package.
"""
import argparse
import dataclasses
import logging
import sys
import typing

from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.config import build, field_types, load_config_file
from mae_bench.engine.trainer import NonFiniteLoss
from mae_bench.engine.training_state import NonFiniteWeights, newest_checkpoint
from mae_bench.errors import MaeBenchError
from mae_bench.pretrain import PretrainConfig, run_pretrain
from mae_bench.resources import find_config


def _float_pair(name: str):
    """argparse type for a tuple field such as --crop_scale: 'LO,HI' -> (LO, HI)."""
    def parse(text: str) -> tuple[float, float]:
        try:
            lo, hi = (float(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} takes two numbers LO,HI (e.g. 0.2,1.0), got {text!r}") from None
        return lo, hi
    return parse


IGNORED = ("--world_size", "--local_rank", "--local-rank", "--dist_url", "--dist_on_itp")  # torchrun sets these
HELP = {  # every field of PretrainConfig: what it does and its unit; the default is appended from the dataclass
    "method": "pretraining method: mae, supervised (the MAE paper's A.2 recipe in its config) or mocov3 (the "
              "official ViT recipe)",
    "model": "MAE model name, e.g. mae_vit_base_patch16 (the baselines train its encoder)",
    "input_size": "training image side, pixels",
    "patch_size": "patch side, pixels (default: the model's)",
    "mask_ratio": "MAE: fraction of patches masked, 0-1",
    "norm_pix_loss": "MAE: loss on per-patch normalised pixels",
    "decoder_embed_dim": "MAE decoder width, channels (default: the model's)",
    "decoder_depth": "MAE decoder blocks (default: the model's)",
    "decoder_num_heads": "MAE decoder attention heads (default: the model's)",
    "drop_path": "stochastic depth rate of the last block, 0-1",
    "mask_sampling": "MAE: which patches are masked: random (official), block (BEiT's blocks, topped up to the exact "
                     "count) or grid (keeps one patch of every 2x2 cell; --mask_ratio 0.75)",
    "block_min_patches": "MAE --mask_sampling block: smallest block, patches",
    "encoder_mask_token": "MAE: the encoder sees every patch, a learned mask token in place of the masked ones "
                          "(the paper's 'encoder w/ [M]')",
    "target": "MAE reconstruction target: pixel (per-patch normalised with --norm_pix_loss), pca (the largest "
              "--pca_dim coefficients of a PCA basis fitted before training) or dvae (refused: docs/fidelity.md)",
    "pca_dim": "MAE --target pca: PCA coefficients predicted per patch",
    "pca_fit_images": "MAE --target pca: training crops the PCA basis is fitted on",
    "loss_on": "MAE: loss over the masked patches (official) or all patches",
    "aug": "MAE pretraining augmentation: none (center crop), crop_fixed, crop_rand (official RandomResizedCrop) or "
           "crop_color (+ colour jitter)",
    "moco_dim": "MoCo v3: output width of the projector and predictor MLPs",
    "moco_mlp_dim": "MoCo v3: hidden width of the projector and predictor MLPs",
    "moco_m": "MoCo v3: momentum at the start (cosine to 1 at the end)",
    "moco_t": "MoCo v3: softmax temperature of the InfoNCE loss",
    "mixup": "supervised: mixup alpha (0: off)",
    "cutmix": "supervised: cutmix alpha (0: off)",
    "smoothing": "supervised: label smoothing, 0-1",
    "aa": "supervised: timm auto-augment policy (e.g. rand-m9-mstd0.5-inc1)",
    "reprob": "supervised: random erasing probability, 0-1",
    "model_ema": "supervised: keep an exponential moving average of the weights (saved as model_ema in the "
                 "checkpoint, and as checkpoint-ema.pth, the EMA weights as the model)",
    "model_ema_decay": "supervised: EMA decay per optimiser step",
    "crop_scale": "RandomResizedCrop area range, fractions of the image (default: the method's recipe)",
    "batch_size": "images per process per step",
    "epochs": "training epochs (the schedule's length)",
    "effective_batch": "images per optimiser step over all processes; sets accum_iter (default: batch_size x "
                       "accum_iter x processes)",
    "accum_iter": "gradient accumulation steps per optimiser step (default: 1, or from effective_batch; "
                  "mocov3 never accumulates)",
    "blr": "base learning rate; lr = blr x effective batch / 256",
    "lr": "absolute learning rate (default: from blr)",
    "min_lr": "learning rate at the end of the cosine schedule",
    "weight_decay": "AdamW weight decay",
    "warmup_epochs": "linear warmup, epochs",
    "clip_grad": "gradient norm clipping threshold (default: no clipping)",
    "data_path": "ImageFolder root with train/<class>/, a flat image folder, or tar shards "
                 "'train-{000000..000127}.tar' (default: the built-in synthetic set)",
    "data_pipeline": "MAE input pipeline: fast (uint8 crops, reduced-size JPEG decode, normalised on the device) "
                     "or official (torchvision, as main_pretrain.py)",
    "gpu_decode": "fast pipeline: decode, crop and flip JPEG batches on the device (workers only read the files)",
    "synthetic_num": "images of the built-in synthetic set (no --data_path)",
    "output_dir": "checkpoints, logs and pictures of the run",
    "log_dir": "JSON-line log and TensorBoard folder (default: output_dir)",
    "resume": "checkpoint to resume from, or 'auto' for the newest in output_dir (then a saved config that "
              "differs in a field that changes the result is refused); a finished run only says so (default: '', "
              "a fresh run)",
    "device": "cpu, cuda or cuda:N (default: cuda when available, else cpu)",
    "amp": "mixed precision: auto (bf16 on GPU, fp32 on CPU), fp32, bf16, or fp16 (the official fp16 autocast + "
           "loss scaler)",
    "seed": "random seed",
    "num_workers": "data loading processes per training process",
    "pin_mem": "pinned host memory for GPU transfers",
    "save_every": "also keep checkpoint-<epoch>.pth every N epochs (checkpoint-last.pth every epoch); 0: off",
    "vis_every": "MAE reconstruction picture every N epochs; 0: off",
    "skip_corrupt": "skip unreadable images (logged) instead of failing",
    "max_iters_per_epoch": "cap on iterations per epoch, for quick runs (default: the whole dataset)",
    "tensorboard": "write TensorBoard event files",
    "compile": "torch.compile the model",
    "monitor_every": "k-NN + linear-head grid on frozen features every N epochs; 0: off",
    "monitor_data": "ImageFolder root of the monitors (train/ = bank, val/ = queries) (default: a held-out slice)",
    "monitor_fraction": "share of train/ held out of pretraining for the monitors, 0-1 (no --monitor_data)",
}


def help_text(name: str, default) -> str:
    text = HELP[name]
    return text if "(default:" in text else f"{text} (default: {default})"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="config file (configs/pretrain/*.py); flags override it "
                                                    "(default: none, the official MAE recipe's defaults)")
    defaults = {f.name: f.default for f in dataclasses.fields(PretrainConfig)}
    for name, typ in field_types(PretrainConfig).items():
        kw = dict(default=None, help=help_text(name, defaults[name]))
        if typ is bool:
            p.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(typ) is tuple:
            p.add_argument(f"--{name}", type=_float_pair(name), metavar="LO,HI", **kw)
        else:
            p.add_argument(f"--{name}", type=typ, metavar=name.upper(), **kw)
    for flag in IGNORED:
        p.add_argument(flag, default=None, help=argparse.SUPPRESS)
    return accept_both_spellings(p)


def parse(argv=None) -> PretrainConfig:
    args = vars(parser().parse_args(argv))
    config = args.pop("config")
    for flag in IGNORED:
        args.pop(flag.lstrip("-").replace("-", "_"), None)
    cli = {k: v for k, v in args.items() if v is not None}
    return build(PretrainConfig, load_config_file(find_config(config)) if config else {}, cli,
                 source=config or "config")


@reports_errors(MaeBenchError, interrupt=True)
def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = None
    try:
        cfg = parse(argv)
        stats = run_pretrain(cfg)
    except (NonFiniteLoss, NonFiniteWeights) as e:  # a diverged run: nothing non-finite was saved
        last = newest_checkpoint(cfg.output_dir) if cfg else None
        kept = f"the last good checkpoint, {last}, is kept" if last else "no checkpoint of this run was saved"
        print(f"error: {e}; {kept}", file=sys.stderr)
        return 3
    if stats:
        logging.getLogger("mae_bench.pretrain").info("done: %s", stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
