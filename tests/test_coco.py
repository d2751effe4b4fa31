"""COCO transfer: ViTDet backbone vs the plain encoder, a real mmdet run through tools/transfer.py, the
evaluation path on ground truth, and bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from backbones.vitdet import MAEViTDet, window_partition, window_unpartition
from conftest import run_tool
from mae_bench.checkpoints import load_encoder_state
from mae_bench.data import write_dataset
from mae_bench.models import create_mae, create_vit
from mae_bench.results import RECORD_FIELDS


def transfer(*args, check: bool = False):
    """tools/transfer.py as a subprocess with one OpenMP thread: the tiny model gains nothing from more, and
    spinning OpenMP threads on a loaded 2-core machine made the same run 8x slower."""
    return run_tool("transfer.py", *args, check=check, OMP_NUM_THREADS="1")


TINY = dict(embed_dim=192, depth=12, num_heads=3, patch_size=16, pretrain_img_size=64, drop_path_rate=0.0)


def plain_encoder_map(ckpt: Path, x: torch.Tensor) -> torch.Tensor:
    """The plain mae-bench encoder's patch tokens (no cls token, no final norm) as a [N, D, h, w] map."""
    enc = create_vit("tiny", img_size=x.shape[-1]).eval()
    load_encoder_state(enc, ckpt)
    t = enc.patch_embed(x) + enc.pos_embed[:, 1:]
    for blk in enc.blocks:
        t = blk(t)
    g = x.shape[-1] // 16
    return t.transpose(1, 2).reshape(x.shape[0], -1, g, g)


@pytest.mark.parametrize("window,use_rel_pos", [(4, False), (0, False), (4, True)])
def test_backbone_with_whole_map_window_equals_plain_encoder(tiny_mae_ckpt, window, use_rel_pos):
    """Window = the whole 4x4 map (or global), relative positions off (or zero-initialised): same tokens."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    bb = MAEViTDet(**TINY, img_size=64, window=window, use_rel_pos=use_rel_pos, checkpoint=str(tiny_mae_ckpt)).eval()
    bb.init_weights()
    with torch.no_grad():
        (out,) = bb(x)
        ref = plain_encoder_map(tiny_mae_ckpt, x)
    assert out.shape == (2, 192, 4, 4)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_small_windows_change_the_features(tiny_mae_ckpt):
    """Control for the test above: 2x2 windows on the 4x4 map must not equal global attention."""
    x = torch.randn(1, 3, 64, 64)
    bb = MAEViTDet(**TINY, img_size=64, window=2, global_blocks=[], checkpoint=str(tiny_mae_ckpt)).eval()
    bb.init_weights()
    with torch.no_grad():
        assert not torch.allclose(bb(x)[0], plain_encoder_map(tiny_mae_ckpt, x), atol=1e-3)


def test_relative_positions_match_explicit_attention():
    """Global block, non-zero tables: softmax(q k^T / sqrt(d) + q.R_h[i_y - j_y] + q.R_w[i_x - j_x]) v written out."""
    from backbones.vitdet import WindowRelPosAttention

    torch.manual_seed(0)
    h, w, d, heads = 3, 4, 8, 2
    attn = WindowRelPosAttention(d * heads, heads, rel_pos_size=(h, w))
    with torch.no_grad():
        attn.rel_pos_h.normal_(), attn.rel_pos_w.normal_()
    x = torch.randn(1, h, w, d * heads)
    q, k, v = attn.split_heads(x.reshape(1, h * w, -1))
    ys, xs = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)  # token -> (y, x), row-major
    r_h = attn.rel_pos_h[ys[:, None] - ys[None, :] + h - 1]  # [N, N, d]
    r_w = attn.rel_pos_w[xs[:, None] - xs[None, :] + w - 1]
    logits = q @ k.transpose(-1, -2) / d**0.5 + torch.einsum("bhnc,nmc->bhnm", q, r_h + r_w)
    ref = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(1, h * w, -1)).reshape(1, h, w, -1)
    torch.testing.assert_close(attn(x), ref, rtol=1e-4, atol=1e-5)


def test_window_partition_roundtrip_with_padding():
    x = torch.randn(2, 5, 7, 8)
    win, pad_hw = window_partition(x, 3)
    assert win.shape == (2 * 2 * 3, 3, 3, 8) and pad_hw == (6, 9)
    torch.testing.assert_close(window_unpartition(win, 3, pad_hw, (5, 7)), x)


@pytest.mark.slow
def test_transfer_coco_runs_mmdet_and_writes_record(tiny_mae_ckpt, tmp_path):
    """A real mmdet Mask R-CNN run (8 iterations, CPU) + CocoMetric evaluation through tools/transfer.py."""
    runs, work = tmp_path / "runs", tmp_path / "work"
    transfer("--task", "coco", "--ckpt", tiny_mae_ckpt, "--work-dir", work, "--runs-dir", runs,
             "--device", "cpu", "--cfg-options", "train_cfg.max_iters=8", check=True)
    (path,) = runs.glob("*.json")
    rec = json.loads(path.read_text())
    assert set(RECORD_FIELDS) <= set(rec)
    assert (rec["task"], rec["dataset"], rec["model"], rec["pretrain_method"]) == ("coco", "synthetic_coco", "vit-t",
                                                                                 "mae")
    assert rec["ckpt_sha256"] and rec["world_size"] == 1 and rec["config"].endswith("configs/coco/quick.py")
    for key in ("AP_box", "AP_mask", "AP50_box", "AP75_box", "APm_box", "AP50_mask", "AP75_mask", "APm_mask"):
        assert math.isfinite(rec["metrics"][key]) and 0.0 <= rec["metrics"][key] <= 100.0, (key, rec["metrics"])
    assert (work / "iter_8.pth").is_file()  # mmengine's checkpoint of the run

    # --resume continues from iter_8 (mmengine checkpoint read with torch.load(weights_only=True))
    proc = transfer("--task", "coco", "--ckpt", tiny_mae_ckpt, "--work-dir", work, "--runs-dir", runs,
                    "--device", "cpu", "--resume", "--cfg-options", "train_cfg.max_iters=10", check=True)
    assert "resumed epoch: 0, iter: 8" in proc.stdout + proc.stderr
    assert (work / "iter_10.pth").is_file() and len(list(runs.glob("*.json"))) == 2


@pytest.mark.slow
def test_transfer_coco_two_processes_torchrun(tiny_mae_ckpt, tmp_path):
    """--gpus 2 on the CPU: torchrun with two gloo processes, one record from rank 0 with world_size 2."""
    runs = tmp_path / "runs"
    transfer("--task", "coco", "--ckpt", tiny_mae_ckpt, "--work-dir", tmp_path / "work", "--runs-dir",
             runs, "--device", "cpu", "--gpus", 2, "--cfg-options", "train_cfg.max_iters=8", check=True)
    (path,) = runs.glob("*.json")
    rec = json.loads(path.read_text())
    assert rec["world_size"] == 2
    assert math.isfinite(rec["metrics"]["AP_box"]) and math.isfinite(rec["metrics"]["AP_mask"])


def _quick_eval_cfg(root: Path):
    from mmengine.config import Config

    from mae_bench.data.check import check_dataset
    from mae_bench.resources import config_file
    from mae_bench.transfer.coco import point_data, set_classes

    cfg = Config.fromfile(str(config_file("coco/quick.py")))
    point_data(cfg, root)
    classes = tuple(check_dataset("coco", str(root)).class_names)
    set_classes(cfg, classes)
    return cfg, classes


def _gt_as_detections(ann_file: Path, shift: float = 0.0) -> list[dict]:
    """One mmdet data sample per image whose predictions are its ground-truth instances (score 1)."""
    from pycocotools.coco import COCO

    coco = COCO(str(ann_file))
    samples = []
    for img_id, img in coco.imgs.items():
        anns = coco.imgToAnns[img_id]
        boxes = torch.tensor([[a["bbox"][0] + shift, a["bbox"][1], a["bbox"][0] + shift + a["bbox"][2],
                               a["bbox"][1] + a["bbox"][3]] for a in anns])
        masks = torch.from_numpy(np.stack([coco.annToMask(a) for a in anns]).astype(bool))
        if shift:
            masks = torch.roll(masks, int(shift), dims=2)
        labels = torch.tensor([a["category_id"] - 1 for a in anns])
        samples.append(dict(img_id=img_id, ori_shape=(img["height"], img["width"]),
                            pred_instances=dict(bboxes=boxes.float(), scores=torch.ones(len(anns)), labels=labels,
                                                masks=masks)))
    return samples


@pytest.mark.parametrize("shift,expect_100", [(0.0, True), (12.0, False)])
def test_ground_truth_as_detections_scores_100(tmp_path, shift, expect_100):
    """The configured CocoMetric + the record conversion give AP 100 on ground truth (and less when shifted)."""
    from mmdet.registry import METRICS
    from mmdet.utils import register_all_modules

    from mae_bench.transfer.coco import coco_metrics

    root = write_dataset("coco", tmp_path / "coco", 10, 96, seed=3, progress=False)
    cfg, classes = _quick_eval_cfg(root)
    register_all_modules()
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dict(classes=classes)
    samples = _gt_as_detections(root / "annotations" / "instances_val2017.json", shift)
    metric.process({}, samples)
    m = coco_metrics(metric.evaluate(len(samples)))
    if expect_100:
        assert m["AP_box"] == pytest.approx(100.0) and m["AP_mask"] == pytest.approx(100.0), m
    else:
        assert m["AP_box"] < 90.0 and m["AP_mask"] < 90.0, m


def _assert_failed(proc, runs: Path, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout[-2000:]
    for n in needles:
        assert n in proc.stderr, proc.stderr[-3000:]
    assert not list(runs.glob("*.json")), "a failed run must not leave a record"


def test_missing_annotation_file_fails_cleanly(tmp_path, tiny_mae_ckpt):
    root = write_dataset("coco", tmp_path / "coco", 4, 64, progress=False)
    (root / "annotations" / "instances_val2017.json").unlink()
    runs = tmp_path / "runs"
    proc = transfer("--task", "coco", "--ckpt", tiny_mae_ckpt, "--data-root", root, "--work-dir",
                    tmp_path / "work", "--runs-dir", runs, "--device", "cpu")
    _assert_failed(proc, runs, "instances_val2017.json: missing")


def test_checkpoint_of_other_width_fails_before_training(tmp_path):
    """A small-width (384-d) MAE checkpoint into the tiny (192-d) quick config: keys and shapes named."""
    ckpt = tmp_path / "mae_small.pth"
    torch.save({"model": create_mae("mae_vit_small_patch16", img_size=64).state_dict()}, ckpt)
    runs, work = tmp_path / "runs", tmp_path / "work"
    proc = transfer("--task", "coco", "--ckpt", ckpt, "--work-dir", work, "--runs-dir", runs,
                    "--device", "cpu")
    _assert_failed(proc, runs, "mismatched", "blocks.0.attn.qkv.weight", "(1152, 384)", str(ckpt))
    assert not list(work.glob("iter_*.pth")), "training must not start"


def test_unknown_task_fails_cleanly(tmp_path):
    runs = tmp_path / "runs"
    proc = transfer("--task", "cocoo", "--ckpt", "random", "--runs-dir", runs)
    _assert_failed(proc, runs, "unknown --task 'cocoo'", "coco")


def test_no_detections_score_zero():
    from mae_bench.transfer.coco import coco_metrics

    metrics = coco_metrics({})
    assert metrics["AP_box"] == 0.0 and metrics["AP_mask"] == 0.0 and len(metrics) == 12
