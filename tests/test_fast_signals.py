"""Cheap signals: k-NN, the linear-head grid, the attentive probe, the frozen dense probe and the pretraining monitors.

Real runs of tools/transfer.py and tools/pretrain.py on hand-made feature sets with known answers and on the
synthetic scenes; the k-NN against dinov2's formula written out in full.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_MAE, run_tool
from mae_bench.evaluation.knn_vote import knn_accuracy
from mae_bench.pretrain.monitor import held_out, pretraining_indices

CLASSES, DIM = 4, 16


def feature_set(root: Path, kind: str, n_train: int = 400, n_val: int = 400, seed: int = 0) -> Path:
    """``root/features.pt``: ``separable`` (class c adds 3 to coordinate c), ``random`` (labels independent of
    the features) or ``one_token`` (16 noise tokens, one of them at a random place carries the class)."""
    g = torch.Generator().manual_seed(seed)

    def split(n):
        y = torch.arange(n) % CLASSES
        if kind == "separable":
            x = 0.1 * torch.randn(n, DIM, generator=g)
            x[torch.arange(n), y] += 3.0
            return dict(cls=x, labels=y)
        if kind == "random":
            return dict(cls=torch.randn(n, DIM, generator=g), labels=torch.randint(0, CLASSES, (n,), generator=g))
        tokens = torch.randn(n, 16, DIM, generator=g)
        marker = torch.zeros(n, DIM)
        marker[:, -1] = 6.0
        marker[torch.arange(n), y] += 4.0
        tokens[torch.arange(n), torch.randint(0, 16, (n,), generator=g)] = marker
        return dict(cls=tokens.mean(dim=1), tokens=tokens, labels=y)

    root.mkdir(parents=True, exist_ok=True)
    torch.save(dict(train=split(n_train), val=split(n_val)), root / "features.pt")
    return root


def transfer(task: str, tmp: Path, data_root: Path, *extra) -> dict:
    """One tools/transfer.py run -> the record it wrote (runs of one test share ``tmp/runs``)."""
    runs = tmp / "runs"
    before = set(runs.glob(f"{task}_*.json"))
    init = () if "--ckpt" in extra else ("--ckpt", "random")
    run_tool("transfer.py", "--task", task, "--data-root", data_root, "--work-dir", tmp / f"work_{task}",
             "--runs-dir", runs, "--device", "cpu", *init, *extra, check=True, OMP_NUM_THREADS="1")
    (record,) = set(runs.glob(f"{task}_*.json")) - before
    return json.loads(record.read_text())


# ---------------------------------------------------------------- k-NN


def dinov2_knn_predictions(train, train_labels, test, k, temperature, num_classes):
    """dinov2 eval/knn.py written out: normalise, full similarity, top max-k, softmax(sim / T), vote of first k."""
    sim = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
    top, idx = sim.topk(k, dim=1)
    weights = torch.softmax(top / temperature, dim=1)
    votes = (F.one_hot(train_labels[idx], num_classes) * weights[..., None]).sum(1)
    return votes.argmax(1)


def test_knn_in_chunks_gives_dinov2s_predictions():
    g = torch.Generator().manual_seed(1)
    train, test = torch.randn(300, 8, generator=g), torch.randn(50, 8, generator=g)
    labels, test_labels = torch.randint(0, 5, (300,), generator=g), torch.randint(0, 5, (50,), generator=g)
    for k in (1, 10, 20):
        expected = dinov2_knn_predictions(train, labels, test, k, 0.07, 5)
        want = 100.0 * (expected == test_labels).float().mean().item()
        got = knn_accuracy(train, labels, test, test_labels, [k], 0.07, chunk=37, query_batch=16)[k][0]
        assert got == pytest.approx(want)


def test_knn_weighted_vote_by_hand():
    """Two close neighbours of class 1 outvote three farther ones of class 0 at T = 0.07, not at T = 100."""
    train = torch.tensor([[1.0, 0.05], [1.0, -0.05], [0.7, 0.7], [0.7, -0.7], [0.6, 0.8]])
    labels = torch.tensor([1, 1, 0, 0, 0])
    test, target = torch.tensor([[1.0, 0.0]]), torch.tensor([1])
    assert knn_accuracy(train, labels, test, target, [5], temperature=0.07)[5][0] == 100.0
    assert knn_accuracy(train, labels, test, target, [5], temperature=100.0)[5][0] == 0.0


def test_knn_separable_features_100_random_labels_chance(tmp_path):
    rec = transfer("knn", tmp_path, feature_set(tmp_path / "sep", "separable"))
    assert rec["task"] == "knn" and rec["nb_knn"] == [10, 20, 100, 200]
    assert all(v == 100.0 for k, v in rec["metrics"].items() if k.startswith("top1")), rec["metrics"]
    rec = transfer("knn", tmp_path, feature_set(tmp_path / "rnd", "random"))
    top1 = [v for k, v in rec["metrics"].items() if k.startswith("top1_")]
    assert len(top1) == 8 and all(15.0 < v < 35.0 for v in top1), rec["metrics"]  # chance 25%, 400 queries


# ---------------------------------------------------------------- linear grid and attentive probe


def test_grid_trains_every_head_separable_100_random_chance(tmp_path):
    rec = transfer("linprobe_grid", tmp_path, feature_set(tmp_path / "sep", "separable"),
                   "--cfg-options", "n_last_blocks=[1]")
    heads = {k: v for k, v in rec["metrics"].items() if k.startswith("top1_")}
    assert rec["num_heads"] == len(heads) == 15  # 5 learning rates x cls1, cls1_avg, avg
    assert rec["metrics"]["top1"] == 100.0 and rec["metrics"][f"top1_{rec['best_head']}"] == 100.0
    assert min(heads.values()) < 100.0  # the smallest learning rates do not get there in 3 epochs: heads differ
    rec = transfer("linprobe_grid", tmp_path, feature_set(tmp_path / "rnd", "random"),
                   "--cfg-options", "n_last_blocks=[1]")
    assert 15.0 < rec["metrics"]["top1"] < 40.0, rec["metrics"]  # best of 15 heads at chance 25%


def test_attentive_finds_the_one_informative_token_mean_pooling_does_not(tmp_path):
    data = feature_set(tmp_path / "tok", "one_token", n_train=512, n_val=256)
    rec = transfer("attentive", tmp_path, data, "--cfg-options", "optimizer=sgd", "blr=8.0", "epochs=10")
    assert rec["metrics"]["top1"] > 95.0, rec["metrics"]
    grid = transfer("linprobe_grid", tmp_path, data, "--cfg-options", "n_last_blocks=[1]", "epochs=10")
    assert grid["metrics"]["top1"] < 75.0, grid["metrics"]  # a linear head on the mean token cannot isolate it


def test_bad_feature_set_fails_naming_the_file(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    torch.save(dict(train=dict(cls=torch.zeros(4, 2))), root / "features.pt")
    proc = run_tool("transfer.py", "--task", "knn", "--ckpt", "random", "--data-root", root, "--work-dir",
                    tmp_path / "w", "--runs-dir", tmp_path / "runs", "--device", "cpu")
    assert proc.returncode == 2 and "features.pt" in proc.stderr and "train.labels" in proc.stderr
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- image runs on the synthetic scenes


def test_image_tasks_cache_features_and_repeat_exactly(tmp_path, synthetic_imagefolder, tiny_mae_ckpt):
    """knn twice (the second from the feature cache, same numbers), the grid and the attentive probe on images."""
    opts = ("--ckpt", tiny_mae_ckpt, "--cfg-options", f"cache_dir={tmp_path / 'cache'}")
    first = transfer("knn", tmp_path, synthetic_imagefolder, *opts)
    cached = list((tmp_path / "cache").glob("*.pt"))
    assert len(cached) == 2  # train and val features of this checkpoint, dataset and transform
    second = transfer("knn", tmp_path, synthetic_imagefolder, *opts)
    assert second["metrics"] == first["metrics"] and second["ckpt_sha256"] == first["ckpt_sha256"]
    assert sorted((tmp_path / "cache").glob("*.pt")) == sorted(cached)
    grid = transfer("linprobe_grid", tmp_path, synthetic_imagefolder, *opts, "epochs=1")
    assert grid["num_heads"] == 25 and grid["metrics"]["top1"] == max(
        v for k, v in grid["metrics"].items() if k.startswith("top1_"))
    att = transfer("attentive", tmp_path, synthetic_imagefolder, *opts, "epochs=1")
    assert 0.0 <= att["metrics"]["top1"] <= 100.0 and att["num_queries"] == 1


# ---------------------------------------------------------------- monitors


def test_held_out_slice_is_disjoint_from_pretraining():
    out, kept = held_out(100, 0.1), pretraining_indices(100, 0.1)
    assert len(out) == 10 and not set(out) & set(kept) and sorted(out + kept) == list(range(100))


@pytest.mark.parametrize("method", ["mae", "supervised", "mocov3"])
def test_monitors_in_a_pretraining_run(tmp_path, synthetic_imagefolder, method):
    out = tmp_path / method
    run_tool("pretrain.py", *TINY_MAE, "--method", method, "--device", "cpu", "--epochs", 2, "--warmup_epochs", 1,
             "--batch_size", 8, "--data_path", synthetic_imagefolder, "--output_dir", out, "--num_workers", 0,
             "--max_iters_per_epoch", 2, "--vis_every", 0, "--monitor_every", 1, "--monitor_fraction", 0.25,
             check=True, OMP_NUM_THREADS="1")
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    keys = ("monitor_knn_cls_top1", "monitor_knn_avg_top1", "monitor_linear_top1", "monitor_time_s")
    assert len(rows) == 2 and all(k in r for r in rows for k in keys)
    assert all(0.0 <= r[k] <= 100.0 for r in rows for k in keys[:3])
    assert (out / "monitors.png").stat().st_size > 10_000
    assert list((out / "tb").glob("events.out.tfevents.*"))


# ---------------------------------------------------------------- frozen dense probe


def test_ade20k_linear_quick_trains_only_the_head(tmp_path, tiny_mae_ckpt):
    """The real mmseg Runner and IoUMetric; the encoder in the saved mmseg checkpoint is the pretrained one, bit
    for bit (final norm included), while the BatchNorm + 1x1 conv head has trained."""
    from mae_bench.checkpoints import load_file
    from mae_bench.transfer.mm_common import allow_mmengine_checkpoints

    run_tool("transfer.py", "--task", "ade20k_linear", "--ckpt", tiny_mae_ckpt, "--work-dir", tmp_path / "work",
             "--runs-dir", tmp_path / "runs", "--device", "cpu", check=True, OMP_NUM_THREADS="1")
    rec = json.loads(next((tmp_path / "runs").glob("ade20k_linear_*.json")).read_text())
    assert rec["task"] == "ade20k_linear" and rec["dataset"] == "synthetic_ade20k"
    assert {"mIoU", "aAcc", "mAcc"} <= set(rec["metrics"]) and 0 <= rec["metrics"]["mIoU"] <= 100
    allow_mmengine_checkpoints()
    saved = torch.load(next((tmp_path / "work").glob("iter_*.pth")), map_location="cpu", weights_only=True)
    state, encoder = saved["state_dict"], load_file(tiny_mae_ckpt)["model"]
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    assert "norm.weight" in backbone and "blocks.11.mlp.fc2.weight" in backbone
    for key, value in backbone.items():
        assert torch.equal(value, encoder[key]), key
    assert not torch.equal(state["decode_head.bn.running_mean"], torch.zeros_like(state["decode_head.bn.running_mean"]))
