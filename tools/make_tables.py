#!/usr/bin/env python
"""Paper-style tables, charts and a report from the result records, beside the published numbers of
results/reference/*.csv: one table per (task, dataset) (COCO in the MAE paper's Table 4 layout, ADE20K in
Table 5's, classification: fine-tune / partial-k / linear and the frozen probes), rows = pretraining method,
column groups = model sizes with data; published numbers only beside runs on the same dataset.

  python tools/make_tables.py                                   # results/runs -> results/tables
  python tools/make_tables.py --runs my_runs --out my_tables --format md,csv --no-plots
  python tools/make_tables.py --runs a/runs b/runs --reference-row random   # deltas and tests against random init
  python tools/make_tables.py --runs my_runs --zoo       # + zoo.md: every zoo entry, paper numbers beside my runs
Writes <table>_<dataset>.{md,tex,csv}, <table>_<dataset>_<metric>.png, summary.md (this suite's runs, at most
100 columns wide: printed at the end), zoo.{md,csv} (the published checkpoints run by name, zoo:NAME, beside
their papers' numbers; with --zoo every entry of mae_bench/zoo.py), claims.md (per protocol, which inits are
above / below random init and supervised beyond the seed noise, which within it, which untested), ranking.md
(Kendall's tau / Spearman's rho between the protocols' rankings of the inits) and report.md + report.html
(self-contained). Repeated runs (same task, dataset, model, pretraining, init) become mean ± std (n); each run's
difference to the reference row is marked † where Welch's t-test over seeds gives a two-sided p < 0.05 (untested
with fewer than 2 seeds).
Records of an ablation sweep (tools/sweep.py) also give ablations_<sweep>.md: the MAE paper's Table 1 layout, one
small table per axis with the default row marked and each value's difference to it tested by the same rule, the
paper's numbers (results/reference/mae_table1.csv) beside them, and the Figure 5 (mask ratio) and Figure 7 (epochs)
charts ablations_<sweep>_figure5_mask_ratio.png / _figure7_epochs.png; all of it in the report.
"""
import argparse
import sys
from pathlib import Path

from mae_bench.ablations import CLAIMS_BEGIN, CLAIMS_END, claims_block, sweep_records, write_ablations
from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.demo import replace_block
from mae_bench.report import write_charts, write_report
from mae_bench.results import RecordError, load_record_dirs
from mae_bench.tables import (
    DEFAULT_REFERENCE,
    PROJECT_SOURCE,
    build_cells,
    is_reference,
    load_reference,
    write_tables,
    write_zoo,
)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", default=["results/runs"],
                   help="folder(s) of result records (*.json); a file name in several folders is one record")
    p.add_argument("--reference", default="results/reference",
                   help="folder of published numbers (*.csv), or one such CSV (default: results/reference)")
    p.add_argument("--reference-row", default=DEFAULT_REFERENCE, metavar="NAME",
                   help="the row deltas and significance tests compare with: a pretraining method (supervised, "
                   "random, mae, ...) or an init name (default: supervised)")
    p.add_argument("--out", default="results/tables")
    p.add_argument("--format", default="md,tex,csv", help="comma-separated subset of md,tex,csv")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.add_argument("--no-report", action="store_true", help="skip report.md / report.html")
    p.add_argument("--zoo", action="store_true",
                   help="zoo.md / zoo.csv with every zoo entry (published numbers even without runs); default: "
                        "only the entries these records ran")
    p.add_argument("--ablation-claims", dest="ablation_claims", metavar="README",
                   help="replace the generated block of README with which ablation differences are beyond the seed "
                        "noise and whether they reproduce the paper's (records of one sweep)")
    return accept_both_spellings(p).parse_args(argv)


@reports_errors(RecordError, ValueError, OSError)
def main(argv=None) -> int:
    args = parse(argv)
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    for runs in args.runs:
        if not Path(runs).is_dir():
            print(f"error: --runs {runs}: no such folder (tools/transfer.py writes records there)", file=sys.stderr)
            return 2
    records, files = load_record_dirs(args.runs)
    cells = build_cells(records, load_reference(args.reference), args.reference_row)
    ours = cells[cells["source"] == PROJECT_SOURCE]
    if args.reference_row != DEFAULT_REFERENCE and not is_reference(ours, args.reference_row).any():
        known = sorted({*ours["pretrain_method"], *ours["init"]})
        raise ValueError(f"--reference-row {args.reference_row}: no run has that pretraining method or init; "
                         f"known: {', '.join(known)}")
    written = write_tables(cells, args.out, formats)
    written += write_zoo(cells, args.out, args.zoo)
    if not args.no_plots:
        written += write_charts(cells, args.out)
    ablations, blocks = write_ablations(records, args.reference, args.out, plots=not args.no_plots)
    written += ablations
    if args.ablation_claims:
        write_claims(Path(args.ablation_claims), records, args)
    if not args.no_report:
        written += write_report(cells, records, files, args.out, blocks)
    print((Path(args.out) / "summary.md").read_text())
    report = "" if args.no_report else f"; report: {Path(args.out) / 'report.html'}"
    print(f"{len(records)} record(s) from {', '.join(args.runs)}; wrote {len(written)} file(s) to {args.out}{report}")
    return 0


def write_claims(path: Path, records: list[dict], args) -> None:
    sweeps = sorted({r["sweep"] for r in sweep_records(records)})
    if len(sweeps) != 1:
        raise ValueError(f"--ablation-claims needs the records of one sweep; found {sweeps or 'none'}")
    if not path.is_file():
        raise ValueError(f"--ablation-claims {path}: no such file")
    block = claims_block(records, args.reference, sweeps[0], " ".join(args.runs), str(path))
    path.write_text(replace_block(path.read_text(), block, path, CLAIMS_BEGIN, CLAIMS_END))


if __name__ == "__main__":
    sys.exit(main())
