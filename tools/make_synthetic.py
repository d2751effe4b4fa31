#!/usr/bin/env python
"""Write the procedural scenes as a dataset (what each format holds: mae_bench/data/synthetic.py).

  tools/make_synthetic.py --format imagefolder --out DIR --num N [--pool P] --size S --seed K
  tools/make_synthetic.py --format coco|ade20k --out DIR --num N --size S --seed K
ImageFolder: the labelled transfer set DIR/{train,val}/<class>/ (N scenes, every class in both splits) and, with
--pool, the pretraining pool DIR/pool/train/<class>/ (P other scenes; pretrain with --data_path DIR/pool).
"""
import argparse
import sys

from mae_bench.cli import reports_errors
from mae_bench.data import WRITERS, write_dataset


@reports_errors(ValueError)
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", required=True, help=f"one of: {', '.join(WRITERS)}")
    p.add_argument("--out", required=True)
    p.add_argument("--num", type=int, default=500, help="labelled scenes in all (about 80%% train, 20%% val)")
    p.add_argument("--val", type=int, default=None, help="scenes of --num in the val split (the last ones; "
                   "imagefolder: a multiple of 6), instead of about 20%%")
    p.add_argument("--pool", type=int, default=0, help="imagefolder only: scenes of the pretraining pool")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (>= 32)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.format not in WRITERS:
        print(f"error: unknown --format {a.format!r}; known: {', '.join(WRITERS)}", file=sys.stderr)
        return 2
    if a.num < 2 or a.size < 32 or a.pool < 0:
        print("error: --num must be >= 2, --size >= 32 and --pool >= 0", file=sys.stderr)
        return 2
    print(write_dataset(a.format, a.out, a.num, a.size, a.seed, pool=a.pool, val=a.val))
    return 0


if __name__ == "__main__":
    sys.exit(main())
