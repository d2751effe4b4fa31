"""The report of tools/make_tables.py: Kendall's tau / Spearman's rho on known rankings, the ranking-agreement
table (cheap vs full protocols, < 4 inits not conclusive), and report.md / report.html from records that point
to a real (tiny) pretraining run and to one whose folder is gone."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from conftest import REPO, TINY_MAE, run_tool
from mae_bench.results import make_record, write_record
from mae_bench.stats import kendall_tau, spearman_rho
from mae_bench.tables import build_cells, ranking_agreement, ranking_markdown

INITS = ["a", "b", "c", "d", "e"]
FINETUNE = [10.0, 20.0, 30.0, 40.0, 50.0]
KNN = [1.0, 2.0, 3.0, 5.0, 4.0]  # one swapped pair: tau = (9 - 1) / 10, rho = 1 - 6 * 2 / (5 * 24)
LINEAR = {"a": 3.0, "b": 2.0, "c": 1.0}  # three inits only, reversed


def test_kendall_and_spearman_known_rankings():
    assert kendall_tau(FINETUNE, KNN) == pytest.approx(0.8) and spearman_rho(FINETUNE, KNN) == pytest.approx(0.9)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman_rho([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(4 / 24 ** 0.5)  # tau-b, as scipy: 0.8165
    assert spearman_rho([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(0.894427, abs=1e-6)  # Pearson of mid-ranks
    assert kendall_tau([1, 2, 3], [5, 5, 5]) != kendall_tau([1, 2, 3], [5, 5, 5])  # constant: NaN


def runs_for_ranking(ckpt_of=lambda init: None) -> list[dict]:
    runs = []
    for i, init in enumerate(INITS):
        tasks = [("finetune", FINETUNE[i]), ("knn", KNN[i])] + ([("linprobe", LINEAR[init])] if init in LINEAR else [])
        for seed, (task, top1) in enumerate(tasks):
            runs.append(make_record(task, "synthetic", dict(top1=top1), model="vit-t", init=init,
                                    pretrain_method="mae" if init != "a" else "supervised", pretrain_epochs=1,
                                    ckpt=ckpt_of(init), config=f"configs/{task}/quick.py", cfg_options=None,
                                    seed=seed, world_size=1, started="2026-01-01T00:00:00+00:00", wall_time_s=12.0))
    return runs


def test_ranking_agreement_on_known_ranking():
    table = ranking_agreement(build_cells(runs_for_ranking())).set_index(["protocol_a", "protocol_b"])
    knn = table.loc[("k-NN top-1 on synthetic", "fine-tune top-1 on synthetic")]
    assert knn["kind"] == "cheap vs full" and knn["inits"] == 5 and knn["conclusive"]
    assert knn["kendall_tau"] == pytest.approx(0.8) and knn["spearman_rho"] == pytest.approx(0.9)
    linear = table.loc[("fine-tune top-1 on synthetic", "linear top-1 on synthetic")]
    assert linear["kind"] == "full vs full" and linear["inits"] == 3 and not linear["conclusive"]
    assert linear["kendall_tau"] == pytest.approx(-1.0)
    assert table.loc[("k-NN top-1 on synthetic", "linear top-1 on synthetic"), "kind"] == "cheap vs full"
    assert list(table["kind"]) == sorted(table["kind"], key=["cheap vs full", "full vs full"].index)


def test_ranking_table_has_the_not_conclusive_column_only_where_a_pair_is():
    ranking = ranking_agreement(build_cells(runs_for_ranking()))
    head = ranking_markdown(ranking).splitlines()[4]
    assert head.endswith("| Spearman ρ | |") and "not conclusive (< 4 inits)" in ranking_markdown(ranking)
    conclusive = ranking[ranking["conclusive"]]
    head = ranking_markdown(conclusive).splitlines()[4]
    assert head.endswith("| Spearman ρ |") and "not conclusive" not in ranking_markdown(conclusive).split(head)[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path]:
    """A real 2-epoch tiny MAE pretraining (reconstructions each epoch), records pointing to it (inits a-d) and to
    a folder that is gone (init e); make_tables writes the report."""
    tmp = tmp_path_factory.mktemp("report")
    data, pre = tmp / "data", tmp / "pretrain"
    run_tool("make_synthetic.py", "--format", "imagefolder", "--out", data, "--num", 40, "--size", 64, check=True)
    run_tool("pretrain.py", *TINY_MAE, "--device", "cpu", "--epochs", 2, "--warmup_epochs", 1, "--batch_size", 8,
             "--data_path", data, "--output_dir", pre, "--num_workers", 0, "--max_iters_per_epoch", 2,
             "--vis_every", 1, "--no-tensorboard", check=True)
    ckpt = pre / "checkpoint-last.pth"
    for i, rec in enumerate(runs_for_ranking(lambda init: str(ckpt if init != "e" else tmp / "gone" / "ckpt.pth"))):
        write_record(rec, tmp / "runs", name=f"rec{i:02d}")
    proc = run_tool("make_tables.py", "--runs", tmp / "runs", "--out", tmp / "out", "--reference",
                    REPO / "results/reference", check=True)
    assert str(tmp / "out" / "report.html") in proc.stdout
    return tmp / "out", pre


def test_report_markdown(report):
    out, pre = report
    md = (out / "report.md").read_text()
    for heading in ("## Summary", "## Classification", "### Classification on synthetic scenes (ImageFolder)",
                    "## Which differences are beyond the seed noise?", "### Against Supervised",
                    "## Do the protocols rank the inits alike?", "## Pretraining runs", "## Provenance"):
        assert heading in md, heading
    # one seed per init and task: every difference to Supervised (init a) untested, in the claims and the tables
    assert "| k-NN top-1 on synthetic | none | none | none | MAE (b) (+1.0), MAE (c) (+2.0)," in md
    assert "50.0 (+40.0, untested)" in md
    assert md.index("## Classification") < md.index("## Pretraining runs") < md.index("## Provenance")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((out / link).is_file() for link in links)  # relative, and the files are there
    assert any(link.endswith("recon_epoch0002.png") for link in links)  # the last reconstruction only
    assert not any(link.endswith("recon_epoch0001.png") for link in links)
    assert any(link.endswith("loss_curve.png") for link in links)
    assert "classification_synthetic_k-NN.png" in links
    assert "| k-NN top-1 on synthetic | fine-tune top-1 on synthetic |" in md
    assert f"{pre}" in md and f"{Path(str(pre)).parent / 'gone'} not found here" in md
    sha = make_record("knn", "synthetic", {}, model="vit-t", init="a", pretrain_method="mae", pretrain_epochs=1,
                      ckpt=str(pre / "checkpoint-last.pth"), config="c", cfg_options=None, seed=0, world_size=1,
                      started="x", wall_time_s=0)["ckpt_sha256"]
    assert f"| rec00.json | finetune | synthetic | vit-t | a | 0 | {sha[:12]} | configs/finetune/quick.py |" in md


def test_report_html_is_self_contained(report):
    out, pre = report
    page = (out / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert base64.b64encode((pre / "vis" / "recon_epoch0002.png").read_bytes()).decode() in page
    assert "<th colspan=3>ViT-T</th>" in page and "not conclusive (&lt; 4 inits)" in page  # linear: 3 inits
    assert page.count("<h2>") == 7  # summary, classification, claims, ranking, pretraining, provenance, published
    assert page.index("<h2>Provenance") < page.index("<h2>Published numbers on datasets")
