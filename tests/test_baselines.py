"""Equal-budget baselines: supervised (DeiT-style) and MoCo v3 pretrain through tools/pretrain.sh with 2 gloo
processes, and their checkpoints feed the transfer tasks through load_encoder_state."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO, run_tool
from mae_bench.checkpoints import load_encoder_state, load_file
from mae_bench.data import pretrain_transform
from mae_bench.methods.mocov3 import MoCoV3, cosine_momentum, infonce
from mae_bench.models import VisionTransformer, create_vit
from mae_bench.results import load_records

TINY = ["--device", "cpu", "--model", "mae_vit_tiny_patch16", "--input_size", 64, "--batch_size", 4, "--epochs", 1,
        "--warmup_epochs", 1, "--max_iters_per_epoch", 2, "--num_workers", 0, "--no-tensorboard", "--save_every", 0]


@pytest.fixture(scope="module", params=["supervised", "mocov3"])
def baseline_ckpt(request, tmp_path_factory, synthetic_imagefolder):
    out = tmp_path_factory.mktemp(request.param)
    ema = ["--model_ema", "--model_ema_decay", 0.5] if request.param == "supervised" else []
    run_tool("pretrain.sh", 2, "--method", request.param, *TINY, *ema, "--data_path", synthetic_imagefolder,
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
        ema = load_file(path.parent / "checkpoint-ema.pth")  # the EMA weights as a checkpoint's model
        assert ema["model"].keys() == ckpt["model"].keys() == ckpt["model_ema"].keys()
        key = "blocks.3.mlp.fc2.weight"
        torch.testing.assert_close(ema["model"][key], ckpt["model_ema"][key], rtol=0, atol=0)
        assert not torch.equal(ema["model"][key], ckpt["model"][key])  # decay 0.5: two steps behind, not equal
    else:
        prefixes = {k.split(".")[0] for k in report.ignored}
        assert prefixes == {"projector", "predictor", "momentum_encoder", "momentum_projector"}
        check_mocov3_momentum_and_frozen_patch_projection(ckpt["model"])
        cfg = ckpt["config"]  # no accumulation: 2 processes x 4 is the batch, and the lr follows it
        assert (cfg["accum_iter"], cfg["effective_batch"]) == (1, 8)
        assert cfg["abs_lr"] == pytest.approx(1.5e-4 * 8 / 256)


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


# ---------------------------------------------------------------- the recipes as their papers define them
# Expected values below are the official rules restated by hand, not read from our code:
# MoCo v3: facebookresearch/moco-v3 @ c349e6e (vits.py, moco/builder.py, main_moco.py, CONFIG.md's ViT-B command);
# supervised: the MAE paper, appendix A.2, Table 11 (ViT-B from scratch).

MICRO = dict(model="mae_vit_micro_patch8", input_size=32, device="cpu")


def _mocov3(**overrides):
    from mae_bench.methods import METHODS, PretrainConfig
    torch.manual_seed(0)
    cfg = PretrainConfig(method="mocov3", **(MICRO | overrides))
    return cfg, METHODS["mocov3"](cfg)


def test_mocov3_optimizer_is_the_official_adamw():
    """main_moco.py: torch.optim.AdamW(model.parameters(), lr, weight_decay=wd): default betas (0.9, 0.999), eps 1e-8,
    and weight decay on every parameter, norms, biases, cls token and BatchNorm included; frozen ones (patch
    projection, position table, momentum copies) get no gradient and are never stepped."""
    from mae_bench.pretrain.run import build_optimizer
    cfg, method = _mocov3(weight_decay=0.1)
    opt = build_optimizer(cfg, method, lr=1e-3)
    names = {id(p): n for n, p in method.model.named_parameters()}
    stepped = {names[id(p)]: (g["weight_decay"], g["betas"], g["eps"]) for g in opt.param_groups for p in g["params"]}
    assert set(stepped.values()) == {(0.1, (0.9, 0.999), 1e-8)}
    for name in ("cls_token", "norm.weight", "norm.bias", "blocks.0.norm1.weight", "blocks.0.attn.qkv.bias",
                 "projector.1.weight", "projector.1.bias", "predictor.0.weight", "predictor.1.weight"):
        assert name in stepped, name
    frozen = {"patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed"}
    assert not frozen & set(stepped) and not any(n.startswith("momentum_") for n in stepped)
    trained = {n for n, p in method.model.named_parameters() if p.requires_grad}
    assert set(stepped) == trained


def test_mocov3_init_is_the_official_vits_init():
    """vits.py VisionTransformerMoCo: Linear xavier-uniform, the fused qkv with the bound of one of Q, K, V,
    sqrt(6 / (D + D)); biases 0; cls token N(0, 1e-6); patch projection uniform +-sqrt(6 / (3 p^2 + D)), bias 0,
    weight and bias frozen (--stop-grad-conv1); 2D sin-cos position table, zero cls row, frozen."""
    from mae_bench.models.pos_embed import sincos_pos_embed_2d
    _, method = _mocov3()
    m, d, p = method.model, 128, 8
    qkv = m.blocks[0].attn.qkv.weight
    bound = (6.0 / (d + d)) ** 0.5  # 0.153 for D = 128; xavier over the fused [3D, D] would be 0.108
    assert qkv.abs().max() <= bound and qkv.abs().max() > 0.99 * bound
    assert qkv.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.03)
    fc1 = m.blocks[0].mlp.fc1.weight  # [4D, D]
    assert fc1.std().item() == pytest.approx((2.0 / (d + 4 * d)) ** 0.5, rel=0.03)
    assert all((mod.bias == 0).all() for mod in m.blocks.modules() if isinstance(mod, torch.nn.Linear))
    assert m.cls_token.std().item() == pytest.approx(1e-6, rel=0.3)
    proj = m.patch_embed.proj
    patch_bound = (6.0 / (3 * p * p + d)) ** 0.5
    assert proj.weight.abs().max() <= patch_bound and proj.weight.abs().max() > 0.99 * patch_bound
    assert (proj.bias == 0).all() and not proj.weight.requires_grad and not proj.bias.requires_grad
    assert not m.pos_embed.requires_grad and (m.pos_embed[0, 0] == 0).all()
    torch.testing.assert_close(m.pos_embed, sincos_pos_embed_2d(d, (4, 4), cls_token=True), rtol=0, atol=0)


def test_mocov3_heads_at_full_size():
    """builder.py MoCo_ViT with --moco-mlp-dim 4096 --moco-dim 256: projector Linear(D, 4096) BN ReLU Linear(4096,
    4096) BN ReLU Linear(4096, 256) BN(affine=False); predictor Linear(256, 4096) BN ReLU Linear(4096, 256)
    BN(affine=False); Linear layers without bias. The demo's 1024-wide heads are its own stated choice."""
    from mae_bench.config import build, load_config_file
    from mae_bench.methods import PretrainConfig

    def layout(mlp):
        return [(type(x).__name__, getattr(x, "in_features", None), getattr(x, "out_features", None),
                 getattr(x, "affine", None), getattr(x, "bias", None) is not None) for x in mlp]

    _, method = _mocov3()
    lin, bn, relu = (lambda i, o: ("Linear", i, o, None, False)), (lambda a: ("BatchNorm1d", None, None, a, a)), \
        ("ReLU", None, None, None, False)
    assert layout(method.model.projector) == [lin(128, 4096), bn(True), relu, lin(4096, 4096), bn(True), relu,
                                              lin(4096, 256), bn(False)]
    assert layout(method.model.predictor) == [lin(256, 4096), bn(True), relu, lin(4096, 256), bn(False)]
    assert layout(method.model.momentum_projector) == layout(method.model.projector)
    demo = build(PretrainConfig, load_config_file(REPO / "configs/demo/mocov3.py"))
    assert (demo.moco_mlp_dim, demo.moco_dim) == (1024, 256)


def test_mocov3_recipe_config_is_the_official_vit_b_command():
    """CONFIG.md ViT-Base: -a vit_base --optimizer=adamw --lr=1.5e-4 --weight-decay=.1 --epochs=300
    --warmup-epochs=40 --stop-grad-conv1 --moco-m-cos --moco-t=.2, batch 4096 (main_moco.py default), lr = 1.5e-4 x
    4096 / 256; crop-min 0.08 (default)."""
    from mae_bench.config import build, load_config_file
    from mae_bench.methods import PretrainConfig
    from mae_bench.methods.mocov3 import TwoViews, cosine_momentum

    cfg = build(PretrainConfig, load_config_file(REPO / "configs/pretrain/mocov3_vit_base_300e.py"))
    got = {k: getattr(cfg, k) for k in ("method", "model", "input_size", "epochs", "warmup_epochs", "blr",
                                        "weight_decay", "min_lr", "moco_dim", "moco_mlp_dim", "moco_m", "moco_t",
                                        "crop_scale", "clip_grad")}
    assert got == dict(method="mocov3", model="mae_vit_base_patch16", input_size=224, epochs=300, warmup_epochs=40,
                       blr=1.5e-4, weight_decay=0.1, min_lr=0.0, moco_dim=256, moco_mlp_dim=4096, moco_m=0.99,
                       moco_t=0.2, crop_scale=(0.08, 1.0), clip_grad=None)
    assert cfg.total_batch(64) == 4096 and cfg.absolute_lr(64) == pytest.approx(2.4e-3)
    assert cosine_momentum(0.25, cfg.moco_m) == pytest.approx(1 - 0.5 * (1 + 2 ** -0.5) * 0.01)
    eq = build(PretrainConfig, load_config_file(REPO / "configs/pretrain/mocov3_vit_base_800e.py"))
    assert eq.epochs == 800 and {k: getattr(eq, k) for k in got if k != "epochs"} == {
        k: v for k, v in got.items() if k != "epochs"}
    # main_moco.py's two views: crop, ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8, grey 0.2, blur 1.0 / 0.1 with sigma
    # 0.1-2, solarise 0 / 0.2, flip
    views = TwoViews(224).views

    def describe(view):
        out = []
        for t in view.transforms:
            inner = t.transforms[0] if hasattr(t, "transforms") else t
            p = getattr(t, "p", None)
            name = type(inner).__name__
            if name == "ColorJitter":
                out.append((name, p, inner.brightness, inner.contrast, inner.saturation, inner.hue))
            elif name == "GaussianBlur":
                out.append((name, p, tuple(inner.sigma)))
            elif name in ("RandomGrayscale", "RandomSolarize", "RandomHorizontalFlip"):
                out.append((name, p))
            elif name == "RandomResizedCrop":
                out.append((name, tuple(inner.scale)))
        return out

    common = [("RandomResizedCrop", (0.08, 1.0)), ("ColorJitter", 0.8, (0.6, 1.4), (0.6, 1.4), (0.8, 1.2), (-0.1, 0.1)),
              ("RandomGrayscale", 0.2)]
    assert describe(views[0]) == common + [("GaussianBlur", 1.0, (0.1, 2.0)), ("RandomSolarize", 0.0),
                                           ("RandomHorizontalFlip", 0.5)]
    assert describe(views[1]) == common + [("GaussianBlur", 0.1, (0.1, 2.0)), ("RandomSolarize", 0.2),
                                           ("RandomHorizontalFlip", 0.5)]


def test_mocov3_never_accumulates_gradients(tmp_path):
    """A contrastive loss and BatchNorm do not split over micro-batches: an effective batch that would need
    accumulation is refused (exit 2, before any file), naming the two ways to run; the per-step batch is accepted
    with the lr scaled by main_moco.py's rule and recorded as the run's effective batch. MAE still accumulates."""
    from mae_bench.errors import ConfigError
    from mae_bench.methods import PretrainConfig

    recipe = dict(method="mocov3", batch_size=64, effective_batch=4096)
    assert PretrainConfig(**recipe).accum(64) == 1
    with pytest.raises(ConfigError, match=r"--effective_batch 512 \(lr = blr x 512 / 256"):
        PretrainConfig(**recipe).accum(8)
    with pytest.raises(ConfigError, match="--batch_size 512 on 8"):
        PretrainConfig(**recipe).accum(8)
    with pytest.raises(ConfigError, match="does not accumulate"):
        PretrainConfig(method="mocov3", accum_iter=2).accum(1)
    smaller = PretrainConfig(**(recipe | dict(effective_batch=512)))
    assert smaller.accum(8) == 1 and smaller.absolute_lr(8) == pytest.approx(1.5e-4 * 512 / 256)
    assert PretrainConfig(**(recipe | dict(method="mae"))).accum(8) == 8
    out = tmp_path / "never"
    proc = run_tool("pretrain.py", "--config", REPO / "configs/pretrain/mocov3_vit_base_300e.py", "--batch_size", 8,
                    "--device", "cpu", "--output_dir", out)
    assert proc.returncode == 2 and "does not accumulate" in proc.stderr and "--effective_batch 8" in proc.stderr
    assert not out.exists()


def test_supervised_recipe_is_the_mae_papers_from_scratch_recipe():
    """MAE paper Table 11 (ViT-B): AdamW, base lr 1e-4, wd 0.3, betas (0.9, 0.95), batch 4096, cosine, warmup 20,
    300 epochs, RandAug (9, 0.5), label smoothing 0.1, mixup 0.8, cutmix 1.0, drop path 0.1, EMA 0.9999; where the
    paper is silent (docs/fidelity.md): erasing 0.25, crop 0.08-1, no decay on norms / biases / tokens."""
    from mae_bench.config import build, load_config_file
    from mae_bench.methods import METHODS, PretrainConfig
    from mae_bench.pretrain.run import build_optimizer

    cfg = build(PretrainConfig, load_config_file(REPO / "configs/pretrain/supervised_vit_base_300e.py"))
    got = {k: getattr(cfg, k) for k in ("method", "model", "input_size", "epochs", "warmup_epochs", "blr",
                                        "weight_decay", "min_lr", "drop_path", "aa", "mixup", "cutmix", "smoothing",
                                        "reprob", "crop_scale", "model_ema", "model_ema_decay", "clip_grad")}
    assert got == dict(method="supervised", model="mae_vit_base_patch16", input_size=224, epochs=300,
                       warmup_epochs=20, blr=1e-4, weight_decay=0.3, min_lr=0.0, drop_path=0.1,
                       aa="rand-m9-mstd0.5-inc1", mixup=0.8, cutmix=1.0, smoothing=0.1, reprob=0.25,
                       crop_scale=(0.08, 1.0), model_ema=True, model_ema_decay=0.9999, clip_grad=None)
    assert cfg.total_batch(8) == 4096 and cfg.absolute_lr(8) == pytest.approx(1.6e-3)
    eq = build(PretrainConfig, load_config_file(REPO / "configs/pretrain/supervised_vit_base_800e.py"))
    assert eq.epochs == 800 and all(getattr(eq, k) == v for k, v in got.items() if k != "epochs")
    small = PretrainConfig(**(MICRO | dict(method="supervised", weight_decay=0.3)))
    method = METHODS["supervised"](small)
    opt = build_optimizer(small, method, lr=1e-3)
    names = {id(p): n for n, p in method.model.named_parameters()}
    decay = {names[id(p)]: g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert {g["betas"] for g in opt.param_groups} == {(0.9, 0.95)}
    assert decay["blocks.0.attn.qkv.weight"] == decay["head.weight"] == 0.3
    assert decay["cls_token"] == decay["blocks.0.norm1.weight"] == decay["blocks.0.attn.qkv.bias"] == 0.0


def test_mocov3_three_steps_equal_the_official_optimizer():
    """Three steps of our optimizer on MoCo v3 equal main_moco.py's AdamW(model.parameters(), lr, weight_decay=wd)
    (restated; fused like ours) on identical weights and batches: same groups, betas and decay, bitwise."""
    import copy

    from mae_bench.pretrain.run import build_optimizer
    cfg, method = _mocov3(weight_decay=0.1, moco_mlp_dim=256)
    ours, official = method.model, copy.deepcopy(method.model)
    opt = build_optimizer(cfg, method, lr=1e-3)
    ref = torch.optim.AdamW(official.parameters(), 1e-3, weight_decay=0.1, fused=True)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x1, x2 = torch.randn(8, 3, 32, 32, generator=g), torch.randn(8, 3, 32, 32, generator=g)
        for model, o in ((ours, opt), (official, ref)):
            o.zero_grad()
            model(x1, x2).backward()
            o.step()
    for (name, a), b in zip(ours.named_parameters(), official.parameters()):
        assert torch.equal(a, b), name
