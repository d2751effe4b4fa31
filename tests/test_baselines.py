"""Equal-budget baselines: supervised (DeiT-style) and MoCo v3 pretrain through tools/pretrain.sh with 2 gloo
processes, and their checkpoints feed the transfer tasks through load_encoder_state."""
from __future__ import annotations

import pytest
import torch

from mae_bench.checkpoints import load_encoder_state, load_file
from mae_bench.data import pretrain_transform
from mae_bench.methods.mocov3 import MoCoV3, cosine_momentum, infonce
from mae_bench.models import VisionTransformer, create_vit
from mae_bench.results import load_records
from conftest import REPO, run_tool

TINY = ["--device", "cpu", "--model", "mae_vit_tiny_patch16", "--input_size", 64, "--batch_size", 4, "--epochs", 1,
        "--warmup_epochs", 1, "--max_iters_per_epoch", 2, "--num_workers", 0, "--no-tensorboard", "--save_every", 0]


@pytest.fixture(scope="module", params=["supervised", "mocov3"])
def baseline_ckpt(request, tmp_path_factory, synthetic_imagefolder):
    out = tmp_path_factory.mktemp(request.param)
    run_tool("pretrain.sh", 2, "--method", request.param, *TINY, "--data_path", synthetic_imagefolder,
             "--output_dir", out, check=True, timeout=600)
    return request.param, out / "checkpoint-last.pth"


def test_checkpoint_feeds_transfer(baseline_ckpt):
    method, path = baseline_ckpt
    ckpt = load_file(path)
    assert ckpt["config"]["method"] == method and ckpt["config"]["world_size"] == 2 and ckpt["epoch"] == 1
    vit = VisionTransformer(img_size=64, embed_dim=192, depth=12, num_heads=3)
    report = load_encoder_state(vit, path)
    assert report.format == "mae-bench" and not report.missing
    torch.testing.assert_close(vit.blocks[3].mlp.fc2.weight, ckpt["model"]["blocks.3.mlp.fc2.weight"])
    if method == "supervised":
        assert sorted(report.ignored) == ["head.bias", "head.weight"]
        assert ckpt["model"]["head.weight"].shape == (6, 192)  # the six class folders of the synthetic set
    else:
        prefixes = {k.split(".")[0] for k in report.ignored}
        assert prefixes == {"projector", "predictor", "momentum_encoder", "momentum_projector"}
        check_mocov3_momentum_and_frozen_patch_projection(ckpt["model"])


def test_checkpoint_through_transfer_tool(baseline_ckpt, synthetic_imagefolder, tmp_path):
    """The real transfer entry point (linear probe, quick config) takes the file and labels the record."""
    method, path = baseline_ckpt
    runs = tmp_path / "runs"
    run_tool("transfer.py", "--task", "linprobe", "--config", REPO / "configs/linprobe/quick.py", "--ckpt", path,
             "--device", "cpu", "--data-root", synthetic_imagefolder, "--work-dir", tmp_path / "lp", "--runs-dir",
             runs, "--epochs", 1, "--cfg-options", "max_iters_per_epoch=3", check=True)
    (record,) = load_records(runs)
    assert record["pretrain_method"] == method and record["task"] == "linprobe"
    assert 0 <= record["metrics"]["top1"] <= 100


def check_mocov3_momentum_and_frozen_patch_projection(sd: dict) -> None:
    torch.manual_seed(0)  # run_pretrain seeds 0 before building the model
    init = MoCoV3(img_size=64, embed_dim=192, depth=12, num_heads=3).state_dict()
    torch.testing.assert_close(sd["patch_embed.proj.weight"], init["patch_embed.proj.weight"], rtol=0, atol=0)
    key = "blocks.0.attn.qkv.weight"
    trained, moved = (sd[key] - init[key]).norm(), (sd[f"momentum_encoder.{key}"] - init[key]).norm()
    assert trained > 0 and 0 < moved < 0.05 * trained  # m >= 0.99: the momentum copy trails the base encoder


def test_momentum_schedule_and_infonce():
    assert cosine_momentum(0.0) == pytest.approx(0.99) and cosine_momentum(1.0) == pytest.approx(1.0)
    assert cosine_momentum(0.5) == pytest.approx(0.995)
    q = torch.eye(4)
    assert infonce(q, q, 0.2) < 0.01 < infonce(q, q.roll(1, 0), 0.2)


def test_create_vit_matches_baseline_encoder_keys():
    """The baselines' encoder keys are exactly the plain ViT's (docs/architecture.md key names)."""
    vit_keys = set(create_vit("tiny", img_size=64).state_dict())
    moco_keys = {k for k in MoCoV3(img_size=64, embed_dim=192, depth=12, num_heads=3).state_dict()
                 if not k.startswith(("projector.", "predictor.", "momentum_"))}
    assert moco_keys == vit_keys


@pytest.mark.parametrize("method", ["supervised", "mocov3"])
def test_baseline_configs_build(method):
    from mae_bench.config import build, load_config_file
    from mae_bench.methods import PretrainConfig

    cfg = build(PretrainConfig, load_config_file(REPO / f"configs/pretrain/{method}_vit_base_800e.py"))
    assert cfg.method == method and cfg.model == "mae_vit_base_patch16" and cfg.epochs == 800


def _crop_scales(transform) -> list[tuple[float, float]]:
    """The RandomResizedCrop area ranges inside a (possibly two-view) pretraining transform."""
    views = getattr(transform, "views", [transform])
    return [tuple(t.scale) for v in views for t in v.transforms if hasattr(t, "scale") and "Crop" in type(t).__name__]


@pytest.mark.parametrize("method, recipe", [("mae", (0.2, 1.0)), ("supervised", (0.08, 1.0)), ("mocov3", (0.08, 1.0))])
def test_crop_scale_default_is_the_recipe_and_demo_overrides_it(method, recipe):
    """Without crop_scale each method crops as its paper (MAE 0.2-1, DeiT and MoCo v3 0.08-1); the demo's configs
    set it (supervised 0.35-1 so the label survives a 32 px crop, MoCo v3 0.2-1) and the value reaches the crop."""
    from mae_bench.config import build, load_config_file
    from mae_bench.methods import METHODS, PretrainConfig

    def scales(cfg):
        if cfg.method == "mae":
            return _crop_scales(pretrain_transform(cfg.input_size, cfg.crop_scale))
        return _crop_scales(METHODS[cfg.method](cfg).transform)

    plain = PretrainConfig(method=method, model="mae_vit_micro_patch8", input_size=32)
    assert scales(plain) and set(scales(plain)) == {recipe}
    demo = build(PretrainConfig, load_config_file(REPO / f"configs/demo/{method}.py"))
    expected = {"mae": (0.2, 1.0), "supervised": (0.35, 1.0), "mocov3": (0.2, 1.0)}[method]
    assert set(scales(demo)) == {expected}


def test_crop_scale_flag(tmp_path):
    proc = run_tool("pretrain.py", "--crop_scale", "0.3", "--output_dir", tmp_path, "--device", "cpu")
    assert proc.returncode == 2 and "--crop_scale" in proc.stderr and "LO,HI" in proc.stderr
