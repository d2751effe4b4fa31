"""ADE20K transfer: the real mmseg run on the synthetic set, the evaluation path, the backbone, bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, run_tool

QUICK = REPO / "configs" / "ade20k" / "quick.py"


@pytest.fixture(scope="module")
def ade_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ade") / "synthetic_ade20k"
    run_tool("make_synthetic.py", "--format", "ade20k", "--out", out, "--num", 10, "--size", 96, check=True)
    return out


@pytest.fixture(scope="module")
def quick_cfg(ade_root):
    from mmengine.utils import import_modules_from_strings

    from mae_bench.transfer.ade20k import set_data_root
    from mae_bench.transfer.mm_common import load_config

    cfg = load_config(QUICK)
    import_modules_from_strings(**cfg.custom_imports)
    set_data_root(cfg, ade_root)
    return cfg


def test_writer_layout(ade_root):
    from mae_bench.data import SEMANTIC_CLASSES, make_scene

    imgs = sorted((ade_root / "images" / "training").glob("*.jpg"))
    anns = sorted((ade_root / "annotations" / "validation").glob("*.png"))
    assert len(imgs) == 8 and len(anns) == 2
    label = np.asarray(Image.open(anns[0]))
    assert np.array_equal(label, make_scene(0, int(anns[0].stem), 96).semantic)
    assert label.max() <= len(SEMANTIC_CLASSES) and (label == 0).any()


@pytest.mark.slow
def test_quick_transfer_writes_record(tiny_mae_ckpt, tmp_path):
    """A real mmseg training run, sliding-window test and multi-scale + flip TTA (one image) on the CPU."""
    runs = tmp_path / "runs"
    proc = run_tool("transfer.py", "--task", "ade20k", "--ckpt", tiny_mae_ckpt, "--work-dir", tmp_path / "work",
                    "--runs-dir", runs, "--device", "cpu", "--ms-flip", "--cfg-options", "train_cfg.max_iters=4",
                    "default_hooks.logger.interval=1",
                    "test_dataloader.dataset.indices=1", check=True)
    records = list(runs.glob("*.json"))
    assert len(records) == 1, proc.stdout[-2000:]
    rec = json.loads(records[0].read_text())
    assert rec["task"] == "ade20k" and rec["dataset"] == "synthetic_ade20k" and rec["model"] == "vit-t"
    assert set(rec["metrics"]) == {"mIoU", "aAcc", "mAcc", "mIoU_ss"} and rec["test_mode"] == "ms_flip"
    assert all(math.isfinite(v) and 0 <= v <= 100 for v in rec["metrics"].values())
    assert rec["pretrain_method"] == "mae" and rec["ckpt_sha256"]
    log = "\n".join(p.read_text() for p in (tmp_path / "work").rglob("*.log"))
    assert "MAEViTSeg: loaded" in log and "Iter(train) [4/4]" in log
    assert f"Load checkpoint from {tmp_path / 'work' / 'iter_4.pth'}" in log  # the TTA model tests the trained weights
    from mae_bench.transfer.mm_common import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()
    state = torch.load(tmp_path / "work" / "iter_4.pth", map_location="cpu", weights_only=True)["state_dict"]
    tables = [v for k, v in state.items() if k.endswith("attn.relative_position_bias_table")]
    assert len(tables) == 12 and all(t.abs().sum() > 0 for t in tables)  # zero-initialised, then trained


def _eval(cfg, predict) -> dict:
    """Run the config's test evaluator over the test set with ``predict(sample, index) -> [H, W] labels``."""
    from mmengine.evaluator import Evaluator
    from mmengine.structures import PixelData
    from mmseg.registry import DATASETS

    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    for i in range(len(dataset)):
        sample = dataset[i]["data_samples"]
        sample.pred_sem_seg = PixelData(data=predict(sample, i)[None])
        evaluator.process(data_samples=[sample])
    return evaluator.evaluate(len(dataset))


def test_ground_truth_as_prediction_scores_100(quick_cfg, ade_root):
    def from_png(sample, i):  # the label file itself, with ADE20K's reduce_zero_label applied by hand
        raw = torch.from_numpy(np.asarray(Image.open(sample.seg_map_path)).astype(np.int64))
        return torch.where(raw == 0, torch.full_like(raw, 255), raw - 1)

    assert _eval(quick_cfg, from_png)["mIoU"] == pytest.approx(100.0)
    shifted = _eval(quick_cfg, lambda s, i: (s.gt_sem_seg.data[0] + 1) % 9)
    assert shifted["mIoU"] < 50


def test_backbone_with_zero_bias_equals_plain_encoder(quick_cfg, tiny_mae_ckpt):
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    from mae_bench.checkpoints import load_encoder_state
    from mae_bench.models import create_vit

    vit = create_vit("tiny", img_size=64).eval()
    load_encoder_state(vit, tiny_mae_ckpt)
    with DefaultScope.overwrite_default_scope("mmseg"):  # another test may have left mmdet's scope current
        backbone = MODELS.build(dict(quick_cfg.model.backbone, checkpoint=str(tiny_mae_ckpt))).eval()
    backbone.init_weights()
    tokens = {}
    for i in backbone.out_indices:
        vit.blocks[i].register_forward_hook(lambda m, a, out, i=i: tokens.__setitem__(i, out))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        vit(x)
        maps = backbone(x)
    assert len(maps) == 4
    for i, m in zip(backbone.out_indices, maps):
        assert m.shape == (2, 192, 4, 4)
        torch.testing.assert_close(m, tokens[i][:, 1:].transpose(1, 2).reshape(2, 192, 4, 4), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        backbone.blocks[0].attn.relative_position_bias_table.normal_(std=1.0)
        assert not torch.allclose(backbone(x)[0], maps[0], atol=1e-3)  # the bias does reach the attention
        assert [tuple(m.shape) for m in backbone(torch.randn(1, 3, 48, 80))] == [(1, 192, 3, 5)] * 4


def _bad_run(tmp_path, *args) -> str:
    runs = tmp_path / "runs"
    proc = run_tool("transfer.py", "--task", "ade20k", "--work-dir", tmp_path / "work", "--runs-dir", runs,
                    "--device", "cpu", *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert not runs.exists() or not list(runs.iterdir())
    assert not list((tmp_path / "work").rglob("*.pth"))
    return proc.stderr


def test_missing_annotation_folder(tmp_path, ade_root, tiny_mae_ckpt):
    import shutil

    root = tmp_path / "ade"
    shutil.copytree(ade_root, root)
    shutil.rmtree(root / "annotations" / "validation")
    err = _bad_run(tmp_path, "--ckpt", tiny_mae_ckpt, "--data-root", root)
    assert f"{root / 'annotations' / 'validation'}: missing" in err


def test_label_out_of_range(tmp_path, ade_root, tiny_mae_ckpt):
    import shutil

    root = tmp_path / "ade"
    shutil.copytree(ade_root, root)
    bad = sorted((root / "annotations" / "training").glob("*.png"))[3]
    label = np.asarray(Image.open(bad)).copy()
    label[5, 5] = 42
    Image.fromarray(label).save(bad)
    err = _bad_run(tmp_path, "--ckpt", tiny_mae_ckpt, "--data-root", root)
    assert str(bad) in err and "42" in err


def test_checkpoint_of_other_width(tmp_path, ade_root):
    from mae_bench.models import create_vit

    ckpt = tmp_path / "small.pth"
    torch.save({"model": create_vit("small", img_size=64).encoder_state_dict()}, ckpt)
    err = _bad_run(tmp_path, "--ckpt", ckpt, "--data-root", ade_root)
    assert "checkpoint does not fit the model" in err and "(1, 1, 384)" in err and "(1, 1, 192)" in err


def test_backbone_loads_the_checkpoint_as_read_without_reading_the_file_again(quick_cfg, tiny_mae_ckpt, tmp_path):
    """The checkpoint road: the pipeline reads --ckpt once and hands the read to the Runner-built backbone, whose
    init_weights then loads it even when the file is gone; a read of another file is refused, and mmseg's
    ``pretrained=`` spelling is refused naming ``checkpoint=``."""
    import shutil

    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    from backbones.checkpoint_init import hand_over_checkpoint
    from mae_bench.checkpoints import read_checkpoint
    from mae_bench.errors import CheckpointError, ConfigError

    copy = tmp_path / "enc.pth"
    shutil.copy(tiny_mae_ckpt, copy)
    with DefaultScope.overwrite_default_scope("mmseg"):
        backbone = MODELS.build(dict(quick_cfg.model.backbone, checkpoint=str(copy)))
        with pytest.raises(ConfigError, match=r"pretrained=.* give the checkpoint as checkpoint=PATH"):
            MODELS.build(dict(quick_cfg.model.backbone, pretrained=str(copy)))
    with pytest.raises(CheckpointError, match="is not the file read for this run"):
        backbone.hand_over(read_checkpoint(tiny_mae_ckpt))
    read = read_checkpoint(copy)
    hand_over_checkpoint(torch.nn.ModuleDict(dict(backbone=backbone)), read)
    copy.unlink()
    backbone.init_weights()
    assert torch.equal(backbone.blocks[0].attn.qkv.weight, read.obj["model"]["blocks.0.attn.qkv.weight"])
