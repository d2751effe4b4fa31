"""Paper-style tables from the result records (``mae_bench.results``), with pandas: cells, Markdown / LaTeX /
CSV tables, the terminal summary, the claims (which inits differ from a reference row beyond the seed noise) and
the ranking agreement. Charts and the report that render these are ``mae_bench.report``, which imports this
module, never the reverse.

One tidy frame of cells (table, dataset, source, pretrain_method, init, model, column, mean, std, n, delta, p,
reference) is built from the records and the published numbers; every output (Markdown, LaTeX, CSV, charts, the
terminal summary, the report) is a view of it. A table is one (table group, dataset): published numbers of COCO
2017 never sit beside runs on the synthetic COCO-layout scenes, and no table mixes datasets.

Significance: ``delta`` is a cell's difference to the reference row (Supervised unless named) of the same block,
model and column; ``p`` is Welch's t-test over seeds of that difference (``mae_bench.stats``), two-sided, beyond
the noise when p < 0.05; NaN (untested) when either side has fewer than 2 seeds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .results import RecordError, canonical_dataset
from .stats import ALPHA, kendall_tau, spearman_rho, welch_test

log = logging.getLogger("mae_bench.tables")

if TYPE_CHECKING:
    import pandas as pd

MODEL_ORDER = ("vit-t", "vit-s", "vit-b", "vit-l", "vit-h")
METHOD_ORDER = ("supervised", "mocov3", "dino", "beit", "mae", "random")
METHOD_LABEL = {"supervised": "Supervised", "mocov3": "MoCo v3", "dino": "DINO", "beit": "BEiT", "mae": "MAE",
                "random": "Random init"}
PROJECT_SOURCE = "mae-bench"
CELL_FIELDS = ["table", "dataset", "source", "pretrain_method", "init", "model", "column", "mean", "std", "n", "delta",
               "p", "reference", "repeated"]
DEFAULT_REFERENCE = "supervised"  # the reference row: a pretraining method or an init name
TABLE_OF_TASK = {"coco": "coco", "ade20k": "ade20k", "ade20k_linear": "ade20k", "finetune": "classification",
                 "linprobe": "classification", "knn": "classification", "linprobe_grid": "classification",
                 "attentive": "classification"}
TABLE_ORDER = ("coco", "ade20k", "classification")
TABLE_TITLES = {
    "coco": "Mask R-CNN AP box / AP mask, MAE paper Table 4 layout.",
    "ade20k": "mIoU: UperNet (MAE paper Table 5 layout); 'mIoU linear' = a linear head on frozen features.",
    "classification": "Top-1 (%): fine-tune (all blocks), partial-k (last k blocks tuned), linear probe, and the "
                      "frozen probes (linear grid = best head of the grid, attentive, k-NN).",
}
TASK_LABEL = {"coco": "Detection and instance segmentation", "ade20k": "Semantic segmentation",
              "classification": "Classification"}
DATASET_LABEL = {"coco2017": "COCO 2017", "ade20k": "ADE20K", "imagenet": "ImageNet-1K",
                 "synthetic_coco": "synthetic scenes (COCO layout)",
                 "synthetic_ade20k": "synthetic scenes (ADE20K layout)",
                 "synthetic_imagefolder": "synthetic scenes (ImageFolder)",
                 "synthetic": "synthetic scenes (ImageFolder)"}
METRIC_COLUMN = {("coco", "AP_box"): "AP box", ("coco", "AP_mask"): "AP mask", ("ade20k", "mIoU"): "mIoU",
                 ("ade20k_linear", "mIoU"): "mIoU linear", ("finetune", "top1"): "fine-tune",
                 ("linprobe", "top1"): "linear", ("linprobe_grid", "top1"): "linear grid",
                 ("attentive", "top1"): "attentive", ("knn", "top1"): "k-NN"}
COLUMN_ORDER = ("AP box", "AP mask", "mIoU", "mIoU linear", "fine-tune", "partial", "linear", "linear grid",
                "attentive", "k-NN")
CHEAP_COLUMNS = ("mIoU linear", "linear grid", "attentive", "k-NN")
MODE_LABEL = {"ms_flip": "ms+flip"}
MARK = {"beyond": "†", "untested": "°"}  # the terminal summary's and the charts' marks of a verdict


def cell_legend(reference: str = DEFAULT_REFERENCE) -> str:
    return (f"Cells: mean ± std (n = seeds) where n ≥ 2, the plain value where n = 1; (+x.x) = difference to the "
            f"{reference_label(reference)} row of the same block and model; {SIGNIFICANCE_RULE}; untested = fewer than "
            "2 seeds on either side (published numbers have no seeds: not tested); - = not run.")


SIGNIFICANCE_RULE = (f"† = beyond the seed noise (Welch's t-test over seeds, two-sided p < {ALPHA:g}), no mark = "
                     "within the noise")


def reference_label(reference: str) -> str:
    return METHOD_LABEL.get(reference, reference)


def _missing(value) -> bool:
    return value is None or value != value or value == ""


def _column(task: str, metric: str, test_mode=None, tune_blocks=None, heads=None) -> str | None:
    """The table column of (task, metric, test mode, partial fine-tuning depth, head grid); None = not tabled."""
    if task == "linprobe" and heads == "grid":
        task = "linprobe_grid"
    col = METRIC_COLUMN.get((task, metric))
    if col is None:
        return None
    if task == "finetune" and not _missing(tune_blocks):
        col = f"partial-{int(tune_blocks)}"
    if not _missing(test_mode) and test_mode != "single_scale":
        col += f" ({MODE_LABEL.get(test_mode, test_mode)})"
    return col


def column_rank(column: str) -> tuple:
    """Sort key of a table column: test-mode variants (Cascade, ms+flip) after the plain columns, then
    COLUMN_ORDER, partial-k by k."""
    base, _, mode = column.partition(" (")
    k = int(base.split("-")[1]) if base.startswith("partial-") else 0
    base = "partial" if base.startswith("partial-") else base
    return (mode, COLUMN_ORDER.index(base) if base in COLUMN_ORDER else len(COLUMN_ORDER), k)


def setting_of(record: dict) -> str:
    """What must match for records to share a cell besides the row and column: config file, ``--cfg-options``
    (the seed aside) and checkpoint (sha256), as a short hash."""
    options = {k: v for k, v in (record.get("cfg_options") or {}).items() if k != "seed"}
    key = json.dumps([record.get("config"), options, record.get("ckpt_sha256")], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:6]


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (record, tabled metric): table, dataset, model, pretrain_method, init, column, value, seed,
    setting (``setting_of``)."""
    import pandas as pd

    rows = []
    for r in records:
        setting = setting_of(r)
        for metric, value in r["metrics"].items():
            col = _column(r["task"], metric, r.get("test_mode"), r.get("tune_blocks"), r.get("heads"))
            if col is not None:
                rows.append(dict(table=TABLE_OF_TASK[r["task"]], dataset=canonical_dataset(r["dataset"]),
                                 model=r["model"], init=r["init"], pretrain_method=r["pretrain_method"], column=col,
                                 value=float(value), seed=r["seed"], setting=setting))
    return pd.DataFrame(rows, columns=["table", "dataset", "model", "init", "pretrain_method", "column", "value",
                                       "seed", "setting"])


def group_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs of one cell -> mean, std (sample, ddof 1), n. A cell holds the runs of one row, column and setting
    (config, ``--cfg-options``, checkpoint) over distinct seeds: a repeated seed is reported (a warning and
    ``repeated``) and left out, never averaged in; an init run in several settings gets one row per setting
    (``init [setting]``)."""
    keys = ["table", "dataset", "model", "pretrain_method", "init", "column"]
    if frame.empty:
        return frame.reindex(columns=[*keys, "mean", "std", "n", "repeated"])
    frame = frame.copy()
    settings = frame.groupby(keys, sort=False)["setting"].transform("nunique")
    frame.loc[settings > 1, "init"] = frame["init"] + " [" + frame["setting"] + "]"
    repeated = frame.duplicated(subset=[*keys, "setting", "seed"], keep="first")
    for _, row in frame[repeated].drop_duplicates(subset=[*keys[:5], "seed"]).iterrows():
        log.warning("seed %s of %s / %s / %s was run more than once with the same setting: the first record counts, "
                    "the repeat is left out", row["seed"], row["table"], row["init"], row["model"])
    out = frame[~repeated].groupby(keys, sort=False)["value"].agg(mean="mean", std="std", n="count").reset_index()
    counts = frame[repeated].groupby(keys, sort=False).size()
    out["repeated"] = [int(counts.get(tuple(k), 0)) for k in out[keys].itertuples(index=False)]
    out["n"] = out["n"].astype(int)
    return out


REF_STANDARD = ("task", "dataset", "model", "pretrain_method", "metric", "value", "source", "test_mode", "tune_blocks")
REF_METRICS = ("AP_box", "AP_mask", "mIoU", "top1", "top5")
DEFAULT_DATASET = {"coco": "coco2017", "ade20k": "ade20k", "finetune": "imagenet", "linprobe": "imagenet"}


def read_reference(path: str | Path) -> pd.DataFrame:
    """One reference CSV in long form (task, dataset, model, pretrain_method, metric, value, source, test_mode,
    tune_blocks). Also accepted: one column per metric (AP_box, AP_mask, ...) instead of metric / value, no
    dataset column (the task's benchmark), and descriptive columns such as ``detector``: their values are
    appended to the source label (a Cascade detector also marks the table column)."""
    import pandas as pd

    df = pd.read_csv(path)
    missing = {"task", "model", "pretrain_method", "source"} - set(df.columns)
    if not {"metric", "value"} <= set(df.columns):
        metrics = [c for c in df.columns if c in REF_METRICS]
        if not metrics:
            missing |= {"metric", "value"}
        else:
            df = df.melt(id_vars=[c for c in df.columns if c not in metrics], value_vars=metrics, var_name="metric",
                         value_name="value").dropna(subset=["value"])
    if missing:
        raise RecordError(f"reference file {path} lacks columns {sorted(missing)}")
    df = df.copy()
    if "dataset" not in df:
        df["dataset"] = df["task"].map(DEFAULT_DATASET)
    for col in ("test_mode", "tune_blocks"):
        if col not in df:
            df[col] = None
    if "detector" in df:
        cascade = df["detector"].astype(str).str.contains("cascade", case=False)
        df["test_mode"] = df["test_mode"].where(~cascade, "Cascade")
    for col in (c for c in df.columns if c not in REF_STANDARD):
        df["source"] = df["source"] + " [" + df[col].astype(str) + "]"
    return df[list(REF_STANDARD)]


def is_ablation_reference(path: str | Path) -> bool:
    """A reference CSV of ablation rows (an ``axis`` column, e.g. mae_table1.csv), read by ``mae_bench.ablations``."""
    with open(path) as f:
        return "axis" in f.readline().strip().split(",")


def load_reference(ref_dir: str | Path) -> pd.DataFrame:
    """Published numbers from ``ref_dir/*.csv`` or the one CSV ``ref_dir`` (see ``read_reference``) as cells:
    n = 0 marks them as published.
    A row (source, dataset, pretraining) whose every number an earlier file (name order) already holds for
    the same task, dataset, method, model and column is a duplicate citation and is left out."""
    import pandas as pd

    frames, seen = [], set()
    paths = [Path(ref_dir)] if Path(ref_dir).is_file() else sorted(Path(ref_dir).glob("*.csv"))
    for path in paths:
        if is_ablation_reference(path):  # the ablation tables' published rows (mae_bench.ablations)
            continue
        df = read_reference(path)
        df["dataset"] = df["dataset"].map(canonical_dataset)
        df["column"] = [_column(t, m, tm, tb) for t, m, tm, tb in
                        zip(df["task"], df["metric"], df["test_mode"], df["tune_blocks"])]
        df = df[df["column"].notna()]
        keys = [tuple(k) for k in df[["task", "dataset", "pretrain_method", "model", "column", "value"]].values]
        df = df.assign(_key=keys)
        dup = df.groupby(["source", "dataset", "pretrain_method"])["_key"].transform(lambda ks: set(ks) <= seen)
        df = df[~dup.astype(bool)]
        seen.update(df["_key"])
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=CELL_FIELDS)
    ref = pd.concat(frames, ignore_index=True)
    return pd.DataFrame(dict(table=ref["task"].map(TABLE_OF_TASK), dataset=ref["dataset"], source=ref["source"],
                             pretrain_method=ref["pretrain_method"], init="published", model=ref["model"],
                             column=ref["column"], mean=ref["value"].astype(float), std=float("nan"), n=0))


def is_reference(cells: pd.DataFrame, reference: str) -> pd.Series:
    """The rows of the reference row: its pretraining method or init is ``reference``."""
    return (cells["pretrain_method"] == reference) | (cells["init"] == reference)


def with_deltas(cells: pd.DataFrame, reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """``delta`` = mean - the reference row's mean of the same table, dataset, source (block), model and column
    (the mean of several such rows); ``p`` = Welch's two-sided p-value of that difference over seeds where both
    sides have n >= 2 and the block has one reference row, else NaN; both NaN on the reference rows themselves and
    where the block has no reference number there. ``reference`` names the row (a pretraining method or init)."""
    keys = ["table", "dataset", "source", "model", "column"]
    ref = is_reference(cells, reference)
    base = cells[ref].groupby(keys).agg(ref_mean=("mean", "mean"), ref_std=("std", "first"), ref_n=("n", "first"),
                                        ref_rows=("mean", "size"))
    out = cells.drop(columns=["delta", "p", "reference"], errors="ignore").join(base, on=keys)
    out["delta"] = (out["mean"] - out["ref_mean"]).where(~ref)
    tested = ~ref & (out["n"] >= 2) & (out["ref_n"] >= 2) & (out["ref_rows"] == 1)
    out["p"] = [welch_test(r.mean, r.std, int(r.n), r.ref_mean, r.ref_std, int(r.ref_n))[2] if t else math.nan
                for r, t in zip(out.itertuples(), tested)]
    out["reference"] = reference
    return out[CELL_FIELDS]


def verdict(n: int, delta: float, p: float) -> str | None:
    """A run's difference to its reference row: 'beyond' the seed noise (p < ALPHA), 'within' it, or 'untested'
    (fewer than 2 seeds on a side); None for published numbers, the reference row and blocks without one."""
    if not n or _missing(delta):
        return None
    if _missing(p):
        return "untested"
    return "beyond" if p < ALPHA else "within"


def build_cells(records: list[dict], reference: pd.DataFrame | None = None,
                reference_row: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """Published cells (``reference``), then the project's grouped runs (source = PROJECT_SOURCE), with deltas and
    p-values against ``reference_row`` (a pretraining method or init name)."""
    import pandas as pd

    runs = group_runs(records_frame(records)).assign(source=PROJECT_SOURCE)
    parts = [df.reindex(columns=CELL_FIELDS) for df in (reference, runs) if df is not None and not df.empty]
    if not parts:
        return pd.DataFrame(columns=CELL_FIELDS)
    cells = pd.concat(parts, ignore_index=True)
    cells["n"] = cells["n"].astype(int)
    return with_deltas(cells, reference_row)


def table_keys(cells: pd.DataFrame) -> list[tuple[str, str]]:
    """Every (table, dataset) with a number: table groups in TABLE_ORDER; datasets with this suite's runs first."""
    keys = list(dict.fromkeys(zip(cells["table"], cells["dataset"])))
    ours = set(zip(*[cells.loc[cells["source"] == PROJECT_SOURCE, k] for k in ("table", "dataset")]))
    return sorted(keys, key=lambda k: (_rank(k[0], TABLE_ORDER), k not in ours, k[1]))


def _rank(value, order) -> int:
    return order.index(value) if value in order else len(order)


def model_label(model: str) -> str:
    if not model.startswith("vit-"):
        return model
    size = model[4:]
    return "ViT-" + (size.upper() if len(size) == 1 else size)  # ViT-B, ViT-L; the demo's ViT-micro


def method_label(method: str) -> str:
    return METHOD_LABEL.get(method, method)


def format_cell(mean: float, std: float, n: int, delta: float, p: float = math.nan) -> str:
    """'50.3' (published, as printed), '15.2', '12.2 ± 2.0 (n=3)', each followed by the delta when it is known:
    ' (+2.4†)' beyond the noise, ' (+2.4)' within it, ' (+2.4, untested)' (see ``verdict``)."""
    if _missing(mean):
        return "-"
    if not n:
        text = f"{mean:g}" if "." in f"{mean:g}" else f"{mean:.1f}"
    else:
        text = f"{mean:.1f}" + (f" ± {std:.1f} (n={n})" if n > 1 else "")
    mark = {"beyond": "†", "untested": ", untested"}.get(verdict(n, delta, p), "")
    return text + ("" if _missing(delta) else f" ({delta:+.1f}{mark})")


@dataclass
class TableView:
    """One (table, dataset) laid out as the paper prints it: ``rows`` are (block label, method label, init) with
    the block label only on a block's first row (no init where only published numbers are: ``row_head``);
    ``columns`` are (model label, metric); ``sources`` are the published citations, numbered [1], [2], ... in the
    block labels."""

    table: str
    dataset: str
    title: str
    caption: str
    rows: list[tuple[str, ...]]
    columns: list[tuple[str, str]]
    text: list[list[str]]
    block_starts: list[int]
    sources: list[str]
    published_only: bool
    legend: str
    row_head: tuple[str, ...] = ("", "method", "init")  # published-only tables have no init column (all blank)


def table_view(cells: pd.DataFrame, table: str, dataset: str) -> TableView:
    sub = cells[(cells["table"] == table) & (cells["dataset"] == dataset)]
    sources = [s for s in dict.fromkeys(sub["source"]) if s != PROJECT_SOURCE]
    order = [*sources, PROJECT_SOURCE]
    row_keys = sorted(dict.fromkeys(zip(sub["source"], sub["pretrain_method"], sub["init"])),
                      key=lambda r: (order.index(r[0]), _rank(r[1], METHOD_ORDER), r[1], r[2]))
    col_keys = sorted(dict.fromkeys(zip(sub["model"], sub["column"])),
                      key=lambda c: (_rank(c[0], MODEL_ORDER), c[0], column_rank(c[1])))
    lookup = {(r.source, r.pretrain_method, r.init, r.model, r.column): format_cell(r.mean, r.std, r.n, r.delta, r.p)
              for r in sub.itertuples()}
    rows, starts = [], []
    for i, (src, method, init) in enumerate(row_keys):
        first = i == 0 or row_keys[i - 1][0] != src
        starts += [i] if first else []
        block = ("this suite" if src == PROJECT_SOURCE else f"published [{sources.index(src) + 1}]") if first else ""
        rows.append((block, method_label(method), "" if src != PROJECT_SOURCE else init))
    text = [[lookup.get((*rk, *ck), "-") for ck in col_keys] for rk in row_keys]
    published_only = not (sub["source"] == PROJECT_SOURCE).any()
    width = 2 if published_only else 3
    title = f"{TASK_LABEL.get(table, table)} on {DATASET_LABEL.get(dataset, dataset)}"
    columns = [(model_label(m), c) for m, c in col_keys]
    return TableView(table, dataset, title, TABLE_TITLES.get(table, ""), [r[:width] for r in rows], columns, text,
                     starts, sources, published_only, cell_legend(cells_reference(cells)),
                     ("", "method", "init")[:width])


def cells_reference(cells: pd.DataFrame) -> str:
    """The reference row the cells' deltas are taken to."""
    return str(cells["reference"].iloc[0]) if len(cells) else DEFAULT_REFERENCE


def to_markdown(view: TableView, level: str = "###") -> str:
    head = [*view.row_head, *(f"{m} {c}" for m, c in view.columns)]
    lines = [f"{level} {view.title}", "", view.caption, "", "| " + " | ".join(head) + " |",
             "|" + " :-- |" * len(view.row_head) + " --: |" * len(view.columns)]
    lines += ["| " + " | ".join([*row, *cells]) + " |" for row, cells in zip(view.rows, view.text)]
    lines += ["", *(f"[{i}] {s}  " for i, s in enumerate(view.sources, 1)), view.legend]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("≥", r"$\geq$"), ("†", r"$\dagger$"), ("<", r"$<$")):
        text = text.replace(a, b)
    return text


def to_latex(view: TableView) -> str:
    """booktabs tabular, ready to paste: a model header spanning its metric columns, the metric names, a rule
    between the published blocks and this suite's, the sources as footnotes under the table."""
    models = list(dict.fromkeys(m for m, _ in view.columns))
    span = {m: sum(1 for mm, _ in view.columns if mm == m) for m in models}
    lead = len(view.row_head)
    width = lead + len(view.columns)
    lines = [f"% {_tex_escape(view.title)}. {_tex_escape(view.caption)}",
             r"\begin{tabular}{" + "l" * lead + "c" * len(view.columns) + "}", r"\toprule",
             " " + "& " * lead + " & ".join(rf"\multicolumn{{{span[m]}}}{{c}}{{{m}}}" for m in models) + r" \\"]
    first, rules = lead + 1, []
    for m in models:
        rules.append(rf"\cmidrule(lr){{{first}-{first + span[m] - 1}}}")
        first += span[m]
    lines += [" ".join(rules), " & ".join([*("", "Method", "Init")[:lead], *(c for _, c in view.columns)]) + r" \\"]
    for i, (row, cells) in enumerate(zip(view.rows, view.text)):
        if i in view.block_starts:
            lines.append(r"\midrule")
        lines.append(" & ".join(_tex_escape(v) for v in [*row, *cells]) + r" \\")
    lines.append(r"\bottomrule")
    lines += [rf"\multicolumn{{{width}}}{{l}}{{\footnotesize [{i}] {_tex_escape(s)}}} \\"
              for i, s in enumerate(view.sources, 1)]
    lines += [rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {_tex_escape(view.legend)}}} \\", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def table_name(table: str, dataset: str) -> str:
    """File stem of a table: ``<table>_<dataset>``, e.g. coco_synthetic_coco, classification_imagenet."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{table}_{dataset}")


def to_csv(view: TableView) -> str:
    """The table's layout as CSV: block, method, init, then one column per '<model> <metric>' (cell text); the
    sources follow as rows whose first field is [k]."""
    import pandas as pd

    lead = len(view.row_head)
    rows = [[*row, *cells] for row, cells in zip(view.rows, view.text)]
    rows += [[f"[{i}]", s, "", *[""] * len(view.columns)][:lead] + [""] * len(view.columns)
             for i, s in enumerate(view.sources, 1)]
    head = [*("block", "method", "init")[:lead], *(f"{m} {c}" for m, c in view.columns)]
    return pd.DataFrame(rows, columns=head).to_csv(index=False)


def render(cells: pd.DataFrame, table: str, dataset: str, fmt: str) -> str:
    """One table as Markdown (``md``), booktabs LaTeX (``tex``) or CSV (``csv``), all in the same layout."""
    view = table_view(cells, table, dataset)
    return {"md": to_markdown, "tex": to_latex, "csv": to_csv}[fmt](view)


def write_tables(cells: pd.DataFrame, out_dir: str | Path,
                 formats: tuple[str, ...] = ("md", "tex", "csv")) -> list[Path]:
    """``out_dir/<table>_<dataset>.{md,tex,csv}`` per table, ``cells.csv`` (every cell as numbers: mean, std, n,
    delta, p; published numbers have n = 0), ``summary.md`` (the terminal summary), ``claims.md`` (``claims``)
    and ``ranking.md`` (+ ``ranking.csv``). The charts are ``mae_bench.report.write_charts``."""
    unknown = set(formats) - {"md", "tex", "csv"}
    if unknown:
        raise ValueError(f"--format: unknown {sorted(unknown)}; known: md, tex, csv")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table, dataset in table_keys(cells):
        for fmt in formats:
            written.append(write_text(out_dir / f"{table_name(table, dataset)}.{fmt}",
                                      render(cells, table, dataset, fmt)))
    ranking = ranking_agreement(cells)
    written.append(write_text(out_dir / "cells.csv", cells.to_csv(index=False)))
    written.append(write_text(out_dir / "summary.md", terminal_summary(cells)))
    against = tuple(dict.fromkeys((*CLAIMS_AGAINST, cells_reference(cells))))
    written.append(write_text(out_dir / "claims.md", claims_markdown(cells, against)))
    written.append(write_text(out_dir / "ranking.md", ranking_markdown(ranking)))
    written.append(write_text(out_dir / "ranking.csv", ranking.to_csv(index=False)))
    return written


def write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- terminal summary

SHORT_COLUMN = {"AP box": "COCO AP", "mIoU": "ADE mIoU", "mIoU linear": "ADE lin", "fine-tune": "FT",
                "linear": "LP", "linear grid": "LP grid", "attentive": "attn", "k-NN": "kNN"}
SUMMARY_NOTE = {"COCO AP": "Mask R-CNN AP box", "ADE mIoU": "UperNet mIoU", "ADE lin": "linear head on frozen features",
                "FT": "fine-tune top-1", "FT-": "last k blocks fine-tuned", "LP": "linear probe top-1",
                "LP grid": "best of the linear head grid", "attn": "attentive probe", "kNN": "k-NN top-1"}


def protocols(cells: pd.DataFrame) -> pd.DataFrame:
    """This suite's primary numbers (AP mask and test-mode variants left out) with a ``protocol`` label and a
    short label: columns protocol, short, cheap, model, pretrain_method, init, mean, std, n."""
    sub = cells[(cells["source"] == PROJECT_SOURCE) & (cells["column"] != "AP mask") &
                ~cells["column"].str.contains(" (", regex=False)]
    sub = sub.assign(_rank=[(_rank(t, TABLE_ORDER), column_rank(c), d) for t, c, d in
                            zip(sub["table"], sub["column"], sub["dataset"])]).sort_values("_rank", kind="stable")
    several = sub.groupby(["table", "column"])["dataset"].transform("nunique") > 1
    prefix = sub["table"].map({"coco": "COCO ", "ade20k": "ADE20K "}).fillna("")
    short = [SHORT_COLUMN.get(c, c.replace("partial-", "FT-")) + (f" {d}" if s else "")
             for c, d, s in zip(sub["column"], sub["dataset"], several)]
    suffix = (sub["table"] == "classification").map({True: " top-1", False: ""})
    return sub.assign(protocol=prefix + sub["column"] + suffix + " on " + sub["dataset"], short=short,
                      cheap=sub["column"].isin(CHEAP_COLUMNS)).drop(columns=["_rank"])


def _pipe_table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "| " + " | ".join(v.ljust(w) if i == 0 else v.rjust(w)  # noqa: E731
                                     for i, (v, w) in enumerate(zip(r, widths))) + " |"
    return [fmt(head), "|" + "|".join(("-" * (w + 1) + ":") if i else (":" + "-" * (w + 1))
                                     for i, w in enumerate(widths)) + "|", *map(fmt, rows)]


def terminal_summary(cells: pd.DataFrame, width: int = 100) -> str:
    """This suite's runs at a glance, no line wider than ``width``: a Markdown pipe table with methods (and init,
    and model where there are several) as rows and tasks as columns (mean over seeds, ± std where n ≥ 2);
    split into several tables when the columns do not fit. ``tools/make_tables.py`` writes it to summary.md."""
    import textwrap

    prot = protocols(cells)
    if prot.empty:
        return "No runs of this suite yet (tools/transfer.py writes result records).\n"
    rows = sorted(dict.fromkeys(zip(prot["pretrain_method"], prot["init"], prot["model"])),
                  key=lambda r: (_rank(r[0], METHOD_ORDER), r[0], r[1], _rank(r[2], MODEL_ORDER)))
    several_models = prot["model"].nunique() > 1
    reference = cells_reference(cells)
    labels = [f"{method_label(m)} ({i})" + (f" {model_label(mo)}" if several_models else "") +
              (" [ref]" if reference in (m, i) else "") for m, i, mo in rows]
    cols = list(dict.fromkeys(prot["short"]))
    layouts = []  # with std, then without: the first that fits in one table, else the one with std, split
    for with_std in (True, False):
        lookup = {(r.pretrain_method, r.init, r.model, r.short): f"{r.mean:.1f}" + (
            f"±{r.std:.1f}" if with_std and r.n > 1 else "") + MARK.get(verdict(r.n, r.delta, r.p), "")
            for r in prot.itertuples()}
        body = [[lab, *(lookup.get((*rk, c), "-") for c in cols)] for lab, rk in zip(labels, rows)]
        layouts.append(_fit_columns(["method (init)", *cols], body, width))
    chunks = next((chunks for chunks in layouts if len(chunks) == 1), layouts[0])
    out = ["This suite's runs (mean over seeds; ± std where n ≥ 2)", ""]
    for head, chunk in chunks:
        out += [*_pipe_table(head, chunk), ""]
    notes = [f"{k if k != 'FT-' else 'FT-k'} = {v}" for k, v in SUMMARY_NOTE.items()
             if any(c == k or (k == "FT-" and c.startswith(k)) or c.startswith(k + " ") for c in cols)]
    out += textwrap.wrap("; ".join(notes) + ".", width)
    out += textwrap.wrap(summary_marks(reference), width)
    return "\n".join(out) + "\n"


def summary_marks(reference: str) -> str:
    """The legend of the marks of the terminal summary and the charts."""
    return (f"† = differs from the {reference_label(reference)} row [ref] beyond the seed noise (Welch's t-test over "
            f"seeds, two-sided p < {ALPHA:g}); ° = untested (fewer than 2 seeds on a side); no mark = within the "
            "noise.")


def _fit_columns(head: list[str], body: list[list[str]], width: int) -> list[tuple[list[str], list[list[str]]]]:
    """Split the value columns into groups whose pipe table (label column repeated) fits ``width``."""
    widths = [max(len(r[i]) for r in [head, *body]) + 3 for i in range(len(head))]
    groups, current, used = [], [], widths[0] + 1
    for i in range(1, len(head)):
        if current and used + widths[i] > width:
            groups.append(current)
            current, used = [], widths[0] + 1
        current.append(i)
        used += widths[i]
    groups.append(current)
    return [([head[0], *(head[i] for i in g)], [[r[0], *(r[i] for i in g)] for r in body]) for g in groups]


# ---------------------------------------------------------------- claims

CLAIMS_AGAINST = ("random", "supervised")
CLAIMS_RULE = (f"A run differs from a reference row beyond the seed noise when Welch's t-test over their seeds "
               f"(same protocol and model) gives a two-sided p < {ALPHA:g}; with fewer than 2 seeds on either side the "
               "difference is untested. Differences are means over seeds.")
CLAIM_COLUMNS = [("higher", "higher, beyond the noise"), ("within", "within the noise"),
                 ("lower", "lower, beyond the noise"), ("untested", "untested (< 2 seeds)")]


def claims(cells: pd.DataFrame, against: tuple[str, ...] = CLAIMS_AGAINST) -> pd.DataFrame:
    """This suite's runs (``protocols``) against each reference row of ``against`` (a pretraining method or init):
    protocol, model, pretrain_method, init, mean, std, n, reference, delta, p and ``claim``: 'higher' / 'lower'
    (beyond the noise), 'within', 'untested', 'reference' (the row itself) or 'no reference' (no such row there)."""
    import pandas as pd

    ours = cells[cells["source"] == PROJECT_SOURCE]
    cols = ["protocol", "model", "pretrain_method", "init", "mean", "std", "n", "reference", "delta", "p", "claim"]
    frames = [protocols(with_deltas(ours, ref)) for ref in against if not ours.empty]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out["claim"] = [_claim(r) for r in out.itertuples()]
    return out[cols]


def _claim(r) -> str:
    if r.reference in (r.pretrain_method, r.init):
        return "reference"
    found = verdict(r.n, r.delta, r.p)
    if found == "beyond":
        return "higher" if r.delta > 0 else "lower"
    return found or "no reference"


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


CLAIMS_HEAD = ["protocol", *(h for _, h in CLAIM_COLUMNS)]


def claim_tables(cells: pd.DataFrame, against: tuple[str, ...] = CLAIMS_AGAINST) -> list[tuple[str, list[list[str]]]]:
    """Per reference row of ``against``: (its label, rows of CLAIMS_HEAD): per protocol, the inits higher, within,
    lower (beyond the noise) and untested, each with its delta and p-value."""
    table = claims(cells, against)
    several = table["model"].nunique() > 1
    table = table.assign(who=[f"{method_label(m)} ({i})" + (f" {model_label(mo)}" if several else "")
                              for m, i, mo in zip(table["pretrain_method"], table["init"], table["model"])])
    out = []
    for ref in against:
        rows = []
        for protocol, g in table[table["reference"] == ref].groupby("protocol", sort=False):
            runs = sorted(g.itertuples(), key=lambda r: (_rank(r.pretrain_method, METHOD_ORDER), r.init))
            if not any(r.claim == "reference" for r in runs):
                rows.append([protocol, "no such row", *[""] * (len(CLAIM_COLUMNS) - 1)])
                continue
            rows.append([protocol, *(", ".join(_claim_entry(r) for r in runs if r.claim == c) or "none"
                                     for c, _ in CLAIM_COLUMNS)])
        out.append((reference_label(ref), rows))
    return out


def claims_markdown(cells: pd.DataFrame, against: tuple[str, ...] = CLAIMS_AGAINST, level: str = "###") -> str:
    """``claim_tables`` as Markdown under the rule: every sentence follows from the cells."""
    lines = [f"{level} Which differences are beyond the seed noise?", "", CLAIMS_RULE, ""]
    tables = claim_tables(cells, against)
    if not any(rows for _, rows in tables):
        return "\n".join(lines + ["(no runs of this suite)"]) + "\n"
    for label, rows in tables:
        lines += [f"{level}# Against {label}", "", "| " + " | ".join(CLAIMS_HEAD) + " |",
                  "| :-- |" + " :-- |" * len(CLAIM_COLUMNS), *("| " + " | ".join(r) + " |" for r in rows), ""]
    return "\n".join(lines)


def _claim_entry(r) -> str:
    if r.claim == "untested":
        return f"{r.who} ({r.delta:+.1f})"
    return f"{r.who} ({r.delta:+.1f}, {_p_text(r.p)})"


# ---------------------------------------------------------------- ranking agreement

def ranking_agreement(cells: pd.DataFrame, min_inits: int = 4) -> pd.DataFrame:
    """For every pair of this suite's protocols evaluated on at least two common inits (same init name and
    model): Kendall's tau-b and Spearman's rho between their rankings of those inits (means over seeds).
    ``kind`` is 'cheap vs full', 'full vs full' or 'cheap vs cheap' (cheap = frozen-feature probes:
    k-NN, linear head grid, attentive, linear segmentation head); ``conclusive`` is False below ``min_inits``."""
    import pandas as pd

    cols = ["protocol_a", "protocol_b", "kind", "inits", "kendall_tau", "spearman_rho", "conclusive"]
    prot = protocols(cells)
    means = {p: dict(zip(zip(g["model"], g["init"]), g["mean"])) for p, g in prot.groupby("protocol", sort=False)}
    cheap = dict(zip(prot["protocol"], prot["cheap"]))
    names, rows = list(means), []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = (second, first) if cheap[second] and not cheap[first] else (first, second)
            common = sorted(set(means[a]) & set(means[b]))
            if len(common) < 2:
                continue
            x, y = [means[a][k] for k in common], [means[b][k] for k in common]
            kind = "cheap vs full" if cheap[a] != cheap[b] else ("cheap vs cheap" if cheap[a] else "full vs full")
            rows.append([a, b, kind, len(common), kendall_tau(x, y), spearman_rho(x, y), len(common) >= min_inits])
    out = pd.DataFrame(rows, columns=cols)
    kinds = ("cheap vs full", "full vs full", "cheap vs cheap")
    order = out["kind"].map(kinds.index) * len(names) ** 2 + out["protocol_a"].map(names.index) * len(names) + \
        out["protocol_b"].map(names.index)
    return out.iloc[order.argsort(kind="stable")].reset_index(drop=True)


RANKING_NOTE = ("Kendall's τ (tau-b) and Spearman's ρ between two protocols' rankings of the same inits (same init "
                "name and model, means over seeds): 1 = same order, -1 = reversed. With fewer than 4 inits a "
                "ranking says little (τ can only take a few values): such pairs are marked not conclusive.")


def ranking_markdown(ranking: pd.DataFrame, level: str = "###") -> str:
    lines = [f"{level} Do the protocols rank the inits alike?", "", RANKING_NOTE, ""]
    if ranking.empty:
        return "\n".join(lines + ["(no two protocols share two or more inits)"]) + "\n"
    flag = not ranking["conclusive"].all()  # the 'not conclusive' column only where some pair is
    lines += ["| protocol A | protocol B | kind | inits | Kendall τ | Spearman ρ |" + (" |" if flag else ""),
              "| :-- | :-- | :-- | --: | --: | --: |" + (" :-- |" if flag else "")]
    for r in ranking.itertuples():
        lines.append(f"| {r.protocol_a} | {r.protocol_b} | {r.kind} | {r.inits} | {_corr(r.kendall_tau)} | "
                     f"{_corr(r.spearman_rho)} |" + (f" {'' if r.conclusive else NOT_CONCLUSIVE} |" if flag else ""))
    return "\n".join(lines) + "\n"


NOT_CONCLUSIVE = "not conclusive (< 4 inits)"


def _corr(value: float) -> str:
    return "n/a (constant)" if _missing(value) else f"{value:+.2f}"


# ---------------------------------------------------------------- the model zoo

ZOO_PUBLISHED = ("fine-tune", "linear", "k-NN", "AP box", "AP mask", "mIoU")
ZOO_SIGNALS = ("k-NN", "linear grid", "attentive")
ZOO_TITLE = "Model zoo: published checkpoints, their papers' numbers and this suite's cheap signals"
ZOO_CAPTION = ("Rows: the names zoo entries (mae_bench/zoo.py; tools/fetch_ckpt.py --list) were run by (zoo:NAME or an "
               "alias of the same weights; with --zoo also every entry without runs), by pretraining method and size. "
               "'paper' columns: the numbers published for the checkpoint (ImageNet-1K top-1, COCO Mask R-CNN AP, "
               "ADE20K UperNet mIoU), source in brackets; the other columns: this suite's frozen-feature signals of "
               "the same checkpoint on the named dataset (mean ± std (n) over seeds; its model size in brackets where "
               "it differs from the entry's). Columns empty for every row are left out.")


def _zoo_entry(init: str):
    from .errors import CheckpointError
    from .zoo import entry_of

    try:
        return entry_of(str(init).split(" [")[0])
    except CheckpointError:
        return None


def zoo_view(cells: pd.DataFrame, every_entry: bool = False) -> tuple[list[str], list[list[str]], list[str]]:
    """The zoo table as (header, rows, sources): one row per name a zoo entry was run by (``zoo:<name>`` or an
    alias; ``every_entry``: also one row per entry of the registry without runs), sorted by method and size; the
    entry's facts, its published numbers, then the cheap signals per dataset. Columns empty for every row are
    dropped."""
    from .zoo import ENTRIES

    ours = cells[(cells["source"] == PROJECT_SOURCE) & (cells["table"] == "classification")
                 & cells["column"].isin(ZOO_SIGNALS)]
    ours = ours.assign(entry=[getattr(_zoo_entry(i), "name", None) for i in ours["init"]])
    ours = ours[ours["entry"].notna()]
    entries = [e for e in ENTRIES if every_entry or e.name in set(ours["entry"])]
    entries.sort(key=lambda e: (_rank(e.method, METHOD_ORDER), _rank(e.model, MODEL_ORDER), e.name))
    datasets = sorted(set(ours["dataset"]))
    signals = [(d, c) for d in datasets for c in ZOO_SIGNALS]
    head = ["method", "size", "name", "epochs", "data", "licence", *(f"paper {c}" for c in ZOO_PUBLISHED),
            *(f"{c} on {d}" for d, c in signals)]
    sources, rows = [], []
    for e in entries:
        published = []
        for col in ZOO_PUBLISHED:
            num = e.published.get(col)
            if num is not None and num.source not in sources:
                sources.append(num.source)
            published.append(f"{format_cell(num.value, math.nan, 0, math.nan)} [{sources.index(num.source) + 1}]"
                             if num else "-")
        runs = ours[ours["entry"] == e.name]
        for init in sorted(set(runs["init"]), key=lambda i: (not i.startswith("zoo:"), i)) or [f"zoo:{e.name}"]:
            row = [method_label(e.method), model_label(e.model), init, str(e.epochs or "-"), e.data, e.licence,
                   *published]
            for d, c in signals:
                sub = runs[(runs["init"] == init) & (runs["dataset"] == d) & (runs["column"] == c)]
                row.append("; ".join(format_cell(r.mean, r.std, r.n, math.nan)
                                     + ("" if r.model == e.model else f" ({model_label(r.model)})")
                                     for r in sub.itertuples()) or "-")
            rows.append(row)
    keep = [i for i in range(len(head)) if any(r[i] not in ("", "-") for r in rows)]
    return [head[i] for i in keep], [[r[i] for i in keep] for r in rows], sources


def zoo_markdown(cells: pd.DataFrame, every_entry: bool = False, level: str = "###") -> str:
    head, rows, sources = zoo_view(cells, every_entry)
    lines = [f"{level} {ZOO_TITLE}", "", ZOO_CAPTION, ""]
    if not rows:
        return "\n".join(lines + ["(no run of a zoo entry: tools/transfer.py --zoo --data-root DIR)"]) + "\n"
    lines += ["| " + " | ".join(head) + " |", "|" + " :-- |" * 6 + " --: |" * (len(head) - 6),
              *("| " + " | ".join(r) + " |" for r in rows), ""]
    return "\n".join(lines + [f"[{i}] {s}  " for i, s in enumerate(sources, 1)]) + "\n"


def write_zoo(cells: pd.DataFrame, out_dir: str | Path, every_entry: bool = False) -> list[Path]:
    """``out_dir/zoo.md`` and ``zoo.csv`` (``zoo_view``) when a record is of a zoo entry or ``every_entry``."""
    import pandas as pd

    head, rows, sources = zoo_view(cells, every_entry)
    if not rows:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows + [[f"[{i}]", s, *[""] * (len(head) - 2)] for i, s in enumerate(sources, 1)],
                         columns=head)
    return [write_text(out_dir / "zoo.md", zoo_markdown(cells, every_entry)),
            write_text(out_dir / "zoo.csv", table.to_csv(index=False))]
