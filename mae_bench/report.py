"""Charts and the report of ``tools/make_tables.py``, rendering the tables of ``mae_bench.tables``: one bar chart
per (table, dataset, metric), and ``report.md`` + a self-contained ``report.html`` (images embedded as base64) with,
per task, the tables and charts; then which differences are beyond the seed noise; the ranking agreement between
protocols; the reconstructions and loss curves of every pretraining
run the records point to (``ckpt``'s folder: loss_curve.png, vis/recon_epoch*.png, log.jsonl; what is missing
is skipped); and a provenance table (record, checkpoint sha256 prefix, config, seed, git sha, wall time).
"""
from __future__ import annotations

import base64
import html
import json
import re
import shutil
import textwrap
from pathlib import Path

import pandas as pd

from .tables import (
    CLAIMS_AGAINST,
    CLAIMS_HEAD,
    CLAIMS_RULE,
    DATASET_LABEL,
    MARK,
    METHOD_ORDER,
    MODEL_ORDER,
    NOT_CONCLUSIVE,
    PROJECT_SOURCE,
    RANKING_NOTE,
    TASK_LABEL,
    ZOO_CAPTION,
    _corr,
    _rank,
    cells_reference,
    claim_tables,
    column_rank,
    method_label,
    model_label,
    ranking_agreement,
    summary_marks,
    table_keys,
    table_name,
    table_view,
    terminal_summary,
    verdict,
    write_text,
    zoo_view,
)
from .tables import to_markdown as view_markdown

METHOD_COLOUR = {"supervised": "#7f7f7f", "mocov3": "#1f77b4", "dino": "#2ca02c", "beit": "#9467bd", "mae": "#d62728",
                 "random": "#bcbd22"}
HATCHES = ("//", "\\\\", "xx", "..", "++", "oo")


# ---------------------------------------------------------------- charts

def _bars(sub: pd.DataFrame) -> pd.DataFrame:
    """One row per bar, in drawing order: model groups (MODEL_ORDER), then published sources, then this suite,
    methods in METHOD_ORDER within each."""
    sources = [s for s in dict.fromkeys(sub["source"]) if s != PROJECT_SOURCE]
    order = [*sources, PROJECT_SOURCE]
    key = [(_rank(m, MODEL_ORDER), order.index(s), _rank(p, METHOD_ORDER), i)
           for m, s, p, i in zip(sub["model"], sub["source"], sub["pretrain_method"], sub["init"])]
    out = sub.assign(_key=key).sort_values("_key").drop(columns="_key")
    out["ref"] = [0 if s == PROJECT_SOURCE else order.index(s) + 1 for s in out["source"]]
    reference = cells_reference(sub)
    out["label"] = [f"{method_label(m)}, published [{r}]" if r else
                    f"{method_label(m)} ({i})" + (" [ref]" if reference in (m, i) else "")
                    for m, i, r in zip(out["pretrain_method"], out["init"], out["ref"])]
    out["mark"] = [MARK.get(verdict(n, d, p), "") if not r else "" for n, d, p, r in
                   zip(out["n"], out["delta"], out["p"], out["ref"])]
    return out


def bar_chart(cells: pd.DataFrame, table: str, dataset: str, column: str, path: str | Path) -> Path | None:
    """PNG bar chart of one metric of one table: bars grouped by model size, one colour per method; published
    numbers drawn as hatched outlines (hatch per source) without error bars; this suite's runs filled, with
    std error bars only where n >= 2; the value above each bar, marked † where it differs from the reference
    row beyond the seed noise and ° where that is untested; full legend, sources and marks under the plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = cells[(cells["table"] == table) & (cells["dataset"] == dataset) & (cells["column"] == column)]
    if sub.empty:
        return None
    bars = _bars(sub)
    models = list(dict.fromkeys(bars["model"]))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(bars) + 1.0 * len(models) + 1), 3.6))
    x, ticks, seen = 0.0, [], set()
    for model in models:
        group = bars[bars["model"] == model]
        shade = group.groupby(["ref", "pretrain_method"]).cumcount()  # 2nd, 3rd init of a method: lighter
        for j, (b, k) in enumerate(zip(group.itertuples(), shade)):
            colour = METHOD_COLOUR.get(b.pretrain_method, "#17becf")
            style = (dict(facecolor="white", edgecolor=colour, hatch=HATCHES[(b.ref - 1) % len(HATCHES)], linewidth=1.2)
                     if b.ref else dict(color=colour, alpha=max(0.35, 1 - 0.3 * k), yerr=b.std if b.n >= 2 else None,
                                        capsize=4))
            ax.bar(x + j, b.mean, 0.85, label=None if b.label in seen else b.label, **style)
            ax.annotate(f"{b.mean:.1f}{b.mark}", (x + j, b.mean + (b.std if b.n >= 2 else 0)), ha="center", va="bottom",
                        fontsize=8, xytext=(0, 2), textcoords="offset points")
            seen.add(b.label)
        ticks.append((x + (len(group) - 1) / 2, model_label(model)))
        x += len(group) + 1
    centre, half = (x - 2) / 2, max((x - 2) / 2 + 0.8, 1.6)  # a lone bar stays bar-sized, centred
    ax.set_xlim(centre - half, centre + half)
    ax.set_xticks([t for t, _ in ticks], [m for _, m in ticks], fontsize=10)
    ax.set_ylabel(y_label(table, column), fontsize=10)
    top = float((bars["mean"] + bars["std"].where(bars["n"] >= 2, 0).fillna(0)).max())
    ax.set_ylim(0, top * 1.12 if top > 0 else 1.0)  # metrics are >= 0; an all-zero chart keeps a 0-1 axis
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(f"{TASK_LABEL.get(table, table)}: {y_label(table, column)}\non {DATASET_LABEL.get(dataset, dataset)}",
                 fontsize=11)
    legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(-0.1, -0.1), ncol=2, frameon=False)
    sources = [s for s in dict.fromkeys(sub["source"]) if s != PROJECT_SOURCE]
    notes = [f"[{i}] {s}" for i, s in enumerate(sources, 1)]
    if (bars["n"] >= 2).any():
        notes.append("Error bars: std over seeds (n >= 2).")
    if (bars["mark"] != "").any() or bars["label"].str.endswith("[ref]").any():
        notes.append(summary_marks(cells_reference(sub)))
    if notes:  # under the legend
        fig.canvas.draw()
        below = legend.get_window_extent().transformed(fig.transFigure.inverted()).y0
        fig.text(0.02, below - 0.02, "\n".join(textwrap.fill(n, 90) for n in notes), fontsize=8, va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def y_label(table: str, column: str) -> str:
    """'AP box', 'AP box, Cascade', 'mIoU, ms+flip (%)', 'linear probe top-1 (%)', ..."""
    base, _, mode = column.partition(" (")
    names = {"linear": "linear probe", "linear grid": "linear head grid (best)", "attentive": "attentive probe"}
    if table == "classification":
        base = f"{names.get(base, base)} top-1"
    unit = " (%)" if table == "classification" or base.startswith("mIoU") else ""
    return base + (f", {mode.rstrip(')')}" if mode else "") + unit


def chart_name(table: str, dataset: str, column: str) -> str:
    return f"{table_name(table, dataset)}_{re.sub(r'[^A-Za-z0-9]+', '-', column).strip('-')}.png"


def table_charts(cells: pd.DataFrame, table: str, dataset: str, out_dir: str | Path) -> list[Path]:
    """One chart per metric column of the table (columns in table order)."""
    sub = cells[(cells["table"] == table) & (cells["dataset"] == dataset)]
    columns = sorted(dict.fromkeys(sub["column"]), key=column_rank)
    paths = [bar_chart(cells, table, dataset, c, Path(out_dir) / chart_name(table, dataset, c)) for c in columns]
    return [p for p in paths if p is not None]


def write_charts(cells: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """The charts of every table (``table_charts``) into ``out_dir``."""
    return [p for table, dataset in table_keys(cells) for p in table_charts(cells, table, dataset, out_dir)]


# ---------------------------------------------------------------- pretraining runs and provenance

def pretraining_runs(records: list[dict]) -> list[dict]:
    """Every pretraining folder the records' ``ckpt`` paths point to: inits using it, loss curve, last
    reconstruction, other top-level PNGs (e.g. monitors), last log line; folders that are gone are listed
    with ``missing`` set."""
    runs: dict[str, dict] = {}
    for r in records:
        ckpt = r.get("ckpt")
        if not ckpt or ckpt == "random":
            continue
        folder = Path(ckpt).parent
        run = runs.setdefault(str(folder), dict(folder=folder, inits=[], method=r["pretrain_method"],
                                                epochs=r.get("pretrain_epochs"), missing=not folder.is_dir()))
        if r["init"] not in run["inits"]:
            run["inits"].append(r["init"])
    for run in runs.values():
        folder = run["folder"]
        recons = sorted(folder.glob("vis/recon_epoch*.png"))
        run["images"] = [p for p in [folder / "loss_curve.png", *sorted(folder.glob("*.png")), *recons[-1:]]
                         if p.is_file()]
        run["images"] = list(dict.fromkeys(run["images"]))
        run["last_log"] = _last_log(folder / "log.jsonl")
    return sorted(runs.values(), key=lambda r: (_rank(r["method"], METHOD_ORDER), str(r["folder"])))


def _last_log(path: Path) -> dict:
    if not path.is_file():
        return {}
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}


def provenance(records: list[dict], files: list[Path]) -> list[list[str]]:
    """Rows: record file, task, dataset, model, init, seed, ckpt sha256 prefix, config, git sha, wall time."""
    rows = []
    for r, f in zip(records, files):
        rows.append([f.name, r["task"], r["dataset"], r["model"], r["init"], str(r["seed"]),
                     (r.get("ckpt_sha256") or "-")[:12], r.get("config") or "-", (r.get("git_sha") or "-")[:10],
                     f"{r['wall_time_s']:.0f} s"])
    return rows


PROVENANCE_HEAD = ["record", "task", "dataset", "model", "init", "seed", "ckpt sha256", "config", "git sha",
                   "wall time"]


# ---------------------------------------------------------------- the report as blocks, rendered twice

def report_blocks(cells: pd.DataFrame, records: list[dict], files: list[Path], out_dir: Path,
                  extra: list[tuple] = ()) -> list[tuple]:
    """The report as a list of blocks: ('h', level, text), ('p', text), ('pre', text), ('table', head, rows,
    notes), ('view', TableView), ('imgs', [(path, alt), ...]) (pictures in a row). Pretraining pictures are
    copied under out_dir/pretraining/ so that report.md's links keep working where out_dir is copied."""
    blocks: list[tuple] = [("h", 1, "mae-bench report"), (
        "p", f"{len(records)} result record(s). Each table is one task on one dataset: published numbers (their "
             "source cited under the table) sit only beside runs on the same dataset, never beside runs on the "
             "synthetic scenes, whose numbers are not comparable with the papers'."),
        ("h", 2, "Summary"), ("pre", terminal_summary(cells))]
    views = [table_view(cells, t, d) for t, d in table_keys(cells)]
    for table in dict.fromkeys(v.table for v in views if not v.published_only):
        blocks.append(("h", 2, TASK_LABEL.get(table, table)))
        for view in (v for v in views if v.table == table and not v.published_only):
            blocks += [("view", view), ("imgs", _charts(cells, view, out_dir))]
    head, rows, sources = zoo_view(cells)  # runs of published checkpoints (zoo:NAME), beside their papers' numbers
    if rows:
        blocks += [("h", 2, "Model zoo"), ("p", ZOO_CAPTION),
                   ("table", head, rows, [f"[{i}] {s}" for i, s in enumerate(sources, 1)])]
    blocks += _claim_blocks(cells)
    blocks += _ranking_blocks(ranking_agreement(cells))
    blocks += list(extra)  # e.g. the ablation tables of mae_bench.ablations
    blocks += _pretraining_blocks(pretraining_runs(records), out_dir)
    blocks += [("h", 2, "Provenance"), ("table", PROVENANCE_HEAD, provenance(records, files), [])]
    published = [v for v in views if v.published_only]
    if published:
        blocks += [("h", 2, "Published numbers on datasets this suite has no runs on"), (
            "p", "For orientation only: the papers' numbers on the real benchmarks (their charts are in the tables "
                 "folder). They are not comparable with runs on other data.")]
        blocks += [("view", v) for v in published]
    return blocks


def _charts(cells: pd.DataFrame, view, out_dir: Path) -> list[tuple[Path, str]]:
    """(path, alt text) of the table's charts that exist."""
    sub = cells[(cells["table"] == view.table) & (cells["dataset"] == view.dataset)]
    paths = [(c, out_dir / chart_name(view.table, view.dataset, c))
             for c in sorted(dict.fromkeys(sub["column"]), key=column_rank)]
    return [(p, f"{view.title}: {c}") for c, p in paths if p.is_file()]


def _claim_blocks(cells: pd.DataFrame) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, "Which differences are beyond the seed noise?"), ("p", CLAIMS_RULE)]
    for label, rows in claim_tables(cells, tuple(dict.fromkeys((*CLAIMS_AGAINST, cells_reference(cells))))):
        if rows:
            blocks += [("h", 3, f"Against {label}"), ("table", CLAIMS_HEAD, rows, [])]
    return blocks


def _ranking_blocks(ranking: pd.DataFrame) -> list[tuple]:
    blocks = [("h", 2, "Do the protocols rank the inits alike?"), ("p", RANKING_NOTE)]
    if ranking.empty:
        return blocks + [("p", "No two protocols share two or more inits yet.")]
    flag = not ranking["conclusive"].all()  # the 'not conclusive' column only where some pair is
    rows = [[r.protocol_a, r.protocol_b, r.kind, str(r.inits), _corr(r.kendall_tau), _corr(r.spearman_rho),
             "" if r.conclusive else NOT_CONCLUSIVE][:7 if flag else 6] for r in ranking.itertuples()]
    head = ["protocol A", "protocol B", "kind", "inits", "Kendall τ", "Spearman ρ", ""]
    return blocks + [("table", head[:7 if flag else 6], rows, [])]


def _pretraining_blocks(runs: list[dict], out_dir: Path) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, "Pretraining runs")]
    if not runs:
        return blocks + [("p", "No record points to a pretraining checkpoint.")]
    for i, run in enumerate(runs):
        title = f"{method_label(run['method'])}: {', '.join(run['inits'])}"
        blocks.append(("h", 3, title))
        if run["missing"]:
            blocks.append(("p", f"Folder {run['folder']} not found here: pictures skipped."))
            continue
        log, facts = run["last_log"], [f"folder `{run['folder']}`"]
        if isinstance(log.get("epoch"), int):
            facts.append(f"{log['epoch'] + 1} epochs in log.jsonl")
        if isinstance(log.get("loss"), float):
            facts.append(f"last epoch's loss {log['loss']:.4g}")
        blocks.append(("p", "; ".join(facts) + ("" if run["images"] else "; no pictures in it.")))
        images = []
        for image in run["images"]:
            copy = out_dir / "pretraining" / f"{i:02d}_{run['method']}_{image.name}"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, copy)
            images.append((copy, f"{title}: {image.name}"))
        blocks.append(("imgs", images))
        recon = next((p for p in run["images"] if p.name.startswith("recon_epoch")), None)
        if recon is not None:
            blocks.append(("p", f"{recon.name}: each row is an image, its masked input (the patches the "
                                "encoder saw), the reconstruction, and the reconstruction with the visible patches "
                                "pasted back."))
    return blocks


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    return ["| " + " | ".join(map(esc, head)) + " |", "|" + " --- |" * len(head),
            *("| " + " | ".join(map(esc, r)) + " |" for r in rows)]


def to_markdown(blocks: list[tuple], out_dir: Path) -> str:
    out = []
    for b in blocks:
        if b[0] == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif b[0] == "p":
            out += [b[1], ""]
        elif b[0] == "pre":
            out += ["```", b[1].rstrip(), "```", ""]
        elif b[0] == "table":
            out += [*_md_table(b[1], b[2]), "", *b[3]]
        elif b[0] == "view":
            out += [view_markdown(b[1], level="###"), ""]
        elif b[0] == "imgs":
            out += [" ".join(f"![{alt}]({Path(p).relative_to(out_dir).as_posix()})" for p, alt in b[1]), ""]
    return "\n".join(out)


CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:24px auto;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #ddd}
th{background:#f4f4f4}table.paper td{white-space:nowrap}div.wide{overflow-x:auto}
img.recon{height:380px;image-rendering:pixelated}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.block td{border-top:2px solid #888}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
img{max-width:100%;margin:8px 0 18px}div.row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
p.note{font-size:12px;color:#555;margin:2px 0}
h2{border-bottom:1px solid #ccc;margin-top:36px}"""


def _html_view(view) -> str:
    e = html.escape
    models = list(dict.fromkeys(m for m, _ in view.columns))
    span = {m: sum(1 for mm, _ in view.columns if mm == m) for m in models}
    head = (f"<tr><th colspan={len(view.row_head)}></th>"
            + "".join(f"<th colspan={span[m]}>{e(m)}</th>" for m in models) + "</tr><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in view.row_head) + "".join(f"<th>{e(c)}</th>" for _, c in view.columns)
            + "</tr>")
    body = "".join(f"<tr{' class=block' if i in view.block_starts and i else ''}>"
                   + "".join(f"<td>{e(v)}</td>" for v in row)
                   + "".join(f"<td class=num>{e(v)}</td>" for v in cells) + "</tr>"
                   for i, (row, cells) in enumerate(zip(view.rows, view.text)))
    notes = [f"[{i}] {s}" for i, s in enumerate(view.sources, 1)] + [view.legend]
    return (f"<h3>{e(view.title)}</h3><p>{e(view.caption)}</p>"
            f"<div class=wide><table class=paper>{head}{body}</table></div>" +
            "".join(f"<p class=note>{e(n)}</p>" for n in notes))


def to_html(blocks: list[tuple]) -> str:
    e, out = html.escape, []
    for b in blocks:
        if b[0] == "h":
            out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif b[0] == "p":
            out.append("<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", e(b[1])) + "</p>")
        elif b[0] == "pre":
            out.append(f"<pre>{e(b[1])}</pre>")
        elif b[0] == "table":
            out.append("<div class=wide><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b[1]) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in b[2]) + "</table></div>")
        elif b[0] == "view":
            out.append(_html_view(b[1]))
        elif b[0] == "imgs":
            out.append("<div class=row>" + "".join(
                f'<img{" class=recon" if "recon_epoch" in Path(p).name else ""} alt="{e(alt)}" '
                f'src="data:image/png;base64,{base64.b64encode(Path(p).read_bytes()).decode()}">' for p, alt in b[1])
                + "</div>")
    return ("<!doctype html><html><head><meta charset=utf-8><title>mae-bench report</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def write_report(cells: pd.DataFrame, records: list[dict], files: list[Path], out_dir: str | Path,
                 extra: list[tuple] = ()) -> list[Path]:
    """``out_dir/report.md`` and the self-contained ``out_dir/report.html``; charts must already be in out_dir."""
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir / "pretraining", ignore_errors=True)
    blocks = report_blocks(cells, records, files, out_dir, extra)
    return [write_text(out_dir / "report.md", to_markdown(blocks, out_dir)),
            write_text(out_dir / "report.html", to_html(blocks))]
