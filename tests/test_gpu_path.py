"""The GPU path without mmcv's CUDA kernels: torchvision's RoIAlign / NMS behind mmcv's ops, forced on the
CPU with MAE_BENCH_TORCHVISION_OPS=1 and compared with mmcv's own CPU kernels; the GPU check's CPU smoke mode."""
import importlib
import json
import math
from pathlib import Path

import pytest
import torch
import torchvision

from conftest import run_tool

mmcv_ops = pytest.importorskip("mmcv.ops")
tv_ops = pytest.importorskip("backbones.torchvision_ops")


@pytest.fixture
def route():
    """Switch the installed proxy's route for one test, then restore what the import decided."""
    def use(name: str) -> None:
        tv_ops.install(name)
    yield use
    tv_ops.install()


def _boxes(n: int, size: float = 64.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 3 + 0.5
    return torch.cat([xy, xy + wh], dim=1), torch.rand(n, generator=g)


def _both(route, fn):
    route("off")
    ref = fn()
    route("all")
    return ref, fn()


def test_route_is_detected_from_the_compiled_extension(monkeypatch):
    monkeypatch.delenv(tv_ops.ENV, raising=False)
    has_cuda = mmcv_ops.get_compiling_cuda_version() != "not available"
    assert tv_ops.decide_route() == ("off" if has_cuda else "cuda")
    monkeypatch.setenv(tv_ops.ENV, "1")
    assert tv_ops.decide_route() == "all"
    monkeypatch.setenv(tv_ops.ENV, "yes")
    with pytest.raises(ValueError, match=tv_ops.ENV):
        tv_ops.decide_route()


@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("thr", [0.3, 0.7])
def test_nms_equals_mmcv(route, offset, thr):
    boxes, scores = _boxes(300)
    ref, got = _both(route, lambda: mmcv_ops.nms(boxes, scores, thr, offset=offset))
    assert 0 < len(ref[1]) < 300 and torch.equal(ref[1], got[1]) and torch.equal(ref[0], got[0])


def test_nms_keeps_mmcv_order_among_equal_scores(route):
    """An untrained RPN scores many boxes alike: the kept indices must follow mmcv's order of ties too."""
    boxes, scores = _boxes(500, seed=5)
    scores = (scores * 4).round() / 4  # five distinct values
    ref, got = _both(route, lambda: mmcv_ops.nms(boxes, scores, 0.5))
    assert torch.equal(ref[1], got[1])


@pytest.mark.parametrize("class_agnostic", [False, True])
def test_batched_nms_equals_mmcv(route, class_agnostic):
    boxes, scores = _boxes(400, seed=1)
    idxs = torch.randint(0, 5, (400,), generator=torch.Generator().manual_seed(2))
    cfg = dict(type="nms", iou_threshold=0.5)
    ref, got = _both(route, lambda: mmcv_ops.batched_nms(boxes, scores, idxs, cfg, class_agnostic=class_agnostic))
    assert torch.equal(ref[1], got[1]) and torch.equal(ref[0], got[0])


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_roi_align_forward_and_backward_equal_mmcv(route, aligned, sampling_ratio):
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 8, 32, 40, generator=g)
    boxes, _ = _boxes(50, size=120.0, seed=4)
    rois = torch.cat([torch.randint(0, 2, (50, 1), generator=g).float(), boxes], dim=1)
    grad = torch.randn(50, 8, 7, 7, generator=g)
    layer = mmcv_ops.RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=sampling_ratio, aligned=aligned)

    def run():
        x = feats.clone().requires_grad_(True)
        out = layer(x, rois)
        out.backward(grad)
        return out.detach(), x.grad

    (out_ref, grad_ref), (out_tv, grad_tv) = _both(route, run)
    assert out_ref.abs().sum() > 0 and grad_ref.abs().sum() > 0
    assert torch.equal(out_ref, out_tv)
    assert torch.equal(grad_ref, grad_tv), (grad_ref - grad_tv).abs().max()


def test_roi_align_on_channels_last_maps(route):
    """SimpleFPN's maps are channels-last strided; mmcv's raw kernel ignores strides, the installed proxy does not."""
    g = torch.Generator().manual_seed(6)
    feats = torch.randn(2, 16, 20, 24, generator=g).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not feats.is_contiguous()
    boxes, _ = _boxes(30, size=90.0, seed=7)
    rois = torch.cat([torch.randint(0, 2, (30, 1), generator=g).float(), boxes], dim=1)
    layer = mmcv_ops.RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=0, aligned=True)
    expect = torchvision.ops.roi_align(feats.contiguous(), rois, (7, 7), 0.25, 0, True)
    mmcv_fixed, tv = _both(route, lambda: layer(feats, rois))
    assert torch.equal(mmcv_fixed, expect) and torch.equal(tv, expect)
    raw = torch.zeros_like(expect)
    importlib.import_module("mmcv._ext").roi_align_forward(  # mmcv's compiled kernel, called directly
        feats, rois, raw, torch.zeros(0), torch.zeros(0), aligned_height=7, aligned_width=7, spatial_scale=0.25,
        sampling_ratio=0, pool_mode=1, aligned=True)
    assert not torch.allclose(raw, expect)  # the bug the proxy works around


def test_max_pool_roi_align_refuses_the_torchvision_route(route):
    route("all")
    layer = mmcv_ops.RoIAlign(7, spatial_scale=1.0, pool_mode="max")
    with pytest.raises(NotImplementedError, match="pool_mode='max'"):
        layer(torch.randn(1, 2, 8, 8), torch.tensor([[0.0, 1, 1, 6, 6]]))


# ---------------------------------------------------------------- whole models through tools/transfer.py
def _coco(tmp_path: Path, ckpt: Path, name: str, **env) -> tuple[dict, list[dict], set[str]]:
    log = tmp_path / f"{name}_ops.log"
    work, runs = tmp_path / name, tmp_path / f"{name}_runs"
    run_tool("transfer.py", "--task", "coco", "--ckpt", ckpt, "--work-dir", work, "--runs-dir", runs, "--device", "cpu",
             "--cfg-options", "train_cfg.max_iters=8", "default_hooks.logger.interval=1", check=True,
             OMP_NUM_THREADS="1",
             MAE_BENCH_MMCV_OPS_LOG=str(log), **env)
    (record,) = runs.glob("*.json")
    rows = [json.loads(line) for f in work.glob("*/vis_data/scalars.json") for line in f.read_text().splitlines()]
    losses = [{k: v for k, v in r.items() if k.startswith("loss")} | dict(iter=r["iter"]) for r in rows if "loss" in r]
    return json.loads(record.read_text())["metrics"], losses, set(log.read_text().split())


@pytest.mark.slow
def test_coco_quick_gives_the_same_losses_and_ap_with_torchvision_ops(tmp_path, tiny_mae_ckpt):
    """Mask R-CNN (configs/coco/quick.py, 8 iterations + test) with mmcv's CPU kernels and with the forced route."""
    metrics_ref, losses_ref, ops_ref = _coco(tmp_path, tiny_mae_ckpt, "mmcv", MAE_BENCH_TORCHVISION_OPS="0")
    metrics_tv, losses_tv, ops_tv = _coco(tmp_path, tiny_mae_ckpt, "tv", MAE_BENCH_TORCHVISION_OPS="1")
    # the extension calls the model makes in training and test are exactly the routed ones, both ways
    assert ops_ref == ops_tv == set(tv_ops.ROUTED), (ops_ref, ops_tv)
    assert len(losses_ref) == 8 and all(math.isfinite(r["loss"]) for r in losses_ref)
    assert losses_tv == losses_ref
    assert metrics_tv == metrics_ref


@pytest.mark.slow
def test_ade20k_quick_reaches_no_mmcv_kernel(tmp_path, tiny_mae_ckpt):
    """UperNet (configs/ade20k/quick.py, train + sliding-window test) with every mmcv.ops extension call logged."""
    log = tmp_path / "ops.log"
    imports = "['backbones.vit_seg','backbones.layer_decay','backbones.synthetic_seg','backbones.torchvision_ops']"
    run_tool("transfer.py", "--task", "ade20k", "--ckpt", tiny_mae_ckpt, "--work-dir", tmp_path / "work",
             "--runs-dir", tmp_path / "runs", "--device", "cpu", "--cfg-options", f"custom_imports.imports={imports}",
             "train_cfg.max_iters=4",
             check=True, OMP_NUM_THREADS="1", MAE_BENCH_MMCV_OPS_LOG=str(log), MAE_BENCH_TORCHVISION_OPS="1")
    assert log.is_file(), "backbones.torchvision_ops was not imported"
    assert set(log.read_text().split()) <= set(tv_ops.ROUTED), log.read_text()  # found empty: UperNet calls none
    assert list((tmp_path / "runs").glob("*.json"))


# ---------------------------------------------------------------- tools/gpu_check.sh up to the device
def _gpu_check(tmp_path: Path, *only: str) -> dict:
    out = tmp_path / "out"
    proc = run_tool("gpu_check.sh", out, "--smoke", "--device", "cpu", "--workers", 2, "--budget_s", 1500,
                    "--only", *only, OMP_NUM_THREADS="1", WORK=str(tmp_path / "work"))
    assert (out / "gpu_check.json").is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert proc.returncode == 0 and report["passed"], json.dumps(report["steps"], indent=1)[-3000:]
    assert list(report["steps"]) == list(only)
    md = (out / "gpu_check.md").read_text()
    assert all(f"| {name} | pass |" in md for name in only), md
    return report


@pytest.mark.slow  # in make test (CI), not in the quick loop of make test-fast
def test_gpu_check_smoke_pretraining_and_classification(tmp_path):
    r = _gpu_check(tmp_path, "matmul", "pretrain_eager", "pretrain_compile", "pretrain_jpeg",
                   "pretrain_jpeg_gpu_decode", "finetune", "linprobe")
    steps = {k: v["figures"] for k, v in r["steps"].items()}
    assert steps["matmul"]["tflops"] > 0
    for name in ("pretrain_eager", "pretrain_compile"):
        assert steps[name]["images_per_s"] > 0 and 0 < steps[name]["mfu"] < 2  # on the CPU's own matmul peak
    tensor_ips = steps["pretrain_eager"]["images_per_s"]
    for name, on_device in (("pretrain_jpeg", False), ("pretrain_jpeg_gpu_decode", True)):
        jpeg = steps[name]  # the pretrainer's loader (fast pipeline), decoded by the workers or on the device
        assert jpeg["loader_workers"] == 2 and jpeg["jpegs"] == 24 and jpeg["gpu_decode"] is on_device
        assert jpeg["ratio_files_to_tensors"] == pytest.approx(jpeg["images_per_s"] / tensor_ips)
    feeds = {k: steps[k]["ratio_files_to_tensors"] for k in ("pretrain_jpeg", "pretrain_jpeg_gpu_decode")}
    assert r["goals"]["jpeg_ratio"]["value"] == max(feeds.values())
    assert r["goals"]["jpeg_ratio"]["step"] == max(feeds, key=feeds.get)
    assert steps["finetune"]["iterations"] == steps["linprobe"]["iterations"] == 2
    assert r["goals"]["mfu"]["best"] == max(steps["pretrain_eager"]["mfu"], steps["pretrain_compile"]["mfu"])
    assert r["environment"]["torch"] == torch.__version__


@pytest.mark.slow
def test_gpu_check_smoke_dense_transfer(tmp_path):
    r = _gpu_check(tmp_path, "coco", "ade20k")
    for name in ("coco", "ade20k"):
        figs = r["steps"][name]["figures"]
        assert figs["iterations"] == 2 and figs["s_per_iter"] > 0 and math.isfinite(figs["loss"]), figs
        assert figs["test"], figs  # the test pass ran and reported its metrics
