"""Entry points not covered elsewhere: the synthetic generator, the benchmark, the console command."""
import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO, run_tool
from mae_bench.cli import main as cli_main
from mae_bench.models import create_mae
from mae_bench.perf import mae_train_flops


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_make_synthetic_is_deterministic_and_checks_input(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        run_tool("make_synthetic.py", "--format", "imagefolder", "--out", out, "--num", 12, "--size", 32, "--seed", 5,
                 check=True)
    assert _digest(a) == _digest(b)
    assert len(list((a / "train").rglob("*.jpg"))) + len(list((a / "val").rglob("*.jpg"))) == 12
    proc = run_tool("make_synthetic.py", "--format", "voc", "--out", tmp_path / "c")
    assert proc.returncode == 2 and "voc" in proc.stderr and "imagefolder" in proc.stderr


def test_formats_share_scenes(tmp_path):
    """The ImageFolder class of a scene is the category of its largest COCO instance."""
    run_tool("make_synthetic.py", "--format", "imagefolder", "--out", tmp_path / "if", "--num", 12, "--size", 64,
             check=True)
    run_tool("make_synthetic.py", "--format", "coco", "--out", tmp_path / "coco", "--num", 12, "--size", 64, check=True)
    ann = json.loads((tmp_path / "coco" / "annotations" / "instances_train2017.json").read_text())
    cats = {c["id"]: c["name"] for c in ann["categories"]}
    for img in ann["images"]:
        stem = f"{img['id'] - 1:07d}"  # COCO ids start at 1, scene indices at 0
        largest = max((a for a in ann["annotations"] if a["image_id"] == img["id"]), key=lambda a: a["area"])
        assert (tmp_path / "if" / "train" / cats[largest["category_id"]] / f"{stem}.jpg").is_file()


def test_analytic_flops_match_the_paper_count():
    with torch.device("meta"):
        assert mae_train_flops(create_mae("mae_vit_base_patch16")) / 1e9 == pytest.approx(58.7, abs=0.05)
        assert mae_train_flops(create_mae("mae_vit_large_patch16")) / 1e9 == pytest.approx(124.5, abs=0.05)
        assert mae_train_flops(create_mae("mae_vit_huge_patch14")) / 1e9 == pytest.approx(291.4, abs=0.05)


def test_benchmark_runs_side_by_side(tmp_path):
    out = tmp_path / "bench.jsonl"
    proc = run_tool("benchmark.py", "--model", "mae_vit_tiny_patch16", "--input_size", 64, "--batch_size", 2,
                    "--device", "cpu", "--rounds", 2, "--iters", 1, "--warmup", 1, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text().splitlines()[-1])
    assert r["mae-bench"]["images_per_s"] > 0 and r["timm-reference"]["images_per_s"] > 0
    assert len(r["paired_ratios"]) == 2 and r["ratio"] > 0 and "ratio mae-bench/reference" in proc.stdout
    assert run_tool("benchmark.py", "--model", "vit_nope").returncode == 2


def test_console_command_dispatches(capsys):
    assert cli_main(["nope"]) == 2
    assert cli_main(["synthetic", "--help"]) == 0
    assert "--format" in capsys.readouterr().out


def test_progress_bars_write_a_line_at_most_every_30_s_in_a_log():
    """stderr a pipe (a Slurm log): 200 updates with a postfix over ~1 s write the first and the last state only;
    plain tqdm writes a line at every redraw (10 a second)."""
    code = ("import time, tqdm\nfrom mae_bench.progress import progress_bar\n"
            "for make in (progress_bar, tqdm.tqdm):\n"
            "    bar = make(total=200)\n"
            "    for i in range(200):\n"
            "        bar.set_postfix(loss=i, refresh=False); bar.update(); time.sleep(0.005)\n"
            "    bar.close(); print('#####', file=__import__('sys').stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    ours, plain = (part.replace("\n", "\r").strip("\r").split("\r") for part in proc.stderr.split("#####")[:2])
    assert len(ours) <= 3 and len(plain) >= 5, (ours, plain)


def test_dataset_names_official_only_for_official_sizes(synthetic_imagefolder, tmp_path):
    from mae_bench.data.check import DatasetSummary, check_dataset, dataset_name

    synthetic = check_dataset("imagefolder", str(synthetic_imagefolder))
    assert synthetic.problems == [] and dataset_name(synthetic) == "synthetic"
    assert dataset_name(synthetic, "my_scenes") == "my_scenes"
    official = DatasetSummary("coco", "/data/whatever", {"train": 118_287, "val": 5_000}, 80, official=True)
    assert dataset_name(official) == "coco2017"
    for folder, name in (("imagenet", "imagenet_subset"), ("coco", "coco_subset"), ("ADE20K", "ADE20K_subset"),
                         ("flowers", "flowers")):
        assert dataset_name(DatasetSummary("imagefolder", str(tmp_path / folder))) == name
