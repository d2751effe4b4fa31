"""Entry points not covered elsewhere: the synthetic generator, the benchmark, the console command; what the
pretrain and transfer tools accept, refuse and report."""
import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO, run_tool
from mae_bench.cli import main as cli_main
from mae_bench.meta import sha256
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


def _tool_module(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("tool", ["pretrain", "transfer", "sweep"])
def test_every_flag_says_what_it_does_and_its_default(tool):
    actions = [a for a in _tool_module(tool).parser()._actions
               if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]
    assert len(actions) >= {"pretrain": 40, "transfer": 20, "sweep": 5}[tool]
    bare = [a.option_strings[0] for a in actions if not a.help or len(a.help) < 12
            or not ("(default:" in a.help or "(required)" in a.help)]
    assert bare == []


def test_transfer_flags_refused_with_the_flag_named(tmp_path, synthetic_imagefolder):
    base = ("--task", "knn", "--data-root", synthetic_imagefolder, "--work-dir", tmp_path / "w", "--runs-dir",
            tmp_path / "runs")
    proc = run_tool("transfer.py", *base)
    assert proc.returncode == 2 and "the following arguments are required: --ckpt" in proc.stderr
    proc = run_tool("transfer.py", *base, "--ckpt", "")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: --ckpt is empty")
    proc = run_tool("transfer.py", *base, "--ckpt", "random", "--device", "cuda", CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == 2 and "error: --device cuda: CUDA is not available" in proc.stderr, proc.stderr[-2000:]
    plain = tmp_path / "vit_timm.pth"  # a plain timm state dict: its layout does not say how it was trained
    torch.save(create_mae("mae_vit_tiny_patch16", img_size=64).state_dict(), plain)
    proc = run_tool("transfer.py", *base, "--ckpt", plain)
    assert proc.returncode == 2 and f"error: --pretrain-method is required: {plain} is a " in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()


def test_a_genuine_error_keeps_its_traceback(tmp_path):
    """Only the project's own error types become one line; a KeyError raised while loading a config stays visible."""
    config = tmp_path / "broken.py"
    config.write_text("table = dict(a=1)\nepochs = table['missing']\n")
    for tool, args in (("pretrain.py", ()), ("transfer.py", ("--task", "knn", "--ckpt", "random"))):
        proc = run_tool(tool, *args, "--config", config)
        assert proc.returncode == 1 and "Traceback" in proc.stderr and "KeyError: 'missing'" in proc.stderr, tool


def test_record_labels_come_from_a_foreign_checkpoint(tmp_path, synthetic_imagefolder, tiny_mae_ckpt):
    """A DINO-layout file through a real transfer: method and completed epochs from the file, the init name from
    its path, the sha256 of the bytes read, git describe and the device in the record."""
    from mae_bench.checkpoints import load_file

    encoder = {k: v for k, v in load_file(tiny_mae_ckpt)["model"].items() if not k.startswith(("decoder", "mask"))}
    dino = tmp_path / "dino_tiny.pth"
    torch.save({"teacher": {f"backbone.{k}": v for k, v in encoder.items()}, "student": {}, "epoch": 7}, dino)
    run_tool("transfer.py", "--task", "knn", "--ckpt", dino, "--data-root", synthetic_imagefolder,
             "--work-dir", tmp_path / "w", "--runs-dir", tmp_path / "runs", "--device", "cpu", "--cfg-options",
             f"cache_dir={tmp_path / 'cache'}", check=True, OMP_NUM_THREADS="1")
    rec = json.loads(next((tmp_path / "runs").glob("knn_*.json")).read_text())
    assert (rec["pretrain_method"], rec["pretrain_epochs"], rec["init"]) == ("dino", 7, "dino_tiny")
    assert rec["ckpt_sha256"] == sha256(dino) and rec["ckpt"] == str(dino) and rec["device"] == "cpu"
    assert rec["git_describe"] and rec["config"] == "configs/knn/quick.py"


@pytest.mark.parametrize("task", ["coco", "ade20k"])
def test_cfg_options_come_last_for_every_task(task, tmp_path):
    """The skeleton's order: config, then the data root and the checkpoint, then --cfg-options, for COCO as for
    ADE20K (COCO used to apply them first, so the data root overwrote them)."""
    from mae_bench.transfer import TransferArgs
    from mae_bench.transfer.skeleton import prepare, task_for

    args = TransferArgs(task, "random", work_dir=str(tmp_path / "w"),
                        cfg_options=["test_dataloader.dataset.data_root=/elsewhere"])
    run = prepare(args, task_for(task))
    assert run.cfg.test_dataloader.dataset.data_root == "/elsewhere" and run.cfg.model.backbone.checkpoint is None
    assert run.cfg.train_dataloader.dataset.get("dataset", run.cfg.train_dataloader.dataset)["data_root"].startswith(
        str(tmp_path / "w"))


def test_every_task_is_a_class_with_its_name_and_the_hooks_a_task_must_write():
    """``--task`` names map to ``Task`` subclasses in one plain table; the two hooks without a default say what to
    write, the others have defaults (no hasattr)."""
    from mae_bench.errors import TransferError
    from mae_bench.transfer import TASKS, Task, TransferArgs
    from mae_bench.transfer.skeleton import task_for

    assert set(TASKS) == {"coco", "ade20k", "ade20k_linear", "finetune", "linprobe", "knn", "linprobe_grid",
                          "attentive"}
    for name, cls in TASKS.items():
        assert issubclass(cls, Task) and cls.name == name and cls.metrics, name
        assert cls.dataset is not Task.dataset and cls.run is not Task.run, name
        assert cls().default_config(TransferArgs(name, "random")).is_file(), name

    class Unfinished(Task):
        name = "unfinished"

    with pytest.raises(NotImplementedError, match=r"task 'unfinished': write dataset\(run\)"):
        Unfinished().dataset(None)
    with pytest.raises(NotImplementedError, match=r"task 'unfinished': write run\(run\)"):
        Unfinished().run(None)
    with pytest.raises(TransferError, match="unknown --task 'nope'; known: coco, ade20k"):
        task_for("nope")
