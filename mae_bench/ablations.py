"""The MAE paper's ablation tables from sweep records (``mae_bench.sweep``): Table 1 as the paper lays it out (one
small table per axis, the default row marked, ft / lin / cheap-signal columns) and the Figure 5 / Figure 7 charts.

A record of a sweep carries ``sweep``, ``sweep_points`` ([axis, value] pairs it stands for: the shared default
stands for one per axis) and ``sweep_variant`` (``default`` for the default point). Cells are top-1 means over the
transfer seeds; each value's difference to its axis' default row is tested with the project's rule
(``mae_bench.tables``: Welch's t-test over seeds, two-sided, beyond the noise when p < 0.05, untested with fewer
than 2 seeds on a side). The paper's numbers (``results/reference/mae_table1.csv``: axis, value, default,
finetune, linprobe, flops, source) sit beside them for orientation: ViT-L on ImageNet-1K, not comparable in value
with runs of other models or data, only in direction.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from .report import _md_table
from .stats import welch_test
from .tables import format_cell, verdict, write_text

if TYPE_CHECKING:
    import pandas as pd

AXIS_TITLES = {"decoder_depth": "(a) decoder depth", "decoder_embed_dim": "(b) decoder width",
               "mask_token": "(c) mask token", "target": "(d) reconstruction target", "aug": "(e) data augmentation",
               "mask_sampling": "(f) mask sampling", "mask_ratio": "Figure 5: masking ratio",
               "epochs": "Figure 7: pretraining epochs"}
AXIS_ORDER = tuple(AXIS_TITLES)
PROTOCOLS = {"finetune": "ft", "linprobe": "lin", "knn": "k-NN", "linprobe_grid": "lin grid", "attentive": "attentive"}
FIGURES = {"mask_ratio": "figure5_mask_ratio", "epochs": "figure7_epochs"}  # numeric axes drawn as charts
NOTE = ("Cells: top-1 (%) mean ± std over seeds (n); in brackets the difference to the axis' default row, † where "
        "Welch's t-test over seeds gives p < 0.05 (beyond the seed noise), 'untested' with fewer than 2 seeds on a "
        "side, no mark within the noise. 'paper': the MAE paper's ViT-L/16, 800-epoch ImageNet-1K numbers "
        "(results/reference/mae_table1.csv, with its source): compare directions, not values.")


def sweep_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("sweep") and r.get("sweep_points")]


def ablation_cells(records: list[dict]) -> pd.DataFrame:
    """(sweep, axis, value, protocol) -> mean, std, n, default, delta, p, verdict."""
    import pandas as pd

    rows = []
    for r in sweep_records(records):
        if "top1" not in r["metrics"]:
            continue
        for axis, value, *_ in r["sweep_points"]:
            rows.append(dict(sweep=r["sweep"], axis=axis, value=str(value), protocol=r["task"],
                             top1=float(r["metrics"]["top1"]), default=r.get("sweep_variant") == "default"))
    cols = ["sweep", "axis", "value", "protocol", "mean", "std", "n", "default", "delta", "p", "verdict"]
    if not rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(rows)
    cells = frame.groupby(["sweep", "axis", "value", "protocol"], sort=False).agg(
        mean=("top1", "mean"), std=("top1", "std"), n=("top1", "size"), default=("default", "any")).reset_index()
    cells["std"] = cells["std"].fillna(0.0)
    deltas, ps = [], []
    for c in cells.itertuples():
        ref = cells[(cells["sweep"] == c.sweep) & (cells["axis"] == c.axis) & (cells["protocol"] == c.protocol)
                    & cells["default"]]
        if c.default or ref.empty:
            deltas.append(math.nan)
            ps.append(math.nan)
            continue
        r = ref.iloc[0]
        deltas.append(c.mean - r["mean"])
        ps.append(welch_test(c.mean, c.std, int(c.n), r["mean"], r["std"], int(r["n"]))[2]
                  if c.n >= 2 and r["n"] >= 2 else math.nan)
    cells["delta"], cells["p"] = deltas, ps
    cells["verdict"] = [verdict(int(c.n), c.delta, c.p) for c in cells.itertuples()]
    return cells[cols]


def read_ablation_reference(path: str | Path | None) -> pd.DataFrame:
    """The ablation rows of a reference CSV, or of every such CSV in a folder (``tables.is_ablation_reference``)."""
    import pandas as pd

    from .results import RecordError
    from .tables import is_ablation_reference

    cols = ["axis", "value", "default", "finetune", "linprobe", "flops", "source"]
    if path is None or not Path(path).exists():
        return pd.DataFrame(columns=cols)
    paths = sorted(p for p in Path(path).glob("*.csv") if is_ablation_reference(p)) if Path(path).is_dir() else [path]
    frames = []
    for p in paths:
        ref = pd.read_csv(p, dtype={"value": str})
        missing = {"axis", "value", "finetune", "linprobe", "source"} - set(ref.columns)
        if missing:
            raise RecordError(f"ablation reference {p} lacks columns {sorted(missing)}")
        frames.append(ref)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def value_order(values: list[str], reference: list[str]) -> list[str]:
    """Numeric values ascending; else the paper's order (reference rows), then the rest alphabetically."""
    if all(_is_number(v) for v in values):
        return sorted(values, key=float)
    known = [v for v in reference if v in values]
    return known + sorted(v for v in values if v not in known)


def _same_value(a: str, b: str) -> bool:
    return a == b or (_is_number(a) and _is_number(b) and float(a) == float(b))


def axis_tables(cells: pd.DataFrame, reference: pd.DataFrame) -> list[dict]:
    """One table per (sweep, axis): title, head, rows (value, our protocols, the paper's ft / lin), notes."""
    out = []
    for sweep in dict.fromkeys(cells["sweep"]):
        sub = cells[cells["sweep"] == sweep]
        axes = sorted(dict.fromkeys(sub["axis"]), key=lambda a: (AXIS_ORDER.index(a) if a in AXIS_ORDER else 99, a))
        for axis in axes:
            a = sub[sub["axis"] == axis]
            protocols = sorted(dict.fromkeys(a["protocol"]), key=lambda p: list(PROTOCOLS).index(p)
                               if p in PROTOCOLS else 99)
            ref = reference[reference["axis"] == axis]
            head = ["value", *(PROTOCOLS.get(p, p) for p in protocols)]
            if not ref.empty:
                head += ["paper ft", "paper lin"]
            rows = []
            for value in value_order(list(dict.fromkeys(a["value"])), list(ref["value"])):
                row_cells = a[a["value"] == value]
                is_default = bool(row_cells["default"].any())
                row = [value + (" (default)" if is_default else "")]
                for p in protocols:
                    c = row_cells[row_cells["protocol"] == p]
                    row.append("-" if c.empty else format_cell(c.iloc[0]["mean"], c.iloc[0]["std"],
                                                               int(c.iloc[0]["n"]), c.iloc[0]["delta"],
                                                               c.iloc[0]["p"]))
                if not ref.empty:
                    match = ref[[_same_value(v, value) for v in ref["value"]]]
                    row += ["-", "-"] if match.empty else [f"{match.iloc[0]['finetune']:.1f}",
                                                           f"{match.iloc[0]['linprobe']:.1f}"]
                rows.append(row)
            sources = list(dict.fromkeys(ref["source"]))
            out.append(dict(sweep=sweep, axis=axis, title=f"{AXIS_TITLES.get(axis, axis)} (axis {axis})", head=head,
                            rows=rows, notes=[f"paper: {s}" for s in sources[:1]]))
    return out


def ablations_markdown(tables: list[dict], sweep: str, level: str = "##") -> str:
    lines = [f"{level} Ablations of sweep {sweep}", "", NOTE, ""]
    for t in (t for t in tables if t["sweep"] == sweep):
        lines += [f"{level}# {t['title']}", "", *_md_table(t["head"], t["rows"]), ""]
        lines += [f"_{n}_" for n in t["notes"]] + ([""] if t["notes"] else [])
    return "\n".join(lines)


def figure_chart(cells: pd.DataFrame, reference: pd.DataFrame, sweep: str, axis: str, path: str | Path) -> Path | None:
    """Figure 5 / 7 style: top-1 against the axis' numeric value, one panel per protocol (std error bars over
    seeds, the default point ringed, † on values beyond the seed noise); the paper's points, where the reference
    has them, on a right-hand axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = cells[(cells["sweep"] == sweep) & (cells["axis"] == axis)]
    if sub.empty or not all(_is_number(v) for v in sub["value"]):
        return None
    protocols = sorted(dict.fromkeys(sub["protocol"]), key=lambda p: list(PROTOCOLS).index(p) if p in PROTOCOLS else 99)
    fig, axes = plt.subplots(1, len(protocols), figsize=(3.6 * len(protocols), 3.2), squeeze=False)
    ref = reference[reference["axis"] == axis]
    for ax, proto in zip(axes[0], protocols):
        c = sub[sub["protocol"] == proto].assign(x=lambda d: d["value"].astype(float)).sort_values("x")
        ax.errorbar(c["x"], c["mean"], yerr=c["std"].where(c["n"] >= 2, 0), marker="o", capsize=3, color="#d62728",
                    label=f"{sweep} (mean ± std, n={int(c['n'].max())})")
        for r in c.itertuples():
            ax.annotate(f"{r.mean:.1f}" + ("†" if r.verdict == "beyond" else ""), (r.x, r.mean), fontsize=7,
                        xytext=(0, 5), textcoords="offset points", ha="center")
        d = c[c["default"]]
        ax.scatter(d["x"], d["mean"], s=140, facecolors="none", edgecolors="black", label="default", zorder=3)
        col = {"finetune": "finetune", "linprobe": "linprobe"}.get(proto)
        handles, labels = ax.get_legend_handles_labels()
        if col and not ref.empty:
            twin = ax.twinx()
            twin.plot(ref["value"].astype(float), ref[col], "s--", color="#7f7f7f", label="paper (ViT-L, right axis)")
            twin.set_ylabel("paper top-1 (%)", fontsize=8, color="#7f7f7f")
            twin.tick_params(labelsize=7, colors="#7f7f7f")
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.set_xlabel(AXIS_TITLES.get(axis, axis).split(": ")[-1], fontsize=9)
        ax.set_ylabel(f"{PROTOCOLS.get(proto, proto)} top-1 (%)", fontsize=9)
        ax.set_title(PROTOCOLS.get(proto, proto), fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(handles, labels, fontsize=7, loc="lower left")
    fig.suptitle(f"{AXIS_TITLES.get(axis, axis)}, sweep {sweep} († beyond the seed noise vs. the default)",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def chart_path(out_dir: Path, sweep: str, axis: str) -> Path:
    return Path(out_dir) / f"ablations_{sweep}_{FIGURES[axis]}.png"


def write_ablations(records: list[dict], reference: str | Path | None, out_dir: str | Path,
                    plots: bool = True) -> tuple[list[Path], list[tuple]]:
    """``ablations_<sweep>.md`` and the Figure 5 / 7 charts of every sweep in ``records`` (the paper's numbers
    from the reference CSV or folder ``reference``); returns the files and the report blocks (``mae_bench.report``)."""
    out_dir = Path(out_dir)
    cells = ablation_cells(records)
    if cells.empty:
        return [], []
    reference = read_ablation_reference(reference)
    tables = axis_tables(cells, reference)
    written, blocks = [], []
    for sweep in dict.fromkeys(cells["sweep"]):
        written.append(write_text(out_dir / f"ablations_{sweep}.md", ablations_markdown(tables, sweep)))
        blocks += [("h", 2, f"Ablations of sweep {sweep}"), ("p", NOTE)]
        for t in (t for t in tables if t["sweep"] == sweep):
            blocks += [("h", 3, t["title"]), ("table", t["head"], t["rows"], t["notes"])]
            if plots and t["axis"] in FIGURES:
                chart = figure_chart(cells, reference, sweep, t["axis"], chart_path(out_dir, sweep, t["axis"]))
                if chart:
                    written.append(chart)
                    blocks.append(("imgs", [(chart, t["title"])]))
    return written, blocks


# ---------------------------------------------------------------- claims: which of the paper's findings show here

CLAIMS_BEGIN = "<!-- generated by tools/make_tables.py --ablation-claims: begin -->"
CLAIMS_END = "<!-- generated: end -->"
CLAIMS_HEAD = ["axis", "value", "protocol", "ours: Δ to default", "seed noise", "paper: Δ to default", "finding"]


def _paper_delta(reference: pd.DataFrame, axis: str, value: str, protocol: str) -> float:
    ref = reference[reference["axis"] == axis]
    if protocol not in ("finetune", "linprobe") or ref.empty:
        return math.nan
    row = ref[[_same_value(v, value) for v in ref["value"]]]
    base = ref[ref["default"].fillna(0).astype(float) == 1] if "default" in ref else ref.iloc[:0]
    if row.empty or base.empty:
        return math.nan
    return float(row.iloc[0][protocol]) - float(base.iloc[0][protocol])


def finding(verdict_: str | None, ours: float, paper: float) -> str:
    """Whether a non-default value's difference reproduces the paper's, by the significance rule."""
    if verdict_ == "untested":
        return "untested (fewer than 2 seeds)"
    if verdict_ == "within":
        return "not shown here (within the seed noise)" + ("" if math.isnan(paper) else
                                                            f"; the paper: {paper:+.1f}")
    if math.isnan(paper):
        return f"beyond the noise ({'higher' if ours > 0 else 'lower'}); no paper number to compare"
    if abs(paper) < 0.05:
        return "beyond the noise; the paper saw no difference"
    return "reproduced (same direction, beyond the noise)" if (ours > 0) == (paper > 0) else \
        "opposite to the paper (beyond the noise)"


def claim_rows(cells: pd.DataFrame, reference: pd.DataFrame, sweep: str) -> list[list[str]]:
    rows = []
    sub = cells[(cells["sweep"] == sweep) & ~cells["default"] & cells["delta"].notna()]
    for axis in sorted(dict.fromkeys(sub["axis"]), key=lambda a: AXIS_ORDER.index(a) if a in AXIS_ORDER else 99):
        a = sub[sub["axis"] == axis]
        ref_values = list(reference[reference["axis"] == axis]["value"])
        for value in value_order(list(dict.fromkeys(a["value"])), ref_values):
            for c in a[a["value"] == value].itertuples():
                paper = _paper_delta(reference, axis, value, c.protocol)
                noise = {"beyond": f"beyond (p = {c.p:.3g})", "within": f"within (p = {c.p:.2f})"}.get(
                    c.verdict, "untested")
                rows.append([axis, value, PROTOCOLS.get(c.protocol, c.protocol), f"{c.delta:+.1f}", noise,
                             "-" if math.isnan(paper) else f"{paper:+.1f}", finding(c.verdict, c.delta, paper)])
    return rows


def claims_block(records: list[dict], reference: str | Path | None, sweep: str, source: str,
                 readme: str = "README.md") -> str:
    """The generated block of a sweep's README: every non-default value's difference to its axis' default, its
    seed-noise verdict and whether it reproduces the paper's (direction of the paper's difference)."""
    cells = ablation_cells(records)
    rows = claim_rows(cells, read_ablation_reference(reference), sweep)
    counts = {k: sum(r[-1].startswith(k) for r in rows) for k in ("reproduced", "opposite", "not shown", "beyond",
                                                                    "untested")}
    lines = [CLAIMS_BEGIN, f"Generated by `python tools/make_tables.py --runs {source} --ablation-claims {readme}` "
             "from the records: do not edit by hand.", "", *_md_table(CLAIMS_HEAD, rows), "",
             f"{counts['reproduced']} difference(s) reproduce the paper's direction beyond the seed noise, "
             f"{counts['opposite']} go the opposite way beyond it, {counts['not shown']} are within the noise, "
             f"{counts['beyond']} are beyond it without a paper number, {counts['untested']} untested. The rule: "
             "Welch's t-test over seeds, two-sided, p < 0.05 (mae_bench/tables.py); with 3 seeds a side it only "
             "calls large, steady gaps: 'within the noise' means not shown, not equal.", CLAIMS_END]
    return "\n".join(lines)
