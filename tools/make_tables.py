#!/usr/bin/env python
"""Paper-style tables, charts and a report from the result records, beside the published numbers of
results/reference/*.csv: one table per (task, dataset) (COCO in the MAE paper's Table 4 layout, ADE20K in
Table 5's, classification: fine-tune / partial-k / linear and the frozen probes), rows = pretraining method,
column groups = model sizes with data; published numbers only beside runs on the same dataset.

  python tools/make_tables.py                                   # results/runs -> results/tables
  python tools/make_tables.py --runs my_runs --out my_tables --format md,csv --no-plots
Writes <table>_<dataset>.{md,tex,csv}, <table>_<dataset>_<metric>.png, summary.md (this suite's runs, at most
100 columns wide: printed at the end), ranking.md (Kendall's tau / Spearman's rho between the protocols'
rankings of the inits) and report.md + report.html (self-contained). Repeated runs (same task, dataset, model,
pretraining, init) become mean ± std (n).
"""
import argparse
import sys
from pathlib import Path

from mae_bench.report import write_report
from mae_bench.results import RecordError, build_cells, load_records, load_reference, record_files, write_tables


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="results/runs", help="folder of result records (*.json)")
    p.add_argument("--reference", default="results/reference", help="folder of published numbers (*.csv)")
    p.add_argument("--out", default="results/tables")
    p.add_argument("--format", default="md,tex,csv", help="comma-separated subset of md,tex,csv")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.add_argument("--no-report", action="store_true", help="skip report.md / report.html")
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
        if not args.no_report:
            written += write_report(cells, records, record_files(args.runs), args.out)
    except (RecordError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((Path(args.out) / "summary.md").read_text())
    report = "" if args.no_report else f"; report: {Path(args.out) / 'report.html'}"
    print(f"{len(records)} record(s) from {args.runs}; wrote {len(written)} file(s) to {args.out}{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
