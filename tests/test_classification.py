"""ImageNet fine-tuning / linear probing (mae_bench.transfer.classification) through tools/transfer.py."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from conftest import REPO, run_tool
from mae_bench.checkpoints import load_file, read_checkpoint
from mae_bench.config import build, load_config_file
from mae_bench.engine.optim import param_groups
from mae_bench.models.classifier import create_classifier
from mae_bench.transfer import TransferArgs, run_task
from mae_bench.transfer.classification import ClassificationConfig, ShardSampler, build_optimizer, evaluate, load_init

ENCODER = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.")


def reference_layer_id(name: str) -> int:
    """docs/references.md: cls/pos/patch embed are layer 0, block i is layer i + 1, the rest is the last layer (13)."""
    if name in ("cls_token", "pos_embed") or name.startswith("patch_embed."):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return 13


RECIPES = {  # docs/references.md: (epochs, base lr, layer decay, drop path)
    "vit_b": (100, 5e-4, 0.65, 0.1), "vit_l": (50, 1e-3, 0.75, 0.2), "vit_h": (50, 1e-3, 0.75, 0.3)}


@pytest.mark.parametrize("task", ["finetune", "linprobe"])
def test_every_config_builds_with_the_reference_recipe(task):
    for path in sorted((REPO / "configs" / task).glob("*.py")):
        cfg = build(ClassificationConfig, load_config_file(path), source=str(path))
        if path.stem in RECIPES and task == "finetune":
            assert (cfg.epochs, cfg.blr, cfg.layer_decay, cfg.drop_path) == RECIPES[path.stem], path
            assert (cfg.effective_batch, cfg.warmup_epochs, cfg.weight_decay, cfg.min_lr) == (1024, 5, 0.05, 1e-6)
            assert (cfg.aa, cfg.reprob, cfg.mixup, cfg.cutmix, cfg.smoothing) == (
                "rand-m9-mstd0.5-inc1", 0.25, 0.8, 1.0, 0.1)
        if path.stem in RECIPES and task == "linprobe":
            assert (cfg.optimizer, cfg.blr, cfg.effective_batch, cfg.epochs, cfg.warmup_epochs, cfg.weight_decay) == (
                "lars", 0.1, 16384, 90, 10, 0.0)
            assert (cfg.head_type, cfg.head_init_std, cfg.global_pool, cfg.tune_blocks, cfg.augment) == (
                "bn_linear", 0.01, False, 0, "tf_rrc")
        if path.stem in RECIPES:
            assert cfg.model == path.stem.replace("_", "-") and cfg.input_size == 224


def test_layer_decay_scales_of_vit_b_on_every_parameter():
    model = create_classifier("base", 1000)
    groups = param_groups(model, 0.05, 0.65, model.depth)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    wd = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == len(scale) == 152  # 4 embed/token + 12 x 12 block + fc_norm 2 + head 2
    for name, p in model.named_parameters():
        assert scale[id(p)] == pytest.approx(0.65 ** (13 - reference_layer_id(name)), rel=1e-12), name
        assert wd[id(p)] == (0.0 if p.ndim == 1 or name in ("cls_token", "pos_embed") else 0.05), name
    assert {"fc_norm.weight", "head.weight", "pos_embed"} <= set(names) and "norm.weight" not in names


def test_frozen_parts_for_partial_finetuning_and_linear_probe():
    def trainable(m):
        return sorted(n for n, p in m.named_parameters() if p.requires_grad)

    partial = create_classifier("tiny", 6, tune_blocks=2)
    modules = {re.match(r"(blocks\.\d+|\w+)", n).group(1) for n in trainable(partial)}
    assert modules == {"blocks.10", "blocks.11", "fc_norm", "head"}
    probe = create_classifier("tiny", 6, global_pool=False, head_type="bn_linear", tune_blocks=0, train_norm=False)
    assert trainable(probe) == ["head.1.bias", "head.1.weight"]
    probe.train()
    assert probe.head.training and not probe.blocks[0].training and not probe.norm.training


def test_pos_embed_is_resampled_to_the_finetuning_resolution(tiny_mae_ckpt):
    model = create_classifier("tiny", 6, img_size=96)  # pretrained at 64 px: 4x4 grid -> 6x6
    summary = load_init(model, read_checkpoint(tiny_mae_ckpt))
    assert "resampled 1: pos_embed (1, 17, 192) -> (1, 37, 192)" in summary
    enc = load_file(tiny_mae_ckpt)["model"]
    assert torch.equal(model.blocks[3].mlp.fc1.weight, enc["blocks.3.mlp.fc1.weight"])


def test_evaluate_one_hot_logits_give_top1_100():
    labels = torch.arange(23) % 7
    onehot = torch.nn.functional.one_hot(labels, 7).float()
    loader = DataLoader(TensorDataset(onehot, labels), batch_size=5, sampler=ShardSampler(23))
    res = evaluate(torch.nn.Identity(), loader, torch.device("cpu"))
    assert res["top1"] == 100.0 and res["top5"] == 100.0 and res["num_images"] == 23
    wrong = DataLoader(TensorDataset(onehot.roll(1, dims=1), labels), batch_size=5)
    assert evaluate(torch.nn.Identity(), wrong, torch.device("cpu"))["top1"] == 0.0


def test_lars_step_matches_the_official_linear_probe_lars():
    """Official MAE LARS: 2-D weights get update g * 0.001 * |w| / |g| (wd 0), 1-D ones plain g; momentum 0.9."""
    torch.manual_seed(0)
    model = create_classifier("tiny", 6, global_pool=False, head_type="bn_linear", tune_blocks=0, train_norm=False)
    cfg = ClassificationConfig(optimizer="lars", weight_decay=0.0)
    opt = build_optimizer(cfg, model, lr=0.5)
    w, b = model.head[1].weight, model.head[1].bias
    w.data.normal_(), b.data.normal_()
    mu_w, mu_b = torch.zeros_like(w), torch.zeros_like(b)
    for _ in range(2):
        w.grad, b.grad = torch.randn_like(w), torch.randn_like(b)
        exp_w, exp_b = w.detach().clone(), b.detach().clone()
        mu_w = 0.9 * mu_w + w.grad * (0.001 * w.norm() / w.grad.norm())
        mu_b = 0.9 * mu_b + b.grad
        opt.step()
        assert torch.allclose(w, exp_w - 0.5 * mu_w, atol=1e-7) and torch.allclose(b, exp_b - 0.5 * mu_b, atol=1e-7)


SMOKE = ["--epochs", "2", "--cfg-options", "max_iters_per_epoch=3"]  # the quick configs' learning schedule cut short


def transfer(task: str, ckpt, data, tmp: Path, *extra, check: bool = True):
    """tools/transfer.py with a 2-epoch x 3-iteration schedule (``--cfg-options`` in ``extra`` join SMOKE's)."""
    extra = [str(x) for x in extra]
    opts = extra[extra.index("--cfg-options") + 1:] if "--cfg-options" in extra else []
    extra = extra[:extra.index("--cfg-options")] if opts else extra
    return run_tool("transfer.py", "--task", task, "--ckpt", ckpt, "--data-root", data, "--work-dir", tmp / "work",
                    "--runs-dir", tmp / "runs", "--device", "cpu", *extra, *SMOKE, *opts, check=check)


def only_record(runs: Path) -> dict:
    files = list(runs.glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def encoder_state(path: Path) -> dict:
    return {k: v for k, v in load_file(path)["model"].items() if k.startswith(ENCODER)}


@pytest.mark.slow
def test_finetune_quick_writes_record_checkpoints_and_resumes(tmp_path, synthetic_imagefolder, tiny_mae_ckpt):
    transfer("finetune", tiny_mae_ckpt, synthetic_imagefolder, tmp_path, "--cfg-options", "ema=True", "ema_decay=0.5")
    rec = only_record(tmp_path / "runs")
    assert 0 <= rec["metrics"]["top1_ema"] <= 100
    assert rec["task"] == "finetune" and rec["dataset"] == "synthetic" and rec["model"] == "vit-t"
    assert rec["pretrain_method"] == "mae" and rec["best_epoch"] in (1, 2) and rec["num_val_images"] == 12
    assert 0 <= rec["metrics"]["top1"] <= rec["metrics"]["top5"] <= 100
    assert (rec["effective_batch"], rec["accum_iter"], rec["batch_override"], rec["amp"]) == (8, 1, False, "fp32")
    work = tmp_path / "work"
    assert (work / "checkpoint-best.pth").is_file() and any((work / "tb").iterdir())
    lines = [json.loads(x) for x in (work / "log.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1] and all("top1" in x and "top5" in x for x in lines)
    before, after = encoder_state(tiny_mae_ckpt), encoder_state(work / "checkpoint-last.pth")
    assert "norm.weight" not in after  # global pooling drops the encoder's final norm (fc_norm instead)
    assert not torch.equal(before["blocks.11.mlp.fc2.weight"], after["blocks.11.mlp.fc2.weight"])
    run_task(TransferArgs("finetune", str(tiny_mae_ckpt), data_root=str(synthetic_imagefolder), work_dir=str(work),
                          runs_dir=str(tmp_path / "runs2"), device="cpu", resume=True, epochs=3,
                          cfg_options=["ema=True", "ema_decay=0.5", "max_iters_per_epoch=3"]))  # in-process
    lines = [json.loads(x) for x in (work / "log.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1, 2]  # continued at epoch 2, did not start over
    assert load_file(work / "checkpoint-last.pth")["epoch"] == 3


def test_linprobe_quick_leaves_encoder_bit_identical(tmp_path, synthetic_imagefolder, tiny_mae_ckpt):
    transfer("linprobe", tiny_mae_ckpt, synthetic_imagefolder, tmp_path, "--cfg-options", "effective_batch=16",
             "eval_every=5")
    rec = only_record(tmp_path / "runs")
    lines = [json.loads(x) for x in (tmp_path / "work" / "log.jsonl").read_text().splitlines()]
    assert ["top1" in x for x in lines] == [False, True]  # eval_every 5 of 2 epochs: after the last one only
    assert rec["best_epoch"] == 2 and rec["metrics"]["top1"] == rec["metrics"]["top1_last"]
    assert rec["task"] == "linprobe" and rec["global_pool"] is False and 0 <= rec["metrics"]["top1"] <= 100
    assert (rec["effective_batch"], rec["accum_iter"], rec["batch_override"], rec["amp"]) == (16, 2, True, "fp32")
    before, after = encoder_state(tiny_mae_ckpt), encoder_state(tmp_path / "work" / "checkpoint-last.pth")
    assert sorted(before) == sorted(after) and len(after) == 4 + 12 * 12 + 2
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == []
    head = load_file(tmp_path / "work" / "checkpoint-last.pth")["model"]
    assert head["head.0.running_mean"].abs().sum() > 0 and "head.0.weight" not in head  # BN(affine=False) saw data


def test_two_processes_give_the_same_accuracy_as_one(tmp_path, synthetic_imagefolder, tiny_mae_ckpt):
    data = tmp_path / "data"
    shutil.copytree(synthetic_imagefolder, data)
    min(data.glob("val/*/*.jpg")).unlink()  # 11 val images: not divisible by 2
    transfer("finetune", tiny_mae_ckpt, data, tmp_path / "g2", "--gpus", 2, "--cfg-options", "eval_only=True")
    run_task(TransferArgs("finetune", str(tiny_mae_ckpt), data_root=str(data), work_dir=str(tmp_path / "g1"),
                          runs_dir=str(tmp_path / "g1" / "runs"), device="cpu", cfg_options=["eval_only=True"]))
    one, two = only_record(tmp_path / "g1" / "runs"), only_record(tmp_path / "g2" / "runs")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["num_val_images"] == two["num_val_images"] == 11
    assert one["metrics"]["top1"] == two["metrics"]["top1"] and one["metrics"]["top5"] == two["metrics"]["top5"]
    assert one["metrics"]["val_loss_last"] == pytest.approx(two["metrics"]["val_loss_last"], rel=1e-6)


def bad_val_missing(data: Path) -> str:
    shutil.rmtree(data / "val")
    return "val: missing"


def bad_classes_differ(data: Path) -> str:
    (data / "val" / "star").rename(data / "val" / "stars")
    return "class folders of"


@pytest.mark.parametrize("breaker", [bad_val_missing, bad_classes_differ, None], ids=["no-val", "classes", "size"])
def test_bad_input_fails_clearly_without_record(tmp_path, synthetic_imagefolder, tiny_mae_ckpt, breaker):
    data = tmp_path / "data"
    shutil.copytree(synthetic_imagefolder, data)
    extra, expected = [], "mismatched"
    if breaker is None:  # a ViT-S classifier cannot take the ViT-T checkpoint
        extra = ["--config", "configs/finetune/quick.py", "--model", "vit-s"]
    else:
        expected = breaker(data)
    proc = transfer("finetune", tiny_mae_ckpt, data, tmp_path, *extra, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error:" in proc.stderr and expected in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.json"))
