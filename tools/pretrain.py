#!/usr/bin/env python
"""Pretrain a ViT with MAE (or a baseline via --method). Usually started by tools/pretrain.sh.

  python tools/pretrain.py --config configs/pretrain/mae_vit_base_800e.py --data_path /datasets/imagenet
  tools/pretrain.sh 2 --device cpu --model mae_vit_tiny_patch16 --input_size 64 --epochs 2
Accepts the official MAE flag names (--model --batch_size --epochs --accum_iter --mask_ratio
--norm_pix_loss --blr --weight_decay --warmup_epochs --input_size --data_path --output_dir --resume
--device --seed); every field of mae_bench.methods.PretrainConfig is a flag.
"""
import argparse
import logging
import sys
import typing

from mae_bench.checkpoints import CheckpointError
from mae_bench.config import ConfigError, build, field_types, load_config_file
from mae_bench.data import DataError
from mae_bench.engine.trainer import NonFiniteLoss
from mae_bench.pretrain import PretrainConfig, run_pretrain


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


def parse(argv=None) -> PretrainConfig:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="config file (configs/pretrain/*.py); flags override it")
    for name, typ in field_types(PretrainConfig).items():
        if typ is bool:
            p.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None)
        elif typing.get_origin(typ) is tuple:
            p.add_argument(f"--{name}", type=_float_pair(name), default=None, metavar="LO,HI")
        else:
            p.add_argument(f"--{name}", type=typ, default=None)
    for flag in IGNORED:
        p.add_argument(flag, default=None, help=argparse.SUPPRESS)
    args = vars(p.parse_args(argv))
    config = args.pop("config")
    for flag in IGNORED:
        args.pop(flag.lstrip("-").replace("-", "_"), None)
    cli = {k: v for k, v in args.items() if v is not None}
    return build(PretrainConfig, load_config_file(config) if config else {}, cli, source=config or "config")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = parse(argv)
        stats = run_pretrain(cfg)
    except (ConfigError, DataError, CheckpointError, NonFiniteLoss, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2 if not isinstance(e, NonFiniteLoss) else 3
    if stats:
        logging.getLogger("mae_bench.pretrain").info("done: %s", stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
