"""The ``mae-bench`` command from an installed package, not only from the checkout: ``pip install .`` of a copy of
the sources into a folder, then commands run from another folder with only that folder on the path (the checkout is
not importable there). Also the pieces every tool shares: where configs and tools are, both flag spellings, and the
one error tail (mae_bench/resources.py, mae_bench/cli.py)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from mae_bench import resources
from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.errors import ConfigError

SOURCES = ("setup.py", "pyproject.toml", "mae_bench", "backbones", "configs", "tools")


def test_the_checkout_finds_its_own_configs_and_tools():
    assert resources.root() == REPO
    assert resources.config_file("coco/quick.py") == REPO / "configs" / "coco" / "quick.py"
    assert resources.tool_file("transfer.py").is_file()
    assert resources.config_name(REPO / "configs" / "coco" / "quick.py") == "configs/coco/quick.py"
    assert resources.config_name("/elsewhere/my_config.py") == "/elsewhere/my_config.py"
    assert resources.find_config("configs/knn/quick.py").is_file()
    assert resources.find_config("no/such.py") == Path("no/such.py")


def test_a_flag_parses_in_both_spellings_and_helps_in_one():
    p = argparse.ArgumentParser()
    p.add_argument("--batch_size", type=int)
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--norm_pix_loss", action=argparse.BooleanOptionalAction)
    accept_both_spellings(p)
    for argv in (["--batch_size", "4", "--data-root", "d", "--norm_pix_loss"],
                 ["--batch-size", "4", "--data_root", "d", "--norm-pix-loss"], ["--batch-size=4", "--data_root=d"]):
        a = p.parse_args(argv)
        assert (a.batch_size, a.data_root) == (4, "d"), argv
    assert p.parse_args(["--no-norm-pix-loss"]).norm_pix_loss is False
    assert p.parse_args(["--norm"]).norm_pix_loss is True and p.parse_args(["--data", "d"]).data_root == "d"
    p.add_argument("--data_path")
    with pytest.raises(SystemExit):  # two flags, not two spellings of one: still ambiguous
        p.parse_args(["--data", "d"])
    text = p.format_help()
    assert "--batch_size" in text and "--batch-size" not in text and "--data_root" not in text


def test_every_tool_takes_both_spellings():
    """pretrain.py keeps the official MAE spellings, transfer.py the mmdet ones; each takes the other's too."""
    from test_tools import _tool_module

    pretrain, transfer = _tool_module("pretrain").parser(), _tool_module("transfer").parser()
    assert pretrain.parse_args(["--batch-size", "8", "--data-path", "d"]).batch_size == 8
    a = transfer.parse_args(["--batch_size", "8", "--tune_blocks", "2", "--global_pool", "--data_root", "d",
                             "--work_dir", "w", "--cfg_options", "a=1"])
    assert (a.batch_size, a.tune_blocks, a.global_pool, a.data_root, a.work_dir, a.cfg_options) == \
        (8, 2, True, "d", "w", ["a=1"])
    assert "--data-root" in transfer.format_usage() and "--data_root" not in transfer.format_usage()
    assert "--batch_size" in pretrain.format_usage() and "--batch-size" not in pretrain.format_usage()


def test_the_error_tail_is_one_line_and_status_2(capsys):
    @reports_errors(ConfigError)
    def refuses(argv=None) -> int:
        raise ConfigError("--x 3: out of range")

    @reports_errors(ConfigError)
    def breaks(argv=None) -> int:
        raise KeyError("bug")

    assert refuses([]) == 2 and capsys.readouterr().err == "error: --x 3: out of range\n"
    with pytest.raises(KeyError):  # anything else keeps its traceback
        breaks([])


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install --no-deps --no-build-isolation --target PKG`` of a copy of the sources (the build leaves
    nothing in the checkout); returns PKG."""
    tmp = tmp_path_factory.mktemp("installed")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    pkg = tmp / "pkg"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(pkg), str(src)], check=True, capture_output=True, text=True, timeout=600)
    return pkg


def run_installed(pkg: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``mae-bench ARGS`` through the installed console script, in ``cwd``, with only ``pkg`` on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(pkg), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(pkg / "bin" / "mae-bench"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_installed_command_runs_with_packaged_configs(installed, tmp_path):
    """From a folder outside the checkout: --help, a synthetic set, a k-NN transfer and a one-epoch pretraining,
    both naming their config as configs/... (found in the package)."""
    here = tmp_path / "elsewhere"
    here.mkdir()
    where = run_installed(installed, here, "--help")
    assert where.returncode == 0 and "commands: pretrain, transfer" in where.stderr, where.stderr
    probe = subprocess.run([sys.executable, "-c", "import mae_bench.resources as r; print(r.root())"], cwd=here,
                           env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True,
                           check=True)
    assert Path(probe.stdout.strip()) == installed / "mae_bench"  # the package's copy, not the checkout's
    assert run_installed(installed, here, "synthetic", "--format", "imagefolder", "--out", "data",
                         "--num", "36").returncode == 0
    knn = run_installed(installed, here, "transfer", "--task", "knn", "--ckpt", "random", "--data-root", "data",
                        "--device", "cpu", "--work-dir", "w", "--runs-dir", "runs")  # the default config: package data
    assert knn.returncode == 0, knn.stderr[-3000:]
    record = json.loads(next((here / "runs").glob("knn_*.json")).read_text())
    assert record["config"] == "configs/knn/quick.py" and record["metrics"]["top1"] >= 0
    pretrain = run_installed(installed, here, "pretrain", "--config", "configs/pretrain/quick.py", "--epochs", "1",
                             "--synthetic_num", "32", "--vis_every", "0", "--output_dir", "out")
    assert pretrain.returncode == 0, pretrain.stderr[-3000:]
    assert (here / "out" / "checkpoint-last.pth").is_file()
