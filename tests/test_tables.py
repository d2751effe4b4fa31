"""Tables from hand-written records with known numbers (several seeds, sizes, datasets, published rows): which
rows and columns each (task, dataset) table has, the cell text, that datasets never mix, the CSV numbers,
LaTeX, and the terminal summary's width; the significance marks (Welch's t-test over seeds against the reference
row) on known answers: Student's t distribution, a published Welch example, identical and separated cells."""
from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, run_tool
from mae_bench.report import _bars
from mae_bench.results import make_record, write_record
from mae_bench.stats import t_two_sided_p, welch_test
from mae_bench.tables import PROJECT_SOURCE, build_cells, claims, claims_markdown, load_reference, terminal_summary

IMAGENET_REF = "He et al. 2021, MAE paper, Table 3 (ImageNet-1K fine-tuning, 224 px)"
RUNS = [  # task, dataset, model, init, method, metrics, extra; one record each (a repeated key = another seed)
    ("finetune", "imagenet", "vit-b", "sup-b", "supervised", dict(top1=80.0, top5=95.0), {}),
    ("finetune", "imagenet", "vit-b", "sup-b", "supervised", dict(top1=81.0), {}),
    ("finetune", "imagenet", "vit-b", "mae-b", "mae", dict(top1=83.0), {}),
    ("finetune", "imagenet", "vit-b", "mae-b", "mae", dict(top1=83.5), {}),
    ("finetune", "imagenet", "vit-b", "mae-b", "mae", dict(top1=84.0), {}),
    ("finetune", "imagenet", "vit-b", "mae-b", "mae", dict(top1=81.0), dict(tune_blocks=1)),
    ("linprobe", "imagenet", "vit-b", "sup-b", "supervised", dict(top1=78.0), {}),
    ("linprobe", "imagenet", "vit-b", "mae-b", "mae", dict(top1=68.0), {}),
    ("finetune", "imagenet", "vit-l", "mae-l", "mae", dict(top1=85.5), {}),
    ("finetune", "synthetic", "vit-t", "mae-t", "mae", dict(top1=20.0), {}),  # synthetic: never in the IN table
    ("coco", "synthetic_coco", "vit-t", "sup-t", "supervised", dict(AP_box=10.0, AP_mask=9.0), {}),
    ("coco", "synthetic_coco", "vit-t", "sup-t", "supervised", dict(AP_box=12.5, AP_mask=9.5), {}),
    ("coco", "synthetic_coco", "vit-t", "sup-t", "supervised", dict(AP_box=14.0, AP_mask=11.0), {}),
    ("coco", "synthetic_coco", "vit-t", "mae-t", "mae", dict(AP_box=15.25, AP_mask=13.0), {}),
    ("coco", "synthetic_coco", "vit-t", "moco-t", "mocov3", dict(AP_box=11.0), {}),  # no AP_mask -> '-'
    ("ade20k", "synthetic_ade20k", "vit-t", "mae-t", "mae", dict(mIoU=30.5, aAcc=70.0), dict(test_mode="single_scale")),
]


def write_runs(runs_dir: Path, runs: list[tuple]) -> None:
    for i, (task, dataset, model, init, method, metrics, extra) in enumerate(runs):
        rec = make_record(task, dataset, metrics, model=model, init=init, pretrain_method=method, pretrain_epochs=1,
                          ckpt=None, config="configs/x.py", cfg_options=None, seed=i, world_size=1,
                          started="2026-01-01T00:00:00+00:00", wall_time_s=1.0, **extra)
        write_record(rec, runs_dir, name=f"run{i:02d}")


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tables")
    write_runs(tmp / "runs", RUNS)
    out = tmp / "tables"
    proc = run_tool("make_tables.py", "--runs", tmp / "runs", "--out", out, "--reference", REPO / "results/reference",
                    check=True)
    assert f"{len(RUNS)} record(s)" in proc.stdout and "report.html" in proc.stdout
    return out


def md_table(path: Path) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, whole text) of the Markdown table in ``path``; the block label is carried down."""
    text = path.read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    split = lambda ln: [c.strip() for c in ln.strip()[1:-1].split("|")]  # noqa: E731
    rows, block = [], ""
    for ln in lines[2:]:
        cells = split(ln)
        block = cells[0] or block
        rows.append([block, *cells[1:]])
    return split(lines[0]), rows, text


def test_classification_layout_and_cells(tables):
    head, rows, text = md_table(tables / "classification_imagenet.md")
    assert head[:3] == ["", "method", "init"]
    # column groups: model sizes with data (no ViT-T: the synthetic run is in its own table), metrics inside
    assert head[3:] == ["ViT-B fine-tune", "ViT-B partial-1", "ViT-B linear", "ViT-L fine-tune", "ViT-L partial-1",
                        "ViT-L linear", "ViT-H fine-tune", "ViT-H linear", "ViT-H fine-tune (448px)"]
    ours = [r for r in rows if r[0] == "this suite"]
    assert [r[1:3] for r in ours] == [["Supervised", "sup-b"], ["MAE", "mae-b"], ["MAE", "mae-l"]]
    assert all(r[0].startswith("published [") for r in rows[:-3])  # published blocks first
    col = {h: i for i, h in enumerate(head)}
    sup, mae_b, mae_l = ours
    assert sup[col["ViT-B fine-tune"]] == "80.5 ± 0.7 (n=2)"  # several seeds: mean ± std (n); no delta on Supervised
    assert mae_b[col["ViT-B fine-tune"]] == "83.5 ± 0.5 (n=3) (+3.0†)"  # Welch: t = 5.20, df = 1.68, p = 0.0497
    assert mae_b[col["ViT-B linear"]] == "68.0 (-10.0, untested)"  # one seed: the plain value, delta, not tested
    assert mae_b[col["ViT-B partial-1"]] == "81.0" and sup[col["ViT-B partial-1"]] == "-"  # no Supervised -> no delta
    assert mae_l[col["ViT-L fine-tune"]] == "85.5" and mae_l[col["ViT-B fine-tune"]] == "-"
    paper = next(r for r in rows if r[0] == "published [1]" and r[1] == "MAE")
    assert paper[col["ViT-B fine-tune"]] == "83.6 (+1.3)" and paper[2] == ""  # delta within the published block
    assert f"[1] {IMAGENET_REF}" in text and text.count(IMAGENET_REF) == 1  # cited once, under the table
    assert "two-sided p < 0.05" in text and "difference to the Supervised row" in text  # the legend states the test


def test_coco_layout(tables):
    head, rows, _ = md_table(tables / "coco_synthetic_coco.md")
    assert head[3:] == ["ViT-T AP box", "ViT-T AP mask"]
    assert [r[:3] for r in rows] == [["this suite", "Supervised", "sup-t"], ["this suite", "MoCo v3", "moco-t"],
                                     ["this suite", "MAE", "mae-t"]]  # fixed method order, no published rows
    assert rows[0][3] == f"12.2 ± {statistics.stdev([10, 12.5, 14]):.1f} (n=3)"
    assert rows[1][3:] == ["11.0 (-1.2, untested)", "-"] and rows[2][3] == "15.2 (+3.1, untested)"
    head, rows, _ = md_table(tables / "coco_coco2017.md")  # published only: paper columns, Cascade after plain
    assert head[:2] == ["", "method"]  # no init column: it would be blank on every published row
    assert head[2:6] == ["ViT-B AP box", "ViT-B AP mask", "ViT-B AP box (Cascade)", "ViT-B AP mask (Cascade)"]
    assert not any(r[0] == "this suite" for r in rows)


def test_datasets_never_mix(tables):
    names = sorted(p.stem for p in tables.glob("*_*.csv"))
    assert names == ["ade20k_ade20k", "ade20k_synthetic_ade20k", "classification_imagenet", "classification_synthetic",
                     "coco_coco2017", "coco_synthetic_coco"]
    cells = pd.read_csv(tables / "cells.csv")
    for (table, dataset), sub in cells.groupby(["table", "dataset"]):
        assert f"{table}_{dataset}" in names
        if dataset.startswith("synthetic"):
            assert (sub["source"] == PROJECT_SOURCE).all() and (sub["n"] > 0).all(), dataset  # no published row
    synthetic = cells[(cells["table"] == "classification") & (cells["dataset"] == "synthetic")]
    assert synthetic[["model", "init", "mean"]].values.tolist() == [["vit-t", "mae-t", 20.0]]
    assert "vit-t" not in set(cells.loc[cells["dataset"] == "imagenet", "model"])


def test_csv_same_layout_and_numbers(tables):
    wide = pd.read_csv(tables / "coco_synthetic_coco.csv", keep_default_na=False)
    assert list(wide.columns) == ["block", "method", "init", "ViT-T AP box", "ViT-T AP mask"]
    assert wide.values.tolist()[1] == ["", "MoCo v3", "moco-t", "11.0 (-1.2, untested)", "-"]
    cells = pd.read_csv(tables / "cells.csv")
    df = cells[cells["dataset"] == "synthetic_coco"].set_index(["init", "column"])
    box = [10.0, 12.5, 14.0]
    assert df.loc[("sup-t", "AP box"), "mean"] == pytest.approx(statistics.mean(box))
    assert df.loc[("sup-t", "AP box"), "std"] == pytest.approx(statistics.stdev(box))
    assert df.loc[("sup-t", "AP box"), "n"] == 3 and pd.isna(df.loc[("sup-t", "AP box"), "delta"])
    assert df.loc[("mae-t", "AP mask"), "delta"] == pytest.approx(13.0 - statistics.mean([9, 9.5, 11]))
    paper = cells[(cells["source"] == IMAGENET_REF) & (cells["model"] == "vit-b") & (cells["pretrain_method"] == "mae")]
    assert paper["mean"].tolist() == [83.6] and paper["n"].tolist() == [0]
    wide = pd.read_csv(tables / "classification_imagenet.csv", keep_default_na=False)
    assert ["[1]", IMAGENET_REF] in wide[["block", "method"]].values.tolist()  # the source, once


def test_latex_booktabs(tables):
    tex = (tables / "classification_imagenet.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\multicolumn{3}{c}{ViT-B}" in tex
    assert r"83.5 $\pm$ 0.5 (n=3) (+3.0$\dagger$)" in tex and r"\cmidrule(lr){4-6}" in tex
    assert r"p $<$ 0.05" in tex
    assert tex.count(r"\midrule") == 1 + len(set(load_reference(REPO / "results/reference")
                                                 .query("table == 'classification'")["source"]))
    assert r"\footnotesize [1] " + IMAGENET_REF.replace("%", r"\%") in tex


def test_charts_per_metric(tables):
    charts = sorted(p.name for p in tables.glob("coco_synthetic_coco*.png"))
    assert charts == ["coco_synthetic_coco_AP-box.png", "coco_synthetic_coco_AP-mask.png"]
    for name in charts:
        assert (tables / name).read_bytes()[:4] == b"\x89PNG"


def test_terminal_summary_width():
    inits = ["supervised-300ep-a-long-name", "mocov3-300ep", "dino-300ep", "beit-800ep", "mae-1600ep", "random"]
    runs = []
    for i, init in enumerate(inits):
        method = init.split("-")[0]
        for task, metric, ds in (("coco", "AP_box", "coco"), ("ade20k", "mIoU", "ade20k"), ("finetune", "top1", "in"),
                                 ("linprobe", "top1", "in"), ("knn", "top1", "in"), ("attentive", "top1", "in"),
                                 ("linprobe_grid", "top1", "in"), ("ade20k_linear", "mIoU", "ade20k")):
            for seed in range(2):
                runs.append(dict(task=task, dataset=ds, model="vit-b", init=init, pretrain_method=method, seed=seed,
                                 metrics={metric: 10.0 * i + seed + 0.25}))
    text = terminal_summary(build_cells(runs))
    assert max(map(len, text.splitlines())) <= 100
    for init in inits:
        assert f"({init})" in text
    for col in ("COCO AP", "ADE mIoU", "FT", "LP", "kNN", "attn", "LP grid", "ADE lin"):
        assert f" {col} |" in text
    assert "| MAE (mae-1600ep)" in text and "40.8±0.7" in text  # 40.25 / 41.25: mean ± std


def test_bad_record_named(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "broken.json").write_text('{"task": "coco"}')
    proc = run_tool("make_tables.py", "--runs", tmp_path / "runs", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "broken.json" in proc.stderr and not (tmp_path / "out").exists()
    proc = run_tool("make_tables.py", "--runs", tmp_path / "typo", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "typo: no such folder" in proc.stderr and not (tmp_path / "out").exists()


def test_reference_layouts_and_duplicate_citations(tmp_path):
    (tmp_path / "a.csv").write_text("task,dataset,model,pretrain_method,metric,value,source\n"
                                    "coco,coco2017,vit-b,mae,AP_box,50.3,paper\n"
                                    "coco,coco2017,vit-b,mae,AP_mask,44.9,paper\n")
    (tmp_path / "b.csv").write_text("task,detector,model,pretrain_method,AP_box,AP_mask,source\n"
                                    "coco,Mask R-CNN,vit-b,mae,50.3,44.9,again\n"
                                    "coco,Cascade Mask R-CNN,vit-b,mae,54.0,46.7,vitdet\n")
    ref = load_reference(tmp_path)
    assert sorted(ref["source"].unique()) == ["paper", "vitdet [Cascade Mask R-CNN]"]  # 'again' duplicates 'paper'
    cascade = ref[ref["source"] == "vitdet [Cascade Mask R-CNN]"].set_index("column")["mean"]
    assert cascade.to_dict() == {"AP box (Cascade)": 54.0, "AP mask (Cascade)": 46.7}
    assert set(ref["dataset"]) == {"coco2017"} and (ref["n"] == 0).all()


def test_records_finishing_in_the_same_second_are_all_kept(tmp_path):
    """Seeds of one (task, model, init) finishing in the same second once overwrote each other (a demo record lost)."""
    kw = dict(model="vit-t", init="x", pretrain_method="mae", pretrain_epochs=1, ckpt=None, config="c.py",
              cfg_options=None, world_size=1, started="2026-01-01T00:00:00+00:00", wall_time_s=1.0,
              finished="2026-01-01T00:00:01+00:00")
    paths = [write_record(make_record("finetune", "synthetic", dict(top1=float(s)), seed=s % 2, **kw), tmp_path)
             for s in range(3)]
    assert len(set(paths)) == 3 and all(p.is_file() for p in paths)
    assert sorted(int(json.loads(p.read_text())["metrics"]["top1"]) for p in paths) == [0, 1, 2]


# ---------------------------------------------------------------- significance

def test_student_t_known_values():
    for t in (0.3, 1.0, 4.0):
        assert t_two_sided_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), abs=1e-12)  # Cauchy
        assert t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-12)  # closed form at df 2
    assert t_two_sided_p(2.228139, 10) == pytest.approx(0.05, abs=1e-6)  # the t table's 97.5% point at df 10
    assert t_two_sided_p(0.0, 3.7) == pytest.approx(1.0)
    df, t = 4.6, 1.9  # a non-integer df (Welch's): Simpson's rule on the t density, restated here
    pdf = lambda x: math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2)) * (  # noqa: E731
        1 + x * x / df) ** (-(df + 1) / 2)
    xs = np.linspace(0, t, 2001)
    w = np.ones(len(xs))
    w[1:-1:2], w[2:-1:2] = 4, 2
    assert t_two_sided_p(t, df) == pytest.approx(1 - 2 * (xs[1] - xs[0]) / 3 * float(w @ [pdf(x) for x in xs]),
                                                 abs=1e-8)


def test_welch_textbook_example():
    """R's t.test (Welch by default) on two samples of 10: t = -1.8325, df = 17.9, p-value = 0.08356."""
    a, b = [11, 9, 10, 11, 10, 12, 9, 11, 12, 9], [11, 13, 10, 13, 12, 9, 11, 12, 12, 11]
    t, df, p = welch_test(statistics.mean(a), statistics.stdev(a), 10, statistics.mean(b), statistics.stdev(b), 10)
    assert (round(t, 4), round(df, 1), round(p, 5)) == (-1.8325, 17.9, 0.08356)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        welch_test(1.0, 0.0, 1, 2.0, 1.0, 3)


def test_welch_false_and_true_positive_rates():
    """Seeds of one distribution (3 a side) are called different at most ~5% of the time; 6 std apart, nearly always."""
    rng = np.random.default_rng(0)
    for shift, low, high in ((0.0, 0.02, 0.05), (6.0, 0.98, 1.0)):
        x, y = rng.normal(0, 1, (2000, 3)), rng.normal(shift, 1, (2000, 3))
        p = [welch_test(a.mean(), a.std(ddof=1), 3, b.mean(), b.std(ddof=1), 3)[2] for a, b in zip(x, y)]
        assert low <= np.mean(np.array(p) < 0.05) <= high, shift


SEEDED = {"sup": (10.0, 11.0, 12.0), "same": (10.0, 11.0, 12.0), "far": (20.0, 21.0, 22.0), "one": (15.0,),
          "rand": (9.0, 11.0, 13.0)}
METHOD_OF = {"sup": "supervised", "same": "mae", "far": "mocov3", "one": "dino", "rand": "random"}


def seeded_records() -> list[dict]:
    return [dict(task="finetune", dataset="synthetic", model="vit-t", init=init, pretrain_method=METHOD_OF[init],
                 seed=seed, metrics=dict(top1=v)) for init, values in SEEDED.items() for seed, v in enumerate(values)]


def test_significance_marks_on_known_cells():
    cells = build_cells(seeded_records()).set_index("init")
    assert cells.loc["same", "p"] == pytest.approx(1.0) and cells.loc["same", "delta"] == 0.0  # identical: no
    t = 10 / math.sqrt(2 / 3)  # equal spreads and seeds: t = 12.25, df = 4; the t CDF at df 4:
    a = 1 + t * t / 4
    assert cells.loc["far", "p"] == pytest.approx(2 * (0.5 - 3 / 8 * t / math.sqrt(a) * (1 - t * t / (12 * a))))
    assert cells.loc["far", "p"] < 1e-3
    assert math.isnan(cells.loc["one", "p"]) and math.isnan(cells.loc["sup", "p"])  # n = 1; the reference itself
    text = terminal_summary(build_cells(seeded_records()))
    assert "| Supervised (sup) [ref] " in text
    assert "11.0±1.0 |" in text and "21.0±1.0† |" in text and "15.0° |" in text and "Welch's t-test" in text
    bars = _bars(build_cells(seeded_records()))  # the charts' marks
    assert dict(zip(bars["init"], bars["mark"])) == {"sup": "", "same": "", "far": "†", "one": "°", "rand": ""}
    assert "Supervised (sup) [ref]" in set(bars["label"])


def test_reference_row_and_claims():
    against_random = build_cells(seeded_records(), reference_row="rand").set_index("init")
    assert against_random.loc["far", "delta"] == 10.0 and against_random.loc["sup", "delta"] == 0.0
    assert math.isnan(against_random.loc["rand", "delta"]) and against_random.loc["same", "reference"] == "rand"
    table = claims(build_cells(seeded_records())).set_index(["reference", "init"])["claim"]
    assert table["random"].to_dict() == {"sup": "within", "same": "within", "far": "higher", "one": "untested",
                                         "rand": "reference"}
    assert table["supervised"].to_dict() == {"sup": "reference", "same": "within", "far": "higher",
                                             "one": "untested", "rand": "within"}
    low = claims(build_cells(seeded_records()), against=("mocov3",)).set_index("init")["claim"]
    assert low["sup"] == "lower" and low["rand"] == "lower"  # 11 +- 1 and 11 +- 2 against 21 +- 1
    md = claims_markdown(build_cells(seeded_records()))
    assert "| fine-tune top-1 on synthetic | MoCo v3 (far) (+10.0, p < 0.001) |" in md
    assert "DINO (one) (+4.0)" in md and "#### Against Random init" in md and "two-sided p < 0.05" in md


def test_reference_row_flag(tmp_path):
    write_runs(tmp_path / "runs", [("finetune", "synthetic", "vit-t", i, METHOD_OF[i], dict(top1=v), {})
                                   for i, vs in SEEDED.items() for v in vs])
    proc = run_tool("make_tables.py", "--runs", tmp_path / "runs", "--out", tmp_path / "out", "--no-plots",
                    "--no-report", "--reference-row", "rand", check=True)
    assert "Random init (rand) [ref]" in proc.stdout and "differs from the rand row" in " ".join(proc.stdout.split())
    md = (tmp_path / "out" / "classification_synthetic.md").read_text()
    assert "21.0 ± 1.0 (n=3) (+10.0†)" in md and "difference to the rand row" in md
    claims_md = (tmp_path / "out" / "claims.md").read_text()  # against random, supervised and the named row
    assert "MoCo v3 (far) (+10.0, p < 0.001)" in claims_md and "#### Against rand" in claims_md
    proc = run_tool("make_tables.py", "--runs", tmp_path / "runs", "--out", tmp_path / "bad", "--reference-row", "x")
    assert proc.returncode == 2 and "--reference-row x" in proc.stderr and not (tmp_path / "bad").exists()


def test_several_runs_folders(tmp_path):
    """--runs A B: a file name in both is one record (a copy); copies that differ are an error naming both files."""
    runs = [("finetune", "synthetic", "vit-t", "sup", "supervised", dict(top1=10.0), {}),
            ("finetune", "synthetic", "vit-t", "sup", "supervised", dict(top1=12.0), {})]
    write_runs(tmp_path / "b", runs)
    (tmp_path / "a").mkdir()
    shutil.copy(tmp_path / "b" / "run00.json", tmp_path / "a")  # the same record in both folders
    proc = run_tool("make_tables.py", "--runs", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "out",
                    "--no-plots", "--no-report", check=True)
    assert "2 record(s)" in proc.stdout and "11.0±1.4" in proc.stdout
    write_runs(tmp_path / "c", runs[1:])  # run00 here holds 12.0
    proc = run_tool("make_tables.py", "--runs", tmp_path / "a", tmp_path / "c", "--out", tmp_path / "bad")
    assert proc.returncode == 2 and str(tmp_path / "c" / "run00.json") in proc.stderr
    assert str(tmp_path / "a" / "run00.json") in proc.stderr and not (tmp_path / "bad").exists()


def test_cells_join_only_runs_of_one_setting_over_distinct_seeds():
    """Two recipes of one init are two rows, never one mean; a seed run twice counts once (reported)."""
    def rec(top1, seed, config="configs/finetune/quick.py", options=None):
        return make_record("finetune", "imagenet", dict(top1=top1), model="vit-b", init="mae-b", pretrain_method="mae",
                           pretrain_epochs=1, ckpt=None, config=config, cfg_options=options, seed=seed, world_size=1,
                           started="2026-01-01T00:00:00+00:00", wall_time_s=1.0)

    records = [rec(80.0, 0), rec(82.0, 1), rec(82.0, 1),  # seed 1 twice: counted once
               rec(60.0, 0, options={"epochs": 1}), rec(62.0, 1, options={"epochs": 1, "seed": 1}),
               rec(50.0, 0, config="configs/finetune/vit_b.py")]
    cells = build_cells(records)
    ft = cells[(cells["column"] == "fine-tune") & (cells["source"] == PROJECT_SOURCE)].set_index("init")
    assert len(ft) == 3 and all(i.startswith("mae-b [") for i in ft.index)
    by_mean = ft.sort_values("mean")
    assert list(by_mean["mean"]) == [50.0, 61.0, 81.0] and list(by_mean["n"]) == [1, 2, 2]
    assert list(by_mean["repeated"]) == [0, 0, 1]
