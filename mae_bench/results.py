"""Result records (one JSON file per run in ``results/runs/``): schema, writing and loading; and the
paper-style tables built from them with pandas (``build_cells``, ``table_view``, ``write_tables``,
``terminal_summary``, ``ranking_agreement``, used by ``tools/make_tables.py`` and ``mae_bench.report``).

Schema (ARCHITECTURE.md "Result record"); ``metrics`` holds task metrics such as AP_box,
AP_mask, mIoU, top1, top5.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RecordError
from .meta import git_describe, git_sha, sha256, versions

if TYPE_CHECKING:
    import pandas as pd

RECORD_FIELDS = ("task", "dataset", "metrics", "model", "init", "pretrain_method", "pretrain_epochs", "ckpt",
                 "ckpt_sha256", "config", "cfg_options", "seed", "world_size", "git_sha", "versions", "started",
                 "finished", "wall_time_s")
FULL_TASKS = ("coco", "ade20k", "finetune", "linprobe")
CHEAP_TASKS = ("knn", "linprobe_grid", "attentive", "ade20k_linear")  # frozen-feature signals (issue 14)
TASKS = (*FULL_TASKS, *CHEAP_TASKS)
PRETRAIN_METHODS = ("mae", "supervised", "mocov3", "dino", "beit", "random")




def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def validate(record: dict) -> dict:
    missing = [k for k in RECORD_FIELDS if k not in record]
    if missing:
        raise RecordError(f"result record lacks {missing}")
    if record["task"] not in TASKS:
        raise RecordError(f"record task {record['task']!r} not in {TASKS}")
    bad = {k: v for k, v in record["metrics"].items() if not isinstance(v, (int, float)) or not math.isfinite(v)}
    if bad:
        raise RecordError(f"record metrics must be finite numbers, got {bad}")
    return record


def make_record(task: str, dataset: str, metrics: dict, *, model: str, init: str, pretrain_method: str,
                pretrain_epochs: int | None, ckpt: str | None, config: str, cfg_options: dict | list | None,
                seed: int, world_size: int, started: str, wall_time_s: float, ckpt_sha256: str | None = None,
                **extra) -> dict:
    """Fill the common fields (hash, git sha and ``git describe``, versions, finish time) and validate.

    ``ckpt_sha256``: the hash of ``ckpt`` when the caller already has it (the transfer skeleton hashes the bytes
    it read); otherwise the file is hashed here."""
    if ckpt_sha256 is None and ckpt and Path(ckpt).is_file():
        ckpt_sha256 = sha256(ckpt)
    rec = dict(task=task, dataset=dataset, metrics={k: float(v) for k, v in metrics.items()}, model=model,
               init=init, pretrain_method=pretrain_method, pretrain_epochs=pretrain_epochs, ckpt=ckpt,
               ckpt_sha256=ckpt_sha256, config=config, cfg_options=cfg_options or {}, seed=seed,
               world_size=world_size, git_sha=git_sha(), git_describe=git_describe(), versions=versions(),
               started=started, finished=now_iso(), wall_time_s=float(wall_time_s))
    rec.update(extra)
    return validate(rec)


def write_record(record: dict, runs_dir: str | Path = "results/runs", name: str | None = None) -> Path:
    """Write atomically as ``<runs_dir>/<task>_<model>_<init>_s<seed>_<timestamp>.json``; returns the path.

    An existing record is never replaced: runs of several seeds (or processes) finishing in the same second get
    ``-2``, ``-3``, ... suffixes."""
    validate(record)
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if name is None:
        stamp = re.sub(r"[^0-9]", "", record["finished"])[:14]
        name = f"{record['task']}_{record['model']}_{record['init']}_s{record.get('seed', 0)}_{stamp}"
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    path, k = runs_dir / f"{base}.json", 1
    while path.exists():
        k += 1
        path = runs_dir / f"{base}-{k}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def record_files(runs_dir: str | Path) -> list[Path]:
    """The record files of ``runs_dir`` in the order ``load_records`` returns them."""
    return sorted(Path(runs_dir).glob("*.json"))


def load_records(runs_dir: str | Path) -> list[dict]:
    """Every valid record in ``runs_dir`` (sorted by name); a malformed file raises naming it."""
    out = []
    for p in record_files(runs_dir):
        try:
            out.append(validate(json.loads(p.read_text())))
        except (json.JSONDecodeError, RecordError) as e:
            raise RecordError(f"bad result record {p}: {e}") from None
    return out


# ---------------------------------------------------------------- tables (pandas)
#
# One tidy frame of cells (table, dataset, source, pretrain_method, init, model, column, mean, std, n, delta) is
# built from the records and the published numbers; every output (Markdown, LaTeX, CSV, charts, the terminal
# summary, the report) is a view of it. A table is one (table group, dataset): published numbers of COCO 2017
# never sit beside runs on the synthetic COCO-layout scenes, and no table mixes datasets.

MODEL_ORDER = ("vit-t", "vit-s", "vit-b", "vit-l", "vit-h")
METHOD_ORDER = ("supervised", "mocov3", "dino", "beit", "mae", "random")
METHOD_LABEL = {"supervised": "Supervised", "mocov3": "MoCo v3", "dino": "DINO", "beit": "BEiT", "mae": "MAE",
                "random": "Random init"}
PROJECT_SOURCE = "mae-bench"
CELL_FIELDS = ["table", "dataset", "source", "pretrain_method", "init", "model", "column", "mean", "std", "n", "delta"]
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
DATASET_ALIAS = {"coco": "coco2017", "imagenet1k": "imagenet", "imagenet-1k": "imagenet", "in1k": "imagenet"}
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
CELL_LEGEND = ("Cells: mean ± std (n = seeds) where n ≥ 2, the plain value where n = 1; (+x.x) = difference to the "
               "Supervised row of the same block and model; - = not run.")


def _missing(value) -> bool:
    return value is None or value != value or value == ""


def dataset_name(dataset: str) -> str:
    return DATASET_ALIAS.get(str(dataset).lower(), str(dataset))


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


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (record, tabled metric): table, dataset, model, pretrain_method, init, column, value, seed."""
    import pandas as pd

    rows = []
    for r in records:
        for metric, value in r["metrics"].items():
            col = _column(r["task"], metric, r.get("test_mode"), r.get("tune_blocks"), r.get("heads"))
            if col is not None:
                rows.append(dict(table=TABLE_OF_TASK[r["task"]], dataset=dataset_name(r["dataset"]), model=r["model"],
                                 init=r["init"], pretrain_method=r["pretrain_method"], column=col, value=float(value),
                                 seed=r["seed"]))
    return pd.DataFrame(rows, columns=["table", "dataset", "model", "init", "pretrain_method", "column", "value",
                                       "seed"])


def group_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Repeated runs (same table, dataset, model, method, init, column) -> mean, std (sample, ddof 1), n."""
    keys = ["table", "dataset", "model", "pretrain_method", "init", "column"]
    if frame.empty:
        return frame.reindex(columns=[*keys, "mean", "std", "n"])
    out = frame.groupby(keys, sort=False)["value"].agg(mean="mean", std="std", n="count").reset_index()
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


def load_reference(ref_dir: str | Path) -> pd.DataFrame:
    """Published numbers from ``ref_dir/*.csv`` (see ``read_reference``) as cells: n = 0 marks them as published.
    A row (source, dataset, pretraining) whose every number an earlier file (name order) already holds for
    the same task, dataset, method, model and column is a duplicate citation and is left out."""
    import pandas as pd

    frames, seen = [], set()
    for path in sorted(Path(ref_dir).glob("*.csv")):
        df = read_reference(path)
        df["dataset"] = df["dataset"].map(dataset_name)
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


def with_deltas(cells: pd.DataFrame) -> pd.DataFrame:
    """``delta`` = mean - the Supervised mean of the same table, dataset, source (block), model and column;
    NaN on the Supervised rows themselves and where the block has no Supervised number there."""
    keys = ["table", "dataset", "source", "model", "column"]
    base = cells[cells["pretrain_method"] == "supervised"].groupby(keys)["mean"].mean().rename("_sup")
    out = cells.drop(columns=["delta"], errors="ignore").join(base, on=keys)
    out["delta"] = (out["mean"] - out["_sup"]).where(out["pretrain_method"] != "supervised")
    return out.drop(columns=["_sup"])[CELL_FIELDS]


def build_cells(records: list[dict], reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published cells, then the project's grouped runs (source = PROJECT_SOURCE), with deltas."""
    import pandas as pd

    runs = group_runs(records_frame(records)).assign(source=PROJECT_SOURCE)
    parts = [df.reindex(columns=CELL_FIELDS) for df in (reference, runs) if df is not None and not df.empty]
    if not parts:
        return pd.DataFrame(columns=CELL_FIELDS)
    cells = pd.concat(parts, ignore_index=True)
    cells["n"] = cells["n"].astype(int)
    return with_deltas(cells)


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


def format_cell(mean: float, std: float, n: int, delta: float) -> str:
    """'50.3' (published, as printed), '15.2', '12.2 ± 2.0 (n=3)', each followed by ' (+2.4)' when a delta is known."""
    if _missing(mean):
        return "-"
    if not n:
        text = f"{mean:g}" if "." in f"{mean:g}" else f"{mean:.1f}"
    else:
        text = f"{mean:.1f}" + (f" ± {std:.1f} (n={n})" if n > 1 else "")
    return text + ("" if _missing(delta) else f" ({delta:+.1f})")


@dataclass
class TableView:
    """One (table, dataset) laid out as the paper prints it: ``rows`` are (block label, method label, init) with
    the block label only on a block's first row; ``columns`` are (model label, metric); ``sources`` are the
    published citations, numbered [1], [2], ... in the block labels."""

    table: str
    dataset: str
    title: str
    caption: str
    rows: list[tuple[str, str, str]]
    columns: list[tuple[str, str]]
    text: list[list[str]]
    block_starts: list[int]
    sources: list[str]
    published_only: bool


def table_view(cells: pd.DataFrame, table: str, dataset: str) -> TableView:
    sub = cells[(cells["table"] == table) & (cells["dataset"] == dataset)]
    sources = [s for s in dict.fromkeys(sub["source"]) if s != PROJECT_SOURCE]
    order = [*sources, PROJECT_SOURCE]
    row_keys = sorted(dict.fromkeys(zip(sub["source"], sub["pretrain_method"], sub["init"])),
                      key=lambda r: (order.index(r[0]), _rank(r[1], METHOD_ORDER), r[1], r[2]))
    col_keys = sorted(dict.fromkeys(zip(sub["model"], sub["column"])),
                      key=lambda c: (_rank(c[0], MODEL_ORDER), c[0], column_rank(c[1])))
    lookup = {(r.source, r.pretrain_method, r.init, r.model, r.column): format_cell(r.mean, r.std, r.n, r.delta)
              for r in sub.itertuples()}
    rows, starts = [], []
    for i, (src, method, init) in enumerate(row_keys):
        first = i == 0 or row_keys[i - 1][0] != src
        starts += [i] if first else []
        block = ("this suite" if src == PROJECT_SOURCE else f"published [{sources.index(src) + 1}]") if first else ""
        rows.append((block, method_label(method), "" if src != PROJECT_SOURCE else init))
    text = [[lookup.get((*rk, *ck), "-") for ck in col_keys] for rk in row_keys]
    published_only = not (sub["source"] == PROJECT_SOURCE).any()
    title = f"{TASK_LABEL.get(table, table)} on {DATASET_LABEL.get(dataset, dataset)}"
    columns = [(model_label(m), c) for m, c in col_keys]
    return TableView(table, dataset, title, TABLE_TITLES.get(table, ""), rows, columns, text, starts, sources,
                     published_only)


def to_markdown(view: TableView, level: str = "###") -> str:
    head = ["", "method", "init", *(f"{m} {c}" for m, c in view.columns)]
    lines = [f"{level} {view.title}", "", view.caption, "", "| " + " | ".join(head) + " |",
             "|" + " :-- |" * 3 + " --: |" * len(view.columns)]
    lines += ["| " + " | ".join([*row, *cells]) + " |" for row, cells in zip(view.rows, view.text)]
    lines += ["", *(f"[{i}] {s}  " for i, s in enumerate(view.sources, 1)), CELL_LEGEND]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("≥", r"$\geq$")):
        text = text.replace(a, b)
    return text


def to_latex(view: TableView) -> str:
    """booktabs tabular, ready to paste: a model header spanning its metric columns, the metric names, a rule
    between the published blocks and this suite's, the sources as footnotes under the table."""
    models = list(dict.fromkeys(m for m, _ in view.columns))
    span = {m: sum(1 for mm, _ in view.columns if mm == m) for m in models}
    width = 3 + len(view.columns)
    lines = [f"% {_tex_escape(view.title)}. {_tex_escape(view.caption)}",
             r"\begin{tabular}{lll" + "c" * len(view.columns) + "}", r"\toprule",
             " & & & " + " & ".join(rf"\multicolumn{{{span[m]}}}{{c}}{{{m}}}" for m in models) + r" \\"]
    first, rules = 4, []
    for m in models:
        rules.append(rf"\cmidrule(lr){{{first}-{first + span[m] - 1}}}")
        first += span[m]
    lines += [" ".join(rules), " & ".join(["", "Method", "Init", *(c for _, c in view.columns)]) + r" \\"]
    for i, (row, cells) in enumerate(zip(view.rows, view.text)):
        if i in view.block_starts:
            lines.append(r"\midrule")
        lines.append(" & ".join(_tex_escape(v) for v in [*row, *cells]) + r" \\")
    lines.append(r"\bottomrule")
    lines += [rf"\multicolumn{{{width}}}{{l}}{{\footnotesize [{i}] {_tex_escape(s)}}} \\"
              for i, s in enumerate(view.sources, 1)]
    lines += [rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {_tex_escape(CELL_LEGEND)}}} \\", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def table_name(table: str, dataset: str) -> str:
    """File stem of a table: ``<table>_<dataset>``, e.g. coco_synthetic_coco, classification_imagenet."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{table}_{dataset}")


def to_csv(view: TableView) -> str:
    """The table's layout as CSV: block, method, init, then one column per '<model> <metric>' (cell text); the
    sources follow as rows whose first field is [k]."""
    import pandas as pd

    rows = [[*row, *cells] for row, cells in zip(view.rows, view.text)]
    rows += [[f"[{i}]", s, "", *[""] * len(view.columns)] for i, s in enumerate(view.sources, 1)]
    return pd.DataFrame(rows, columns=["block", "method", "init", *(f"{m} {c}" for m, c in view.columns)]).to_csv(
        index=False)


def render(cells: pd.DataFrame, table: str, dataset: str, fmt: str) -> str:
    """One table as Markdown (``md``), booktabs LaTeX (``tex``) or CSV (``csv``), all in the same layout."""
    view = table_view(cells, table, dataset)
    return {"md": to_markdown, "tex": to_latex, "csv": to_csv}[fmt](view)


def write_tables(cells: pd.DataFrame, out_dir: str | Path, formats: tuple[str, ...] = ("md", "tex", "csv"),
                 plots: bool = True) -> list[Path]:
    """``out_dir/<table>_<dataset>.{md,tex,csv}`` per table, a chart per (table, dataset, column)
    (``mae_bench.report.bar_chart``), ``cells.csv`` (every cell as numbers: mean, std, n, delta; published
    numbers have n = 0), ``summary.md`` (the terminal summary) and ``ranking.md`` (+ ``ranking.csv``)."""
    unknown = set(formats) - {"md", "tex", "csv"}
    if unknown:
        raise ValueError(f"--format: unknown {sorted(unknown)}; known: md, tex, csv")
    from .report import table_charts

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table, dataset in table_keys(cells):
        for fmt in formats:
            written.append(write_text(out_dir / f"{table_name(table, dataset)}.{fmt}",
                                      render(cells, table, dataset, fmt)))
        if plots:
            written += table_charts(cells, table, dataset, out_dir)
    ranking = ranking_agreement(cells)
    written.append(write_text(out_dir / "cells.csv", cells.to_csv(index=False)))
    written.append(write_text(out_dir / "summary.md", terminal_summary(cells)))
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
    labels = [f"{method_label(m)} ({i})" + (f" {model_label(mo)}" if several_models else "") for m, i, mo in rows]
    cols = list(dict.fromkeys(prot["short"]))
    layouts = []  # with std, then without: the first that fits in one table, else the one with std, split
    for with_std in (True, False):
        lookup = {(r.pretrain_method, r.init, r.model, r.short): f"{r.mean:.1f}" + (
            f"±{r.std:.1f}" if with_std and r.n > 1 else "") for r in prot.itertuples()}
        body = [[lab, *(lookup.get((*rk, c), "-") for c in cols)] for lab, rk in zip(labels, rows)]
        layouts.append(_fit_columns(["method (init)", *cols], body, width))
    chunks = next((chunks for chunks in layouts if len(chunks) == 1), layouts[0])
    out = ["This suite's runs (mean over seeds; ± std where n ≥ 2)", ""]
    for head, chunk in chunks:
        out += [*_pipe_table(head, chunk), ""]
    notes = [f"{k if k != 'FT-' else 'FT-k'} = {v}" for k, v in SUMMARY_NOTE.items()
             if any(c == k or (k == "FT-" and c.startswith(k)) or c.startswith(k + " ") for c in cols)]
    out += textwrap.wrap("; ".join(notes) + ".", width)
    return "\n".join(out) + "\n"


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


# ---------------------------------------------------------------- ranking agreement

def kendall_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b (ties in either ranking corrected for, as scipy.stats.kendalltau); NaN when one side is
    constant."""
    n, concordant, discordant, ties_x, ties_y = len(x), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = (x[i] > x[j]) - (x[i] < x[j]), (y[i] > y[j]) - (y[i] < y[j])
            ties_x += dx == 0
            ties_y += dy == 0
            concordant += dx * dy > 0
            discordant += dx * dy < 0
    pairs = n * (n - 1) / 2
    denom = math.sqrt((pairs - ties_x) * (pairs - ties_y))
    return (concordant - discordant) / denom if denom else float("nan")


def spearman_rho(x: list[float], y: list[float]) -> float:
    """Spearman's rho: Pearson correlation of the average ranks; NaN when one side is constant."""
    import pandas as pd

    rx, ry = pd.Series(x, dtype=float).rank(), pd.Series(y, dtype=float).rank()
    denom = math.sqrt(((rx - rx.mean()) ** 2).sum() * ((ry - ry.mean()) ** 2).sum())
    return float(((rx - rx.mean()) * (ry - ry.mean())).sum() / denom) if denom else float("nan")


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
    lines += ["| protocol A | protocol B | kind | inits | Kendall τ | Spearman ρ | |",
              "| :-- | :-- | :-- | --: | --: | --: | :-- |"]
    for r in ranking.itertuples():
        lines.append(f"| {r.protocol_a} | {r.protocol_b} | {r.kind} | {r.inits} | {_corr(r.kendall_tau)} | "
                     f"{_corr(r.spearman_rho)} | {'' if r.conclusive else 'not conclusive (< 4 inits)'} |")
    return "\n".join(lines) + "\n"


def _corr(value: float) -> str:
    return "n/a (constant)" if _missing(value) else f"{value:+.2f}"
