#!/usr/bin/env python
"""One GPU check of every command (docs/install.md); each step runs in its own process with a time limit.

  bash tools/gpu_check.sh                                          # on one H100/H200, under 8 min, no network
  python tools/gpu_check.py --out results/perf --device cuda       # what gpu_check.sh runs
  python tools/gpu_check.py --smoke --device cpu --out /tmp/check  # tiny sizes on the CPU (tests/test_gpu_path.py)

Steps: a large bf16 matmul (the MFU peak, docs/install.md: 770-800 TFLOP/s on both card kinds); MAE ViT-B/16
pretraining steps in bf16, eager and ``torch.compile`` (images/s, peak memory, MFU against that peak); the same from
JPEG files (~500x375, generated first) through the pretrainer's own loader, the fast pipeline (uint8 crops from the
workers, normalised on the device), and again with the JPEGs decoded on the device in batches (``--gpu_decode``)
(images/s from files / from tensors, loader workers); COCO Mask R-CNN ViTDet-B (``configs/coco/mask_rcnn_vit_b.py``,
1024 px, AMP, 20 iterations and a test pass on the synthetic COCO layout) and ADE20K UperNet ViT-B
(``configs/ade20k/upernet_vit_b.py``, 512 px, 20 iterations and the sliding-window test) through ``tools/transfer.py``
(s/iteration and memory from mmengine's log); fine-tuning and linear probing ViT-B at 224 px, 20 iterations each.
Writes ``OUT/gpu_check.json`` (device, versions, every figure, every pass/fail) and ``OUT/gpu_check.md``. Exit status
0 only when every step passed.
Goals (docs/install.md), reported, not enforced: MFU >= 50% (bf16, ViT-B/16), JPEG feed >= 90% of the tensor rate.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARK = "GPU_CHECK_RESULT "
STEPS = {  # name -> time limit in seconds on the GPU (the sum of typical times stays under 8 min)
    "matmul": 45, "pretrain_eager": 60, "pretrain_compile": 120, "pretrain_jpeg": 120, "pretrain_jpeg_gpu_decode": 90,
    "coco": 150, "ade20k": 120, "finetune": 60, "linprobe": 60,
}
SIZES = {
    "full": dict(matmul=8192, model="mae_vit_base_patch16", img=224, batch=256, warmup=5, iters=20, jpegs=3000,
                 jpeg_size=(500, 375), iters_mm=20, cls_model="vit-b",
                 cls_batch=dict(finetune=32, linprobe=128)),
    "smoke": dict(matmul=256, model="mae_vit_tiny_patch16", img=64, batch=4, warmup=1, iters=3, jpegs=24,
                  jpeg_size=(100, 75), iters_mm=2, cls_model="vit-t",
                  cls_batch=dict(finetune=4, linprobe=4)),
}
GOALS = dict(mfu=0.50, jpeg_ratio=0.90)


# ---------------------------------------------------------------- steps (each in its own process)
def _sync(device: str) -> None:
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_mem_gib(device: str) -> float | None:
    import torch
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def step_matmul(a) -> dict:
    import torch
    n = a.size["matmul"]
    x = torch.randn(n, n, device=a.device, dtype=torch.bfloat16)
    y = torch.randn(n, n, device=a.device, dtype=torch.bfloat16)
    for _ in range(3):
        x @ y
    _sync(a.device)
    iters, t0 = 20, time.perf_counter()
    for _ in range(iters):
        x @ y
    _sync(a.device)
    dt = (time.perf_counter() - t0) / iters
    return dict(n=n, tflops=2 * n**3 / dt / 1e12)


def _mae_setup(a, compile_: bool):
    import torch

    from mae_bench.engine.optim import adamw, param_groups
    from mae_bench.models import create_mae
    from mae_bench.perf import mae_train_flops
    torch.manual_seed(0)
    model = create_mae(a.size["model"], img_size=a.size["img"]).to(a.device)
    flops = mae_train_flops(model)
    opt = adamw(param_groups(model, 0.05), lr=1e-4, betas=(0.9, 0.95))
    # --smoke: dynamo's "eager" backend checks that the model compiles without minutes of CPU code generation
    fwd = torch.compile(model, backend="eager" if a.smoke else "inductor") if compile_ else model

    def train_step(imgs):
        with torch.autocast(torch.device(a.device).type, dtype=torch.bfloat16):
            loss = fwd(imgs, mask_ratio=0.75)[0]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return train_step, flops


def _pretrain_figures(a, images: int, seconds: float, flops: float) -> dict:
    ips = images / seconds
    out = dict(model=a.size["model"], batch=a.size["batch"], images_per_s=ips, step_s=a.size["batch"] / ips,
               peak_mem_gib=_peak_mem_gib(a.device), tflops=flops * ips / 1e12)
    if a.peak:
        out["mfu"] = out["tflops"] / a.peak
    return out


def _pretrain_tensors(a, compile_: bool) -> dict:
    import torch
    train_step, flops = _mae_setup(a, compile_)
    imgs = torch.randn(a.size["batch"], 3, a.size["img"], a.size["img"], device=a.device)
    for _ in range(a.size["warmup"]):
        train_step(imgs)
    _sync(a.device)
    t0 = time.perf_counter()
    for _ in range(a.size["iters"]):
        train_step(imgs)
    _sync(a.device)
    return _pretrain_figures(a, a.size["iters"] * a.size["batch"], time.perf_counter() - t0, flops) | dict(
        compile=compile_)


def step_pretrain_eager(a) -> dict:
    return _pretrain_tensors(a, False)


def step_pretrain_compile(a) -> dict:
    return _pretrain_tensors(a, True)


def _write_jpeg(args) -> None:
    import numpy as np
    from PIL import Image
    path, i, (w, h) = args
    rng = np.random.default_rng(i)
    low = rng.integers(0, 256, (h // 25 + 1, w // 25 + 1, 3), dtype=np.uint8)  # smooth colour fields + noise
    img = np.asarray(Image.fromarray(low).resize((w, h), Image.BICUBIC), dtype=np.int16)
    img = np.clip(img + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path, quality=90)


def make_jpegs(root: Path, n: int, size: tuple[int, int], workers: int) -> Path:
    """n JPEG files of ``size`` (w, h) under root/train/0/ (ImageFolder layout), written once."""
    from multiprocessing import Pool
    cls = root / "train" / "0"
    if len(list(cls.glob("*.jpg"))) < n:
        cls.mkdir(parents=True, exist_ok=True)
        with Pool(workers) as pool:
            pool.map(_write_jpeg, [(cls / f"{i:05d}.jpg", i, size) for i in range(n)], chunksize=16)
    return root


def _pretrain_jpeg(a, gpu_decode: bool) -> dict:
    """MAE pretraining fed from JPEG files by the pretrainer's own loader (``data.pipeline.pretrain_loader``, the fast
    pipeline: uint8 crops from the workers, normalised on the device by ``to_model_input``); with ``gpu_decode`` the
    workers only read the files and the JPEGs are decoded in batches on the device (``--gpu_decode``)."""
    import torch

    from mae_bench.data.fast import to_model_input
    from mae_bench.data.pipeline import pretrain_loader
    workers = a.workers or min(16, os.cpu_count() or 1)
    t0 = time.perf_counter()
    root = make_jpegs(Path(a.work) / "jpeg", a.size["jpegs"], a.size["jpeg_size"], workers)
    gen_s = time.perf_counter() - t0
    loader = pretrain_loader(str(root), a.size["img"], a.size["batch"], workers,
                             pin_memory=a.device.startswith("cuda"), raw=gpu_decode)
    device = torch.device(a.device)
    train_step, flops = _mae_setup(a, a.compile_jpeg)
    done, timed, t_start, need, epoch = 0, 0, None, a.size["warmup"] + a.size["iters"], 0
    while done < need:
        loader.sampler.set_epoch(epoch)
        epoch += 1
        for imgs, _ in loader:
            train_step(to_model_input(imgs, device, a.size["img"]))
            done += 1
            if done == a.size["warmup"]:
                _sync(a.device)
                t_start = time.perf_counter()
            elif done > a.size["warmup"]:
                timed += 1
            if done >= need:
                break
    _sync(a.device)
    out = _pretrain_figures(a, timed * a.size["batch"], time.perf_counter() - t_start, flops)
    out |= dict(loader_workers=workers, jpegs=len(loader.dataset), jpeg_size=list(a.size["jpeg_size"]),
                generate_s=gen_s, compile=a.compile_jpeg, pipeline="fast", gpu_decode=gpu_decode)
    if a.tensor_ips:
        out["tensor_images_per_s"] = a.tensor_ips
        out["ratio_files_to_tensors"] = out["images_per_s"] / a.tensor_ips
    return out


def step_pretrain_jpeg(a) -> dict:
    return _pretrain_jpeg(a, False)


def step_pretrain_jpeg_gpu_decode(a) -> dict:
    return _pretrain_jpeg(a, True)


def _transfer(a, task: str, extra: list[str]) -> Path:
    work = Path(a.work) / task
    cmd = [sys.executable, str(REPO / "tools/transfer.py"), "--task", task, "--ckpt", "random", "--device", a.device,
           "--work-dir", str(work), "--runs-dir", str(Path(a.work) / "runs"), *extra]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True)
    (Path(a.work) / f"{task}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"tools/transfer.py --task {task} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return work


def _mm_figures(work: Path) -> dict:
    """s/iteration (mean of mmengine's logged 'time', first window dropped) and peak memory (MiB) from the log."""
    files = sorted(work.glob("*/vis_data/scalars.json"))
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    train = [r for r in rows if "time" in r and "loss" in r]
    if not train:
        raise RuntimeError(f"no training rows in {work}/*/vis_data/scalars.json")
    times = [r["time"] for r in (train[1:] or train)]
    out = dict(s_per_iter=sum(times) / len(times), iterations=train[-1].get("iter"), loss=train[-1]["loss"])
    mem = [r["memory"] for r in train if "memory" in r]
    if mem:
        out["peak_mem_mib"] = max(mem)
    return out


def _test_metrics(a, task: str) -> dict:
    """The metrics of the test pass, from the run's result record (tools/transfer.py writes it after success)."""
    records = [json.loads(f.read_text()) for f in sorted((Path(a.work) / "runs").glob("*.json"))]
    return [r["metrics"] for r in records if r.get("task") == task][-1]


def _mm_options(a, every: int) -> list[str]:
    n = a.size["iters_mm"]
    return [f"train_cfg.max_iters={n}", f"train_cfg.val_interval={n}", f"train_cfg.val_begin={n + 1}",
            f"default_hooks.logger.interval={every}", f"default_hooks.checkpoint.interval={n}"]


def step_coco(a) -> dict:
    if a.smoke:
        cfg, opts = "configs/coco/quick.py", []
    else:  # the recipe as it is (1024 px LSJ, 8 images per GPU, AMP) on 40 synthetic 640 px COCO-layout scenes
        cfg, opts = "configs/coco/mask_rcnn_vit_b.py", ["synthetic.size=640"]
    work = _transfer(a, "coco", ["--config", cfg, "--cfg-options", *_mm_options(a, 1 if a.smoke else 5), *opts])
    return _mm_figures(work) | dict(config=cfg, test=_test_metrics(a, "coco"))


def step_ade20k(a) -> dict:
    if a.smoke:
        cfg, opts = "configs/ade20k/quick.py", []
    else:
        cfg, opts = "configs/ade20k/upernet_vit_b.py", ["scene_size=640"]  # the recipe (512 crops, AMP) as it is
    work = _transfer(a, "ade20k", ["--config", cfg, "--cfg-options", *_mm_options(a, 1 if a.smoke else 5), *opts])
    return _mm_figures(work) | dict(config=cfg, test=_test_metrics(a, "ade20k"))


def _classification(a, task: str) -> dict:
    n, bs = a.size["iters_mm"], a.size["cls_batch"][task]
    # the recipe's effective batch would take more than n iterations: one accumulation of n iterations instead
    model = (["--config", f"configs/{task}/quick.py"] if a.smoke else
             ["--model", a.size["cls_model"], "--cfg-options", f"effective_batch={n * bs}"])
    work = _transfer(a, task, [*model, "--epochs", "1", "--batch_size", str(bs), "--cfg-options",
                               f"max_iters_per_epoch={n}", f"synthetic_num={max(n * bs, 64)}"])
    last = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()][-1]
    iters = last.get("iterations") or n
    return dict(model=a.size["cls_model"], batch=bs, iterations=iters, s_per_iter=last["epoch_time_s"] / iters,
                images_per_s=last.get("images_per_s"))


def step_finetune(a) -> dict:
    return _classification(a, "finetune")


def step_linprobe(a) -> dict:
    return _classification(a, "linprobe")


# ---------------------------------------------------------------- orchestration
def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", MPLBACKEND="Agg")


def run_step(name: str, args, limit: float, **kw) -> dict:
    """Run one step in a fresh process under ``limit`` seconds -> {passed, seconds, figures | error}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--step", name, "--device", args.device, "--work", args.work]
    cmd += ["--smoke"] if args.smoke else []
    for k, v in kw.items():
        if v is not None:
            cmd += [f"--{k}", str(v)]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return dict(passed=False, seconds=round(time.time() - t0, 1), error=f"timed out after {limit:.0f} s")
    lines = [line[len(MARK):] for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        return dict(passed=False, seconds=round(time.time() - t0, 1),
                    error=f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}")
    return dict(passed=True, seconds=round(time.time() - t0, 1), figures=json.loads(lines[-1]))


def environment(device: str) -> dict:
    import torch
    info = dict(host=platform.node(), python=platform.python_version(), torch=torch.__version__,
                cuda=torch.version.cuda, device=device, cpu_count=os.cpu_count())
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name()
        info["gpu_memory_gib"] = torch.cuda.get_device_properties(0).total_memory / 2**30
    else:
        info["device_name"] = platform.processor() or "cpu"
    try:
        import mmcv.ops
        info["mmcv"] = mmcv.__version__
        info["mmcv_ops_cuda"] = mmcv.ops.get_compiling_cuda_version()
    except Exception as e:  # reported, and the COCO / ADE20K steps will fail with the reason
        info["mmcv"] = f"unavailable: {e}"
    return info


def run_all(args) -> dict:
    scale = 1.0 if not args.smoke else args.smoke_scale
    results, deadline = {}, time.time() + args.budget_s
    kw = dict(peak=None, tensor_ips=None)
    for name, limit in STEPS.items():
        if args.only and name not in args.only:
            continue
        left = deadline - time.time()
        if left < 5:
            results[name] = dict(passed=False, seconds=0, error=f"not run: the {args.budget_s:.0f} s budget was spent")
            continue
        results[name] = r = run_step(name, args, min(limit * scale, left), **kw)
        print(f"[gpu_check] {name}: {'passed' if r['passed'] else 'FAILED'} in {r['seconds']} s "
              f"{json.dumps(r.get('figures', r.get('error', '')))[:300]}", flush=True)
        figs = r.get("figures", {})
        if name == "matmul" and "tflops" in figs:
            kw["peak"] = figs["tflops"]
        if name in ("pretrain_eager", "pretrain_compile") and "images_per_s" in figs:
            if (name == "pretrain_compile") == args.compile_jpeg or kw["tensor_ips"] is None:
                kw["tensor_ips"] = figs["images_per_s"]
    return results


def goals(results: dict) -> dict:
    mfu = [results.get(k, {}).get("figures", {}).get("mfu") for k in ("pretrain_eager", "pretrain_compile")]
    feeds = {k: results.get(k, {}).get("figures", {}).get("ratio_files_to_tensors")
             for k in ("pretrain_jpeg", "pretrain_jpeg_gpu_decode")}
    feeds = {k: v for k, v in feeds.items() if v is not None}
    feed = max(feeds, key=feeds.get, default=None)  # the better of CPU and GPU decode
    ratio = feeds.get(feed)
    best = max([m for m in mfu if m is not None], default=None)
    return dict(mfu=dict(goal=GOALS["mfu"], best=best, met=best is not None and best >= GOALS["mfu"]),
                jpeg_ratio=dict(goal=GOALS["jpeg_ratio"], value=ratio, step=feed,
                                met=ratio is not None and ratio >= GOALS["jpeg_ratio"]))


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# GPU check: {env['device_name']}", "",
             f"`{report['command']}`; torch {env['torch']} (CUDA {env['cuda']}), mmcv {env.get('mmcv')} "
             f"(ops CUDA: {env.get('mmcv_ops_cuda')}), {env['cpu_count']} CPUs, {report['finished']}; "
             f"all passed: **{report['passed']}** in {report['wall_s']:.0f} s.", "",
             "| step | result | s | figures |", "| --- | --- | --- | --- |"]
    for name, r in report["steps"].items():
        figs = r.get("figures") or {"error": r.get("error", "")[:200].replace("\n", " ").replace("|", "/")}
        flat = {}
        for k, v in figs.items():
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()} if isinstance(v, dict) else {k: v})
        text = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in flat.items())
        lines.append(f"| {name} | {'pass' if r['passed'] else 'FAIL'} | {r['seconds']} | {text} |")
    g = report["goals"]
    mfu, feed = g["mfu"], g["jpeg_ratio"]
    lines += ["", f"Goals: MFU >= {mfu['goal']:.0%}: best {_pct(mfu['best'])} ({'met' if mfu['met'] else 'not met'}); "
                  f"JPEG feed >= {feed['goal']:.0%} of tensors: {_pct(feed['value'])} ({feed.get('step') or '-'}) "
                  f"({'met' if feed['met'] else 'not met'}).", ""]
    return "\n".join(lines)


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/perf", help="where gpu_check.json and gpu_check.md go")
    p.add_argument("--work", default="/tmp/mae_bench_gpu_check", help="scratch: JPEGs, synthetic sets, work dirs")
    p.add_argument("--device", default="cuda")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (CPU): checks the script, not the machine")
    p.add_argument("--smoke_scale", type=float, default=3.0, help="--smoke: time limits x this (a slow CPU)")
    p.add_argument("--budget_s", type=float, default=480, help="all steps together (8 min on the GPU)")
    p.add_argument("--only", nargs="+", choices=list(STEPS), help="run only these steps")
    p.add_argument("--workers", type=int, help="JPEG loader workers (default: min(16, CPUs))")
    p.add_argument("--compile_jpeg", action=argparse.BooleanOptionalAction, default=None,
                   help="JPEG step with torch.compile (default: on the GPU, off with --smoke)")
    p.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)
    p.add_argument("--peak", type=float, help=argparse.SUPPRESS)
    p.add_argument("--tensor_ips", type=float, help=argparse.SUPPRESS)
    from mae_bench.cli import accept_both_spellings  # lazily, as the steps: the parent only orchestrates

    args = accept_both_spellings(p).parse_args(argv)
    args.size = SIZES["smoke" if args.smoke else "full"]
    if args.compile_jpeg is None:
        args.compile_jpeg = not args.smoke
    return args


def main(argv=None) -> int:
    args = parse(argv)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.step:
        print(MARK + json.dumps(globals()[f"step_{args.step}"](args)), flush=True)
        return 0
    t0, env = time.time(), environment(args.device)
    steps = run_all(args)
    report = dict(command=" ".join(["tools/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]),
                  environment=env, steps=steps, goals=goals(steps), passed=all(r["passed"] for r in steps.values()),
                  wall_s=time.time() - t0, finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "gpu_check.md").write_text(markdown(report))
    print(f"[gpu_check] {'all passed' if report['passed'] else 'FAILED'}; wrote {out}/gpu_check.json and .md")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
