#!/usr/bin/env python
"""Write the procedural scenes as a dataset: tools/make_synthetic.py --format imagefolder --out DIR --num N --size S"""
import argparse
import sys

from mae_bench.data import WRITERS, write_dataset


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--format", required=True, help=f"one of: {', '.join(WRITERS)}")
    p.add_argument("--out", required=True)
    p.add_argument("--num", type=int, default=500, help="scenes in all (80%% train, 20%% val)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.format not in WRITERS:
        print(f"error: unknown --format {a.format!r}; known: {', '.join(WRITERS)}", file=sys.stderr)
        return 2
    if a.num < 2 or a.size < 16:
        print("error: --num must be >= 2 and --size >= 16", file=sys.stderr)
        return 2
    print(write_dataset(a.format, a.out, a.num, a.size, a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
