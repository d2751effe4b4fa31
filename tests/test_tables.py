"""Tables from records with known numbers: cells equal them, repeated runs give the right mean / std / n,
deltas are to the supervised row of the same model and dataset, missing cells are '-'."""
from __future__ import annotations

import statistics

import pandas as pd
import pytest

from mae_bench.results import PROJECT_SOURCE, make_record, write_record
from conftest import REPO, run_tool

RUNS = [  # task, model, method, metrics, extra
    ("coco", "vit-t", "supervised", dict(AP_box=10.0, AP_mask=9.0), {}),
    ("coco", "vit-t", "supervised", dict(AP_box=12.5, AP_mask=9.5), {}),
    ("coco", "vit-t", "supervised", dict(AP_box=14.0, AP_mask=11.0), {}),
    ("coco", "vit-t", "mae", dict(AP_box=15.25, AP_mask=13.0), {}),
    ("coco", "vit-t", "mocov3", dict(AP_box=11.0), {}),  # no AP_mask -> '-'
    ("ade20k", "vit-t", "mae", dict(mIoU=30.5, aAcc=70.0), dict(test_mode="single_scale")),
    ("finetune", "vit-t", "mae", dict(top1=55.0, top5=90.0), dict(tune_blocks=None)),
    ("finetune", "vit-t", "mae", dict(top1=41.0), dict(tune_blocks=2)),
    ("linprobe", "vit-t", "mae", dict(top1=33.0), {}),
]
DATASETS = {"coco": "synthetic-coco", "ade20k": "synthetic_ade20k", "finetune": "synthetic", "linprobe": "synthetic"}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tables")
    for i, (task, model, method, metrics, extra) in enumerate(RUNS):
        rec = make_record(task, DATASETS[task], metrics, model=model, init=f"{method}_tiny", pretrain_method=method,
                          pretrain_epochs=1, ckpt=None, config="configs/x.py", cfg_options=None, seed=i,
                          world_size=1, started="2026-01-01T00:00:00+00:00", wall_time_s=1.0, **extra)
        write_record(rec, tmp / "runs", name=f"run{i}")
    out = tmp / "tables"
    proc = run_tool("make_tables.py", "--runs", tmp / "runs", "--out", out, "--reference", REPO / "results/reference",
                    check=True)
    assert f"{len(RUNS)} record(s)" in proc.stdout
    return out


def cell(df: pd.DataFrame, **where) -> pd.Series:
    sel = df
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, (where, sel)
    return sel.iloc[0]


def test_csv_cells_equal_records(tables):
    coco = pd.read_csv(tables / "coco.csv")
    box = [10.0, 12.5, 14.0]
    sup = cell(coco, source=PROJECT_SOURCE, pretrain_method="supervised", model="vit-t", column="AP_box")
    assert sup["mean"] == pytest.approx(statistics.mean(box)) and sup["n"] == 3
    assert sup["std"] == pytest.approx(statistics.stdev(box)) and sup["delta"] == pytest.approx(0.0)
    mae = cell(coco, source=PROJECT_SOURCE, pretrain_method="mae", model="vit-t", column="AP_mask")
    assert mae["mean"] == 13.0 and mae["n"] == 1 and mae["delta"] == pytest.approx(13.0 - statistics.mean([9, 9.5, 11]))
    paper = cell(coco, pretrain_method="mae", model="vit-b", column="AP_box",
                 source="He et al. 2021, MAE paper, Table 4 (Mask R-CNN, ViTDet-style FPN, IN-1K pretraining)")
    assert paper["mean"] == 50.3 and paper["n"] == 0
    imagenet = pd.read_csv(tables / "imagenet.csv")
    assert cell(imagenet, source=PROJECT_SOURCE, column="partial-2")["mean"] == 41.0
    assert cell(imagenet, source=PROJECT_SOURCE, column="linear")["mean"] == 33.0
    assert cell(pd.read_csv(tables / "ade20k.csv"), source=PROJECT_SOURCE, column="mIoU")["mean"] == 30.5


def md_rows(path) -> dict:
    """Markdown table -> {(source, method): {column header: cell}}."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("|")]
    head = [h.strip() for h in lines[0].strip("|").split("|")]
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[(cells[0], cells[2])] = dict(zip(head, cells))
    return rows


def test_markdown_cells_and_missing(tables):
    rows = md_rows(tables / "coco.md")
    sup = rows[(PROJECT_SOURCE, "supervised")]
    assert sup["vit-t AP_box"] == f"12.17 ± {statistics.stdev([10, 12.5, 14]):.2f} (n=3) [+0.00]"
    assert rows[(PROJECT_SOURCE, "mae")]["vit-t AP_box"] == "15.25 (n=1) [+3.08]"
    assert rows[(PROJECT_SOURCE, "mocov3")]["vit-t AP_mask"] == "-"
    assert rows[(PROJECT_SOURCE, "mocov3")]["vit-b AP_box"] == "-"  # the paper's columns stay, empty for us
    paper = [r for (src, m), r in rows.items() if src.startswith("He et al.") and m == "supervised"][0]
    assert paper["vit-l AP_mask"] == "43.9" and paper["vit-t AP_box"] == "-"
    summary = md_rows(tables / "summary.md")
    assert summary[(PROJECT_SOURCE, "mae")]["vit-t IN-1K: partial-2"] == "41.00 (n=1)"
    assert summary[(PROJECT_SOURCE, "mae")]["vit-t ADE20K: mIoU"] == "30.50 (n=1)"


def test_latex_and_plots(tables):
    tex = (tables / "coco.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"12.17 $\pm$" in tex
    for table in ("coco", "ade20k", "imagenet"):
        assert (tables / f"{table}.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_record_named(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "broken.json").write_text('{"task": "coco"}')
    proc = run_tool("make_tables.py", "--runs", tmp_path / "runs", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "broken.json" in proc.stderr and not (tmp_path / "out").exists()
    proc = run_tool("make_tables.py", "--runs", tmp_path / "typo", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "typo: no such folder" in proc.stderr and not (tmp_path / "out").exists()


def test_reference_layouts_and_duplicate_citations(tmp_path):
    from mae_bench.results import load_reference

    (tmp_path / "a.csv").write_text("task,dataset,model,pretrain_method,metric,value,source\n"
                                    "coco,coco2017,vit-b,mae,AP_box,50.3,paper\ncoco,coco2017,vit-b,mae,AP_mask,44.9,paper\n")
    (tmp_path / "b.csv").write_text("task,detector,model,pretrain_method,AP_box,AP_mask,source\n"
                                    "coco,Mask R-CNN,vit-b,mae,50.3,44.9,again\n"
                                    "coco,Cascade Mask R-CNN,vit-b,mae,54.0,46.7,vitdet\n")
    ref = load_reference(tmp_path)
    assert sorted(ref["source"].unique()) == ["paper", "vitdet [Cascade Mask R-CNN]"]  # 'again' duplicates 'paper'
    cascade = ref[ref["source"] == "vitdet [Cascade Mask R-CNN]"].set_index("column")["mean"]
    assert cascade.to_dict() == {"AP_box (Cascade)": 54.0, "AP_mask (Cascade)": 46.7}
    assert set(ref["dataset"]) == {"coco2017"} and (ref["n"] == 0).all()
