#!/usr/bin/env python
"""Fill the checkpoint cache with published checkpoints by name (run where there is internet, e.g. a login node).

  tools/fetch_ckpt.py zoo:mae-vit-b zoo:dino-vit-b16 --cache /shared/ckpt_cache
  tools/fetch_ckpt.py timm:vit_base_patch16_224.mae hf-hub:facebook/vit-mae-base@main
  tools/fetch_ckpt.py https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_large.pth
  tools/fetch_ckpt.py --list                    # the zoo, and which entries this cache holds
Names: zoo:NAME (mae_bench/zoo.py), timm:MODEL.TAG (timm's own source: its Hugging Face hub id, else its URL),
hf-hub:ORG/NAME[@REVISION] (model.safetensors, else pytorch_model.bin, and config.json), https://... (torch.hub's
cache, TORCH_HOME/hub/checkpoints). Every other command reads this cache offline: give it the same --cache (or
MAE_BENCH_CACHE). Prints each file, its source and sha256; a published hash that does not match is refused.
Exit 2 naming the name when it is unknown or cannot be fetched.
"""
import argparse
import os
import sys

from mae_bench.checkpoints import read_checkpoint
from mae_bench.cli import reports_errors
from mae_bench.errors import MaeBenchError
from mae_bench.hub import CACHE_ENV, NotCached, caches, fetch, resolve
from mae_bench.zoo import ENTRIES, UNPUBLISHED


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="zoo:NAME, timm:MODEL.TAG, hf-hub:ORG/NAME[@REV], https://...")
    p.add_argument("--cache", metavar="DIR",
                   help=f"one folder for torch.hub and Hugging Face files (default: ${CACHE_ENV}, else TORCH_HOME "
                        f"and HF_HOME)")
    p.add_argument("--list", action="store_true", help="list the zoo and which entries the cache holds")
    return p.parse_args(argv)


def list_zoo(cache) -> None:
    print(f"cache: {caches(cache).describe()}")
    for e in ENTRIES:
        try:
            resolve(f"zoo:{e.name}", cache)
            state = "cached"
        except NotCached:
            state = "-"
        epochs = f"{e.epochs} ep" if e.epochs else "epochs n/a"
        print(f"  {state:6} zoo:{e.name:28} {e.method:10} {e.model:5} {epochs:10} {e.data:6} {e.licence:12} "
              f"{e.source}")
    print("not published: " + "; ".join(f"{k} ({v})" for k, v in UNPUBLISHED.items()))


@reports_errors(MaeBenchError)
def main(argv=None) -> int:
    args = parse(argv)
    if args.cache:
        os.environ[CACHE_ENV] = args.cache
    if args.list or not args.names:
        list_zoo(args.cache)
        return 0
    for name in args.names:
        try:
            src = fetch(name, args.cache)
            published = {**src.expected, **({"md5": src.md5} if src.md5 else {})}  # every published hash, once
            sha = read_checkpoint(src.path, published, name).sha256
        except OSError as e:  # network or disk: name the name
            print(f"error: {name}: {e}", file=sys.stderr)
            return 2
        where = src.url or f"{src.hub_id}@{src.revision}"
        print(f"{name}: {src.path} ({src.kind} {where}; sha256 {sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
