"""Result records (one JSON file per run in ``results/runs/``): schema, writing and loading; and the
paper-style tables built from them with pandas (``build_cells``, ``wide_table``, ``write_tables``,
used by ``tools/make_tables.py``).

Schema (ARCHITECTURE.md "Result record"); ``metrics`` holds task metrics such as AP_box,
AP_mask, mIoU, top1, top5.
"""
from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .meta import git_sha, sha256, versions

if TYPE_CHECKING:
    import pandas as pd

RECORD_FIELDS = ("task", "dataset", "metrics", "model", "init", "pretrain_method", "pretrain_epochs", "ckpt",
                 "ckpt_sha256", "config", "cfg_options", "seed", "world_size", "git_sha", "versions", "started",
                 "finished", "wall_time_s")
TASKS = ("coco", "ade20k", "finetune", "linprobe", "knn", "linprobe_grid", "attentive", "ade20k_linear")
PRETRAIN_METHODS = ("mae", "supervised", "mocov3", "dino", "beit", "random")


class RecordError(ValueError):
    pass


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
                seed: int, world_size: int, started: str, wall_time_s: float, **extra) -> dict:
    """Fill the common fields (hash, git sha, versions, finish time) and validate."""
    rec = dict(task=task, dataset=dataset, metrics={k: float(v) for k, v in metrics.items()}, model=model,
               init=init, pretrain_method=pretrain_method, pretrain_epochs=pretrain_epochs, ckpt=ckpt,
               ckpt_sha256=sha256(ckpt) if ckpt and Path(ckpt).is_file() else None, config=config,
               cfg_options=cfg_options or {}, seed=seed, world_size=world_size, git_sha=git_sha(),
               versions=versions(), started=started, finished=now_iso(), wall_time_s=float(wall_time_s))
    rec.update(extra)
    return validate(rec)


def write_record(record: dict, runs_dir: str | Path = "results/runs", name: str | None = None) -> Path:
    """Write atomically as ``<runs_dir>/<task>_<model>_<init>_<timestamp>.json``; returns the path."""
    validate(record)
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if name is None:
        stamp = re.sub(r"[^0-9]", "", record["finished"])[:14]
        name = f"{record['task']}_{record['model']}_{record['init']}_{stamp}"
    path = runs_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def load_records(runs_dir: str | Path) -> list[dict]:
    """Every valid record in ``runs_dir`` (sorted by name); a malformed file raises naming it."""
    out = []
    for p in sorted(Path(runs_dir).glob("*.json")):
        try:
            out.append(validate(json.loads(p.read_text())))
        except (json.JSONDecodeError, RecordError) as e:
            raise RecordError(f"bad result record {p}: {e}") from None
    return out


# ---------------------------------------------------------------- tables (pandas)
#
# One tidy frame of cells (table, row = source / dataset / method / init, column = model / metric label,
# mean, std, n, delta) is built from the records and the published numbers; every output (Markdown,
# LaTeX, CSV, bar charts) is a view of it.

MODEL_ORDER = ("vit-t", "vit-s", "vit-b", "vit-l", "vit-h")
METHOD_ORDER = ("supervised", "mocov3", "dino", "beit", "mae", "random")
PROJECT_SOURCE = "mae-bench"
ROW_KEYS = ["source", "dataset", "pretrain_method", "init"]
COLUMN_KEYS = ["model", "column"]
CELL_FIELDS = ["table", *ROW_KEYS, *COLUMN_KEYS, "mean", "std", "n", "delta"]


def _column(task: str, metric: str, test_mode, tune_blocks) -> str | None:
    """The table column a (task, metric, test mode, partial fine-tuning depth) belongs to; None = not tabled."""
    mode = "" if test_mode in (None, "", "single_scale") or test_mode != test_mode else f" ({test_mode})"
    if task == "coco" and metric in ("AP_box", "AP_mask"):
        return metric + mode
    if task == "ade20k" and metric == "mIoU":
        return metric + mode
    if task in ("finetune", "linprobe") and metric == "top1":
        if task == "linprobe":
            return "linear" + mode
        blocks = tune_blocks if tune_blocks == tune_blocks else None  # NaN -> None
        return ("fine-tune" if blocks is None else f"partial-{int(blocks)}") + mode
    return None


TABLE_OF_TASK = {"coco": "coco", "ade20k": "ade20k", "finetune": "imagenet", "linprobe": "imagenet"}
TABLE_ORDER = ["coco", "ade20k", "imagenet"]
TABLE_TITLES = {
    "coco": "COCO object detection and instance segmentation, Mask R-CNN (MAE paper Table 4 layout): AP box / AP mask",
    "ade20k": "ADE20K semantic segmentation, UperNet (MAE paper Table 5 layout): mIoU",
    "imagenet": "ImageNet-1K top-1: fine-tuning, linear probing, partial fine-tuning (last k blocks)",
    "summary": "Every task (column = task: metric)",
}


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (record, tabled metric): task, dataset, model, pretrain_method, init, column, value, seed."""
    import pandas as pd

    rows = []
    for r in records:
        for metric, value in r["metrics"].items():
            col = _column(r["task"], metric, r.get("test_mode"), r.get("tune_blocks"))
            if col is not None:
                rows.append(dict(task=r["task"], dataset=r["dataset"], model=r["model"], init=r["init"],
                                 pretrain_method=r["pretrain_method"], column=col, value=float(value),
                                 seed=r["seed"]))
    return pd.DataFrame(rows, columns=["task", "dataset", "model", "init", "pretrain_method", "column", "value",
                                       "seed"])


def group_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Repeated runs (same task, dataset, model, method, init, column) -> mean, std (sample, ddof 1), n."""
    keys = ["task", "dataset", "model", "pretrain_method", "init", "column"]
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
    return pd.DataFrame(dict(table=ref["task"].map(TABLE_OF_TASK), source=ref["source"], dataset=ref["dataset"],
                             pretrain_method=ref["pretrain_method"], init="published", model=ref["model"],
                             column=ref["column"], mean=ref["value"].astype(float), std=float("nan"), n=0,
                             delta=float("nan")))


def project_cells(grouped: pd.DataFrame) -> pd.DataFrame:
    """Grouped runs as cells, with ``delta`` = mean - the supervised mean of the same table column, model
    and dataset (NaN when the project has no supervised run there)."""
    import pandas as pd

    if grouped.empty:
        return pd.DataFrame(columns=CELL_FIELDS)
    cells = grouped.assign(table=grouped["task"].map(TABLE_OF_TASK), source=PROJECT_SOURCE)
    base = (cells[cells["pretrain_method"] == "supervised"].groupby(["table", "dataset", "model", "column"])["mean"]
            .mean().rename("supervised_mean"))
    cells = cells.join(base, on=["table", "dataset", "model", "column"])
    cells["delta"] = cells["mean"] - cells["supervised_mean"]
    return cells[CELL_FIELDS]


def build_cells(records: list[dict], reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published cells then the project's grouped runs, plus a ``summary`` copy of all of them."""
    import pandas as pd

    parts = [df for df in (reference, project_cells(group_runs(records_frame(records)))) if df is not None
             and not df.empty]
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CELL_FIELDS)
    cells = cells.sort_values("table", key=lambda t: t.map(TABLE_ORDER.index), kind="stable", ignore_index=True)
    summary = cells.assign(column=[f"{TASK_LABEL.get(t, t)}: {c}" for t, c in zip(cells["table"], cells["column"])],
                           table="summary")
    if not summary.empty:  # one summary row per (source, pretraining, init), listing the datasets it covers
        summary["dataset"] = summary.groupby(["source", "pretrain_method", "init"])["dataset"].transform(
            lambda s: ", ".join(dict.fromkeys(s)))
    return pd.concat([cells, summary], ignore_index=True)


TASK_LABEL = {"coco": "COCO", "ade20k": "ADE20K", "imagenet": "IN-1K"}


def format_cell(mean: float, std: float, n: int, delta: float) -> str:
    """'50.30' (published), '50.30 ± 0.20 (n=3) [+2.40]' (project; std only for n > 1, delta when known)."""
    if mean != mean:
        return "-"
    if not n:  # published: as printed in the source (at least one decimal)
        text = f"{mean:g}"
        return text if "." in text else f"{mean:.1f}"
    text = f"{mean:.2f}"
    if n and n > 1:
        text += f" ± {std:.2f} (n={n})"
    elif n:
        text += " (n=1)"
    if delta == delta and n:
        text += f" [{delta:+.2f}]"
    return text


def _order(values, preferred) -> list:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def wide_table(cells: pd.DataFrame, table: str) -> pd.DataFrame:
    """Rows (source, dataset, pretraining, init) x columns (model, column) of formatted cells; '-' where empty."""
    import pandas as pd

    sub = cells[cells["table"] == table]
    if sub.empty:
        return pd.DataFrame()
    sub = sub.assign(text=[format_cell(m, s, n, d) for m, s, n, d in zip(sub["mean"], sub["std"], sub["n"],
                                                                          sub["delta"])])
    wide = sub.pivot_table(index=ROW_KEYS, columns=COLUMN_KEYS, values="text", aggfunc="first", sort=False)
    models, columns = _order(sub["model"], MODEL_ORDER), list(dict.fromkeys(sub["column"]))
    pairs = sorted(set(zip(sub["model"], sub["column"])), key=lambda mc: (models.index(mc[0]), columns.index(mc[1])))
    wide = wide.reindex(columns=pd.MultiIndex.from_tuples(pairs, names=COLUMN_KEYS)).fillna("-")
    sources = list(dict.fromkeys(sub["source"]))  # published first, in the order of the reference files
    rows = sorted(wide.index, key=lambda r: (r[0] == PROJECT_SOURCE, sources.index(r[0]), r[1],
                                             _rank(r[2], METHOD_ORDER), r[3]))
    return wide.loc[rows]


def _rank(value, order) -> int:
    return order.index(value) if value in order else len(order)


def to_markdown(wide: pd.DataFrame, title: str) -> str:
    if wide.empty:
        return f"### {title}\n\n(no numbers)\n"
    head = [*ROW_KEYS, *(f"{m} {c}" for m, c in wide.columns)]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for idx, row in wide.iterrows():
        lines.append("| " + " | ".join([*map(str, idx), *row.tolist()]) + " |")
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("$\\pm$", r"$\pm$")):
        text = text.replace(a, b)
    return text


def to_latex(wide: pd.DataFrame, title: str) -> str:
    """booktabs tabular: a model header spanning its metric columns, then the metric names."""
    if wide.empty:
        return f"% {title}: no numbers\n"
    models = list(dict.fromkeys(m for m, _ in wide.columns))
    span = {m: sum(1 for mm, _ in wide.columns if mm == m) for m in models}
    lines = [f"% {title}", r"\begin{tabular}{" + "l" * len(ROW_KEYS) + "c" * len(wide.columns) + "}", r"\toprule",
             " & " * (len(ROW_KEYS) - 1) + " & " + " & ".join(rf"\multicolumn{{{span[m]}}}{{c}}{{{_tex_escape(m)}}}"
                                                               for m in models) + r" \\"]
    first = len(ROW_KEYS) + 1
    rules = []
    for m in models:
        rules.append(rf"\cmidrule(lr){{{first}-{first + span[m] - 1}}}")
        first += span[m]
    lines.append(" ".join(rules))
    lines.append(" & ".join([*ROW_KEYS, *(c for _, c in wide.columns)]).replace("_", r"\_") + r" \\")
    lines.append(r"\midrule")
    for idx, row in wide.iterrows():
        lines.append(" & ".join(_tex_escape(str(v)) for v in [*idx, *row.tolist()]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def bar_chart(cells: pd.DataFrame, table: str, path: str | Path) -> Path | None:
    """PNG bar chart of one table (matplotlib Agg): a group of bars per (model, column), one bar per row that
    has a number there (colour = row, consistent across groups), std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = cells[cells["table"] == table]
    if sub.empty:
        return None
    sub = sub.assign(group=sub["model"] + "\n" + sub["column"].str.replace(" (", "\n(", regex=False),
                     row=sub["pretrain_method"] + " (" + sub["source"].str.slice(0, 40) + ")")
    rows = list(dict.fromkeys(sub["row"]))
    colours = {r: plt.get_cmap("tab20")(i % 20) for i, r in enumerate(rows)}
    fig, ax = plt.subplots(figsize=(min(20, max(10, 0.22 * len(sub) + 5)), 5))
    x, ticks, width, labelled = 0.0, [], 0.8, set()
    models, columns = _order(sub["model"], MODEL_ORDER), list(dict.fromkeys(sub["column"]))
    sub = sub.assign(_m=sub["model"].map(models.index), _c=sub["column"].map(columns.index))
    sub = sub.sort_values(["_m", "_c"], kind="stable")
    for group, gsub in sub.groupby("group", sort=False):
        for j, (row, mean, std) in enumerate(zip(gsub["row"], gsub["mean"], gsub["std"])):
            ax.bar(x + j * width, mean, width, yerr=0 if std != std else std, capsize=2, color=colours[row],
                   label=None if row in labelled else row)
            labelled.add(row)
        ticks.append((x + (len(gsub) - 1) * width / 2, group))
        x += max(len(gsub), 2) * width + 1.0
    ax.set_xticks([t for t, _ in ticks], [g for _, g in ticks], fontsize=6)
    fig.suptitle(TABLE_TITLES.get(table, table), fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_tables(cells: pd.DataFrame, out_dir: str | Path, formats: tuple[str, ...] = ("md", "tex", "csv"),
                 plots: bool = True) -> list[Path]:
    """``out_dir/<table>.{md,tex,csv}`` for coco, ade20k, imagenet and summary, plus ``<table>.png``; the CSV
    is the tidy cell list (mean, std, n, delta as numbers; published rows have n = 0)."""
    unknown = set(formats) - {"md", "tex", "csv"}
    if unknown:
        raise ValueError(f"--format: unknown {sorted(unknown)}; known: md, tex, csv")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table in ("coco", "ade20k", "imagenet", "summary"):
        for fmt in formats:
            written.append(_write_text(out_dir / f"{table}.{fmt}", render(cells, table, fmt)))
        if plots and table != "summary" and bar_chart(cells, table, out_dir / f"{table}.png"):
            written.append(out_dir / f"{table}.png")
    return written


def render(cells: pd.DataFrame, table: str, fmt: str) -> str:
    """One table as Markdown (``md``), booktabs LaTeX (``tex``) or its tidy cell list (``csv``)."""
    if fmt == "csv":
        return cells[cells["table"] == table].to_csv(index=False)
    wide = wide_table(cells, table)
    return to_markdown(wide, TABLE_TITLES[table]) if fmt == "md" else to_latex(wide, TABLE_TITLES[table])


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
