#!/usr/bin/env python
"""Paper-style tables from the result records: COCO (MAE Table 4 layout), ADE20K (Table 5), ImageNet
fine-tune / linear probe / partial fine-tuning, and a summary of every task, side by side with the
published numbers of results/reference/*.csv.

  python tools/make_tables.py                                   # results/runs -> results/tables
  python tools/make_tables.py --runs my_runs --out my_tables --format md,csv --no-plots
Repeated runs (same task, dataset, model, pretraining, init) become mean ± std (n); the project's rows
carry [delta] to its supervised row of the same model and dataset; a missing cell is '-'.
"""
import argparse
import sys
from pathlib import Path

from mae_bench.results import RecordError, build_cells, load_records, load_reference, write_tables


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="results/runs", help="folder of result records (*.json)")
    p.add_argument("--reference", default="results/reference", help="folder of published numbers (*.csv)")
    p.add_argument("--out", default="results/tables")
    p.add_argument("--format", default="md,tex,csv", help="comma-separated subset of md,tex,csv")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG bar charts")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    if not Path(args.runs).is_dir():
        print(f"error: --runs {args.runs}: no such folder (tools/transfer.py writes records there)", file=sys.stderr)
        return 2
    try:
        records = load_records(args.runs)
        cells = build_cells(records, load_reference(args.reference))
        written = write_tables(cells, args.out, formats, plots=not args.no_plots)
    except (RecordError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(records)} record(s) from {args.runs}; wrote {len(written)} file(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
