"""Checkpoint intake: every public layout converts, loads strictly and gives timm's features; unsafe pickles
are refused on every load path without running."""
from __future__ import annotations

import argparse
import re

import pytest
import timm
import torch

from conftest import TINY_MAE, run_tool
from mae_bench.checkpoints import (
    CheckpointError,
    convert,
    epochs_completed,
    load_encoder_state,
    load_file,
    read_checkpoint,
    trained_by,
)
from mae_bench.meta import sha256
from mae_bench.models import VisionTransformer
from mae_bench.transfer import TransferArgs, TransferError
from mae_bench.transfer.skeleton import read_init
from mae_bench.transfer.task import init_name

DIM, DEPTH, HEADS, IMG = 192, 2, 3, 32


@pytest.fixture(scope="module")
def ref():
    """A timm ViT (tiny width, 2 blocks, 32 px) with random weights everywhere, and its state dict."""
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=IMG, depth=DEPTH).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model, {k: v.clone() for k, v in model.state_dict().items()}


def rand(*shape):
    return torch.randn(*shape)


def decoder_keys():
    return {"mask_token": rand(1, 1, 64), "decoder_embed.weight": rand(64, DIM), "decoder_pred.bias": rand(768)}


def mae_official(sd):
    return {"model": dict(sd)}


def mae_official_full(sd):
    return {"model": dict(sd) | decoder_keys()}


def mae_bench(sd):
    return {"model": dict(sd) | decoder_keys(), "optimizer": {}, "epoch": 1, "config": {"method": "mae"},
            "meta": {"producer": "mae-bench"}}


def deit(sd):
    return {"model": dict(sd) | {"head.weight": rand(10, DIM), "head.bias": rand(10)}}


def timm_plain(sd):
    return dict(sd)


def mocov3(sd):
    other = {k: v + 1 for k, v in sd.items()}
    heads = {"head.0.weight": rand(64, DIM), "head.1.running_mean": rand(64), "head.3.weight": rand(16, 64)}
    state = {f"module.base_encoder.{k}": v for k, v in (sd | heads).items()}
    state |= {f"module.momentum_encoder.{k}": v for k, v in (other | heads).items()}
    state |= {"module.predictor.0.weight": rand(64, 16), "module.predictor.3.weight": rand(16, 64)}
    return {"epoch": 1, "arch": "vit_small", "state_dict": state, "optimizer": {}}


def dino(sd):
    head = {"head.mlp.0.weight": rand(64, DIM), "head.last_layer.weight_g": rand(100, 1)}
    teacher = {f"backbone.{k}": v for k, v in sd.items()} | head
    student = {f"module.backbone.{k}": v + 1 for k, v in sd.items()} | {f"module.{k}": v for k, v in head.items()}
    return {"teacher": teacher, "student": student, "epoch": 1, "args": argparse.Namespace(arch="vit_small")}


def beit(sd):
    """unilm BEiT pretraining layout; the reference has zero k bias, zero pos embed (BEiT: relative only),
    unit layer scale and zero relative tables, so dropping what the plain encoder lacks changes nothing."""
    n = (IMG // 16) ** 2 + 1
    out = {"cls_token": sd["cls_token"], "mask_token": rand(1, 1, DIM), "lm_head.weight": rand(50, DIM)}
    out |= {k: v for k, v in sd.items() if k.startswith(("patch_embed.", "norm."))}
    for i in range(DEPTH):
        b = f"blocks.{i}."
        out |= {k: v for k, v in sd.items() if k.startswith(b) and "qkv.bias" not in k}
        q, _, v = sd[b + "attn.qkv.bias"].chunk(3)
        out |= {b + "attn.q_bias": q, b + "attn.v_bias": v, b + "gamma_1": torch.ones(DIM), b + "gamma_2":
                torch.ones(DIM), b + "attn.relative_position_bias_table": torch.zeros(3 * 3 + 3, HEADS),
                b + "attn.relative_position_index": torch.zeros(n, n, dtype=torch.long)}
    return {"model": out}


def beit_ref(sd):
    sd = dict(sd, pos_embed=torch.zeros_like(sd["pos_embed"]))
    for i in range(DEPTH):
        sd[f"blocks.{i}.attn.qkv.bias"] = sd[f"blocks.{i}.attn.qkv.bias"].clone()
        sd[f"blocks.{i}.attn.qkv.bias"][DIM:2 * DIM] = 0
    return sd


MM = {"patch_embed.proj.": "patch_embed.projection.", "norm1.": "ln1.", "norm2.": "ln2.", "mlp.fc1.": "ffn.layers.0.0.",
      "mlp.fc2.": "ffn.layers.1."}


def mmpretrain(sd):
    out = {}
    for k, v in sd.items():
        k = "ln1." + k[5:] if k.startswith("norm.") else k.replace("blocks.", "layers.")
        for a, b in MM.items():
            k = k.replace(a, b)
        out["backbone." + k] = v
    out |= {"neck.mask_token": rand(1, 1, 64), "neck.decoder_blocks.0.ln1.weight": rand(64),
            "neck.decoder_pred.weight": rand(768, 64), "head.layers.head.weight": rand(10, DIM)}
    return {"meta": {"mmpretrain_version": "1.2.0"}, "state_dict": out}


HF = {"cls_token": "embeddings.cls_token", "pos_embed": "embeddings.position_embeddings",
      "patch_embed.proj.": "embeddings.patch_embeddings.projection.", "norm1.": "layernorm_before.",
      "norm2.": "layernorm_after.", "attn.proj.": "attention.output.dense.", "mlp.fc1.": "intermediate.dense.",
      "mlp.fc2.": "output.dense.", "norm.": "layernorm."}


def hf(sd, prefix="vit."):
    out = {}
    for k, v in sd.items():
        if ".attn.qkv." in k:
            i, kind = re.match(r"blocks\.(\d+)\.attn\.qkv\.(\w+)", k).groups()
            for name, part in zip(("query", "key", "value"), v.chunk(3)):
                out[f"{prefix}encoder.layer.{i}.attention.attention.{name}.{kind}"] = part
            continue
        a = next(a for a in HF if (a in k if k.startswith("blocks.") else k.startswith(a)))
        k = k.replace(a, HF[a])
        out[prefix + k.replace("blocks.", "encoder.layer.")] = v
    return out


def hf_vitmae(sd):
    return hf(sd) | {"decoder.mask_token": rand(1, 1, 64), "decoder.decoder_embed.weight": rand(64, DIM),
                     "decoder.decoder_layers.0.layernorm_before.weight": rand(64)}


def hf_vit_classifier(sd):
    return hf(sd) | {"classifier.weight": rand(10, DIM), "classifier.bias": rand(10)}


CASES = {  # name: (layout writer, expected format, reference transform, keys the report must list as ignored)
    "mae_official": (mae_official, "mae-official", None, 0),
    "mae_official_full": (mae_official_full, "mae-official", None, 3),
    "mae_bench": (mae_bench, "mae-bench", None, 3),
    "deit": (deit, "timm", None, 2),
    "timm_plain": (timm_plain, "timm", None, 0),
    "mocov3": (mocov3, "mocov3", None, None),  # counted in the test
    "dino": (dino, "dino", None, 2),
    "beit": (beit, "beit", beit_ref, 2),
    "mmpretrain": (mmpretrain, "mmpretrain", None, 4),
    "hf_vit": (lambda sd: hf(sd, prefix=""), "hf", None, 0),
    "hf_vitmae": (hf_vitmae, "hf", None, 3),
    "hf_vit_classifier": (hf_vit_classifier, "hf", None, 2),
}


def features(model, x):
    with torch.no_grad():
        return model.forward_features(x)


@pytest.mark.parametrize("case", list(CASES))
def test_format_converts_and_matches_timm(case, ref, tmp_path):
    writer, fmt, ref_fn, n_ignored = CASES[case]
    timm_model, sd = ref
    if ref_fn is not None:
        sd = ref_fn(sd)
        timm_model = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=IMG, depth=DEPTH).eval()
        timm_model.load_state_dict(sd)
    path = tmp_path / f"{case}.pth"
    torch.save(writer(sd), path)
    # BEiT keeps its positions only in relative tables: its target must have them (a plain ViT is refused below)
    ours = (RelPosViT(IMG) if case == "beit" else VisionTransformer(img_size=IMG, embed_dim=DIM, depth=DEPTH,
                                                                    num_heads=HEADS)).eval()
    report = load_encoder_state(ours, path)
    assert report.format == fmt
    assert not (report.missing or report.unexpected or report.mismatched)
    if case == "mocov3":  # projector (3) + momentum encoder (all + 3 head) + predictor (2)
        assert len(report.ignored) == 3 + len(sd) + 3 + 2
        assert any(k.startswith("momentum_encoder.") for k in report.ignored)
    else:
        assert len(report.ignored) == n_ignored, report.ignored
    if case == "beit":
        assert len(report.dropped) == DEPTH * 3  # 2 layer-scale gammas + the index buffer per block
        assert any("pos_embed" in n for n in report.notes)
    x = torch.randn(2, 3, IMG, IMG)
    torch.testing.assert_close(features(ours, x), features(timm_model, x), rtol=1e-4, atol=1e-4)


def test_two_network_branches(ref, tmp_path):
    """DINO student / MoCo v3 momentum encoder are selectable; both hold the reference weights + 1."""
    _, sd = ref
    for writer, branch in ((dino, "student"), (mocov3, "momentum")):
        name, state = convert(writer(sd), branch)
        torch.testing.assert_close(state["norm.weight"], sd["norm.weight"] + 1)
    with pytest.raises(CheckpointError, match="branch"):
        convert(dino(sd), "momentum")


def test_pos_embed_resampled_and_bad_shapes_named(ref, tmp_path):
    _, sd = ref
    torch.save(mae_official(sd), tmp_path / "a.pth")
    bigger = VisionTransformer(img_size=64, embed_dim=DIM, depth=DEPTH, num_heads=HEADS)
    report = load_encoder_state(bigger, tmp_path / "a.pth")
    assert report.resampled and bigger.pos_embed.shape == (1, 17, DIM)
    deeper = VisionTransformer(img_size=IMG, embed_dim=DIM, depth=DEPTH + 1, num_heads=HEADS)
    with pytest.raises(CheckpointError, match=r"missing .*blocks\.2\."):
        load_encoder_state(deeper, tmp_path / "a.pth")
    wider = VisionTransformer(img_size=IMG, embed_dim=DIM * 2, depth=DEPTH, num_heads=HEADS)
    with pytest.raises(CheckpointError, match=r"cls_token: file \(1, 1, 192\) vs model \(1, 1, 384\)"):
        load_encoder_state(wider, tmp_path / "a.pth")
    torch.save({"model": dict(sd) | {"stray.weight": torch.ones(1)}}, tmp_path / "b.pth")
    with pytest.raises(CheckpointError, match="unexpected 1: stray.weight"):
        load_encoder_state(VisionTransformer(img_size=IMG, embed_dim=DIM, depth=DEPTH, num_heads=HEADS),
                           tmp_path / "b.pth")


@pytest.mark.parametrize("to", ["mae_bench", "safetensors"])
def test_convert_ckpt_tool(ref, tmp_path, to):
    timm_model, sd = ref
    src = tmp_path / "hf.pth"
    torch.save(hf_vitmae(sd) | {"classifier.weight": rand(10, DIM), "classifier.bias": rand(10)}, src)
    out = tmp_path / ("out.safetensors" if to == "safetensors" else "out.pth")
    proc = run_tool("convert_ckpt.py", src, out, "--to", to, *(["--drop-head"] if to == "safetensors" else []),
                    check=True)
    assert "(hf)" in proc.stdout and "ignored 5" in proc.stdout
    ours = VisionTransformer(img_size=IMG, embed_dim=DIM, depth=DEPTH, num_heads=HEADS).eval()
    assert load_encoder_state(ours, out).format == ("mae-bench" if to == "mae_bench" else "timm")
    x = torch.randn(1, 3, IMG, IMG)
    torch.testing.assert_close(features(ours, x), features(timm_model, x), rtol=1e-4, atol=1e-4)
    assert ("head.weight" in load_file(out).get("model", {})) == (to == "mae_bench")
    if to == "safetensors":  # with --drop-head the plain state dict loads strictly into timm (num_classes=0)
        fresh = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=IMG, depth=DEPTH).eval()
        fresh.load_state_dict(load_file(out))
        torch.testing.assert_close(features(fresh, x), features(timm_model, x))


def test_bad_files_named(ref, tmp_path):
    _, sd = ref
    trunc = tmp_path / "trunc.pth"
    torch.save(mae_official(sd), trunc)
    trunc.write_bytes(trunc.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=f"{re.escape(str(trunc))}: truncated or corrupt"):
        load_file(trunc)
    with pytest.raises(CheckpointError, match="absent.pth does not exist"):
        load_file(tmp_path / "absent.pth")
    incomplete = tmp_path / "incomplete.pth"
    torch.save({"model": {k: v for k, v in sd.items() if not k.startswith("blocks.1.mlp")}}, incomplete)
    out = tmp_path / "out.pth"
    proc = run_tool("convert_ckpt.py", incomplete, out)
    assert proc.returncode == 2 and str(incomplete) in proc.stderr, proc.stderr
    assert re.search("missing .*blocks.1.mlp.fc1", proc.stderr) and not out.exists()


class Evil:
    """Unpickling this runs code that writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def test_code_running_pickle_refused_everywhere(tmp_path, synthetic_imagefolder):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"cls_token": torch.zeros(1)}, "epoch": 1, "x": Evil(marker)}, evil)
    with pytest.raises(CheckpointError, match=f"refusing {re.escape(str(evil))}"):
        load_file(evil)
    with pytest.raises(CheckpointError, match="refusing"):
        load_encoder_state(VisionTransformer(img_size=IMG, embed_dim=DIM, depth=DEPTH, num_heads=HEADS), evil)
    proc = run_tool("convert_ckpt.py", evil, tmp_path / "out.pth")
    assert proc.returncode == 2 and f"refusing {evil}" in proc.stderr
    proc = run_tool("pretrain.py", *TINY_MAE, "--device", "cpu", "--epochs", 1, "--batch_size", 4, "--data_path",
                    synthetic_imagefolder, "--output_dir", tmp_path / "pt", "--num_workers", 0, "--resume", evil,
                    "--max_iters_per_epoch", 1, "--no-tensorboard", "--vis_every", 0)
    assert proc.returncode == 2 and f"refusing {evil}" in proc.stderr, proc.stderr[-2000:]
    proc = run_tool("transfer.py", "--task", "finetune", "--ckpt", evil, "--model", "vit-t", "--data-root",
                    synthetic_imagefolder, "--work-dir", tmp_path / "ft", "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2 and f"refusing {evil}" in proc.stderr, proc.stderr[-2000:]
    proc = run_tool("transfer.py", "--task", "ade20k", "--ckpt", evil, "--device", "cpu", "--work-dir",
                    tmp_path / "seg", "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2 and f"refusing {evil}" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    assert not marker.exists()


class RelPosViT(VisionTransformer):
    """A target backbone that has BEiT's per-block relative position tables (window = its patch grid)."""

    def __init__(self, img_size: int):
        super().__init__(img_size=img_size, embed_dim=DIM, depth=DEPTH, num_heads=HEADS)
        side = 2 * self.patch_embed.grid_size[0] - 1
        for blk in self.blocks:
            blk.attn.relative_position_bias_table = torch.nn.Parameter(torch.zeros(side * side + 3, HEADS))


def test_beit_relative_tables_kept_where_supported(ref, tmp_path):
    _, sd = ref
    ckpt = beit(sd)
    for i in range(DEPTH):  # 2x2 grid at 32 px -> 3x3 offsets + 3 cls rows
        ckpt["model"][f"blocks.{i}.attn.relative_position_bias_table"] = torch.randn(12, HEADS)
    torch.save(ckpt, tmp_path / "beit.pth")
    same = RelPosViT(IMG)
    report = load_encoder_state(same, tmp_path / "beit.pth")
    torch.testing.assert_close(same.blocks[1].attn.relative_position_bias_table,
                               ckpt["model"]["blocks.1.attn.relative_position_bias_table"])
    assert len(report.dropped) == DEPTH * 3  # gammas and the index buffer: no place for them
    bigger = RelPosViT(64)  # 4x4 grid: the 3x3 offset table is resampled to 7x7, the 3 cls rows kept
    report = load_encoder_state(bigger, tmp_path / "beit.pth")
    table = bigger.blocks[0].attn.relative_position_bias_table
    assert table.shape == (52, HEADS) and any("relative_position_bias_table" in r for r in report.resampled)
    torch.testing.assert_close(table[-3:], ckpt["model"]["blocks.0.attn.relative_position_bias_table"][-3:])


def test_shared_beit_bias_copied_into_every_block(ref, tmp_path):
    """BEiT pretraining's shared relative position bias (``rel_pos_bias.*``) becomes every block's table, as BEiT's
    fine-tuning does; a target with no relative position bias is refused, naming why, instead of a zero pos_embed."""
    _, sd = ref
    ckpt = beit(sd)
    shared = torch.randn(12, HEADS)  # non-zero: a copy is told apart from the zero init
    for i in range(DEPTH):
        del ckpt["model"][f"blocks.{i}.attn.relative_position_bias_table"]
        del ckpt["model"][f"blocks.{i}.attn.relative_position_index"]
    ckpt["model"] |= {"rel_pos_bias.relative_position_bias_table": shared,
                      "rel_pos_bias.relative_position_index": torch.zeros(5, 5, dtype=torch.long)}
    torch.save(ckpt, tmp_path / "beit_shared.pth")
    target = RelPosViT(IMG)
    report = load_encoder_state(target, tmp_path / "beit_shared.pth")
    for blk in target.blocks:
        torch.testing.assert_close(blk.attn.relative_position_bias_table, shared)
    assert any("shared relative position bias copied" in n for n in report.notes)
    plain = VisionTransformer(img_size=IMG, embed_dim=DIM, depth=DEPTH, num_heads=HEADS)
    before = plain.pos_embed.detach().clone()
    for name in ("beit_shared.pth", "beit.pth"):
        if name == "beit.pth":  # per-block non-zero tables: refused as well
            per_block = beit(sd)
            for i in range(DEPTH):
                per_block["model"][f"blocks.{i}.attn.relative_position_bias_table"] = torch.randn(12, HEADS)
            torch.save(per_block, tmp_path / name)
        with pytest.raises(CheckpointError, match="no relative position bias table to take them: refusing"):
            load_encoder_state(plain, tmp_path / name)
    assert torch.equal(plain.pos_embed, before)  # nothing loaded


LABELS = {  # case: (pretrain_method the file tells, epochs completed); None = the file cannot tell
    "mae_official": ("mae", None), "mae_official_full": ("mae", None), "mae_bench": ("mae", 1),
    "deit": ("supervised", None), "timm_plain": (None, None), "mocov3": ("mocov3", 1), "dino": ("dino", 1),
    "beit": ("beit", None), "mmpretrain": (None, None), "hf_vit": (None, None), "hf_vitmae": (None, None),
    "hf_vit_classifier": (None, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_foreign_layouts_give_record_labels(case, ref, tmp_path):
    """The record's pretrain_method comes from the file's layout; where the layout cannot tell (plain timm, HF,
    mmpretrain) --pretrain-method is required, naming the flag. One read gives the labels and the sha256."""
    writer = CASES[case][0]
    method, epochs = LABELS[case]
    path = tmp_path / f"{case}.pth"
    torch.save(writer(ref[1]), path)
    ckpt = read_checkpoint(path)
    assert (trained_by(ckpt.obj, ckpt.format), epochs_completed(ckpt.obj, ckpt.format)) == (method, epochs)
    assert ckpt.sha256 == sha256(path) and "optimizer" not in ckpt.obj
    if method is None:
        with pytest.raises(TransferError, match=f"--pretrain-method is required: {re.escape(str(path))}"):
            read_init(TransferArgs("knn", str(path)))
        method = "supervised"
    init = read_init(TransferArgs("knn", str(path), pretrain_method="supervised" if LABELS[case][0] is None else None))
    assert init.labels() == dict(init=case, pretrain_method=method, pretrain_epochs=epochs)


def test_epochs_completed_follow_each_training_codes_epoch_field(ref, tmp_path):
    """Official MAE / BEiT / DeiT save the 0-based index of the finished epoch (resumed at epoch + 1); MoCo v3,
    DINO, mae-bench and mmengine save the count. A 200-epoch run is 200 in every case."""
    sd = ref[1]
    files = {"mae-official": mae_official(sd) | {"epoch": 199}, "timm": deit(sd) | {"epoch": 199},
             "mocov3": mocov3(sd) | {"epoch": 200}, "dino": dino(sd) | {"epoch": 200},
             "mae-bench": mae_bench(sd) | {"epoch": 200}, "beit": beit(sd) | {"epoch": 199},
             "mmpretrain": mmpretrain(sd) | {"meta": {"epoch": 200}}}
    for fmt, obj in files.items():
        torch.save(obj, tmp_path / "c.pth")
        ckpt = read_checkpoint(tmp_path / "c.pth")
        assert (ckpt.format, epochs_completed(ckpt.obj, ckpt.format)) == (fmt, 200)


def test_init_names_tell_checkpoints_of_one_run_apart(tmp_path):
    assert init_name(str(tmp_path / "mae_b" / "checkpoint-200.pth")) == "mae_b@checkpoint-200"
    assert init_name(str(tmp_path / "mae_b" / "checkpoint-last.pth")) == "mae_b@checkpoint-last"
    assert init_name(str(tmp_path / "dino_vitb16.pth")) == "dino_vitb16"
    assert init_name(None) == "random"
    with pytest.raises(TransferError, match="--ckpt is empty"):
        read_init(TransferArgs("knn", ""))
    with pytest.raises(CheckpointError, match="--ckpt .*absent.pth does not exist"):
        read_init(TransferArgs("knn", str(tmp_path / "absent.pth")))
    assert read_init(TransferArgs("knn", "random")).labels() == dict(init="random", pretrain_method="random",
                                                                    pretrain_epochs=None)
