#!/usr/bin/env python
"""Write an image folder into tar shards in the WebDataset layout (``<key>.jpg`` + ``<key>.cls`` per image).

  python tools/make_shards.py --data_path /data/in1k/train --out /data/in1k/shards/train --per_shard 1250
  -> /data/in1k/shards/train-000000.tar ... ; pretrain with --data_path '/data/in1k/shards/train-{000000..001023}.tar'
The folder is an ImageFolder (class subfolders, torchvision's order and class indices) or a flat folder of images
(class 0, e.g. COCO's train2017/). Images are stored as they are (no re-encoding), shuffled once with --seed so
every shard holds a mix of classes. The shard pattern to pass as --data_path is printed at the end.
"""
import argparse
import random
import sys
from pathlib import Path

from tqdm import tqdm

from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.data import DataError
from mae_bench.data.fast import image_samples
from mae_bench.data.shards import write_shards


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_path", required=True, help="ImageFolder (class subfolders) or flat image folder")
    p.add_argument("--out", required=True, help="shard prefix: <out>-000000.tar, ...")
    p.add_argument("--per_shard", type=int, default=1000, help="images per shard (the last one may hold fewer)")
    p.add_argument("--seed", type=int, default=0, help="the order of the images over the shards")
    return accept_both_spellings(p).parse_args(argv)


@reports_errors(DataError)
def main(argv=None) -> int:
    args = parse(argv)
    if args.per_shard < 1:
        raise DataError(f"--per_shard must be >= 1, got {args.per_shard}")
    samples = image_samples(args.data_path)
    random.Random(args.seed).shuffle(samples)
    n = (len(samples) + args.per_shard - 1) // args.per_shard
    digits = max(6, len(str(n - 1)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    existing = [p for i in range(n) if Path(p := f"{args.out}-{i:0{digits}d}.tar").exists()]
    if existing:
        raise DataError(f"--out {args.out}: {existing[0]} exists; remove the old shards first")
    with tqdm(total=len(samples), desc="shards", unit="img") as bar:
        for start in range(0, len(samples), args.per_shard):
            chunk = samples[start:start + args.per_shard]
            write_shards(chunk, f"{args.out}-%0{digits}d.tar", args.per_shard, first=start // args.per_shard,
                         first_key=start)
            bar.update(len(chunk))
    print(f"{len(samples)} images in {n} shards: --data_path '{args.out}-{{{0:0{digits}d}..{n - 1:0{digits}d}}}.tar'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
