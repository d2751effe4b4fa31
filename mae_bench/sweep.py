"""Ablation sweeps (docs/ablations.md): a sweep config -> pretraining variants -> their transfers, each a submitit job.

A sweep config (``configs/sweeps/*.py``) names:

* ``name``; ``pretrain_config`` (a ``configs/pretrain`` file) and ``pretrain`` (field overrides): the base recipe,
  which is the sweep's default point;
* ``axes``: axis -> values. A list sets the ``PretrainConfig`` field of the axis' name (``decoder_depth=[1, 2, 8]``);
  a dict maps value labels to field overrides (``target=dict(pca=dict(target="pca"), ...)``). Every value whose
  config equals the base is the default point: one pretraining shared by every axis (the paper's gray rows);
* ``along_run`` (optional): ``dict(axis="epochs", values=[...])``: one pretraining of the largest value, transferred
  from its ``checkpoint-<value>.pth`` (Figure 7);
* ``protocols``: name -> ``dict(task=..., config=..., model=..., epochs=..., options=[...])`` (a tools/transfer.py
  run of each checkpoint per seed); ``seeds``: the transfer seeds;
* ``data``: ``dict(pretrain=PATH, transfer=PATH)``, or ``synthetic=dict(num=, size=, pool=, seed=)`` to write the
  demo's synthetic scenes once into the sweep folder;
* ``resources`` (``dict(pretrain=..., transfer=...)``: submitit parameters, e.g. ``nodes``, ``gpus_per_node``,
  ``tasks_per_node``, ``timeout_min``, ``slurm_partition``) and ``estimate`` (images and achieved TFLOP/s for the
  GPU-hour estimate).

``plan`` expands it into jobs (pretraining first, each transfer after its checkpoint); ``run_sweep`` submits them
through ``submitit.AutoExecutor`` (Slurm on a cluster, ``cluster="local"`` on one machine: the same code path),
skipping what is finished on disk: a pretraining whose ``checkpoint-last.pth`` holds all its epochs, a transfer
whose record (``sweep_job``) is in the runs folder. An unfinished pretraining resumes from its checkpoint
(``--resume auto``). Records carry ``sweep``, ``sweep_job``, ``sweep_variant``, ``sweep_axis``, ``sweep_value``
and ``sweep_points`` (every (axis, value) the run stands for: the shared default stands for one per axis).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import load_config_file
from .errors import ConfigError
from .methods.base import PretrainConfig
from .models.mae_vit import DECODER_DEFAULTS, DVAE_REFUSAL
from .models.sizes import model_size
from .perf import _vit_forward_macs, mae_flops
from .results import load_records

log = logging.getLogger("mae_bench.sweep")

DEFAULT_LABEL = "default"
# GPU-hour estimate: sustained bf16 training throughput of one GPU. results/perf: ViT-B MAE at 41% MFU of the
# 790 TFLOP/s measured on an H200 -> ~320 TFLOP/s; a sweep config can set its own (estimate.achieved_tflops)
ACHIEVED_TFLOPS = 320.0
IMAGENET_TRAIN, IMAGENET_VAL = 1281167, 50000
SWEEP_KEYS = {"name", "pretrain_config", "pretrain", "axes", "along_run", "protocols", "seeds", "data", "resources",
              "estimate", "max_parallel", "threads_per_job"}


@dataclass
class Variant:
    """One pretraining run of the sweep."""
    id: str
    config: dict  # PretrainConfig fields
    points: list[tuple[str, str]] = field(default_factory=list)  # (axis, value label) it stands for
    ckpts: dict[str, str] = field(default_factory=dict)  # value label -> checkpoint file (along_run); else last
    refused: str | None = None  # why it cannot run here (e.g. --target dvae)

    @property
    def output_dir(self) -> Path:
        return Path(self.config["output_dir"])


@dataclass
class TransferJob:
    id: str
    variant: Variant
    protocol: str
    seed: int
    ckpt: Path
    points: list[tuple[str, str]]
    args: dict  # TransferArgs fields


@dataclass
class Sweep:
    name: str
    folder: Path
    variants: list[Variant]
    transfers: list[TransferJob]
    spec: dict

    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"


def load_sweep(path: str | Path) -> dict:
    spec = load_config_file(path)
    unknown = sorted(set(spec) - SWEEP_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown sweep key(s) {unknown}; known: {sorted(SWEEP_KEYS)}")
    for key in ("name", "axes", "protocols"):
        if key not in spec:
            raise ConfigError(f"{path}: the sweep config needs {key!r}")
    spec["_path"] = str(path)
    return spec


def _resolved(cfg: dict) -> dict:
    """The fields that decide a pretraining's result, with the model's decoder defaults filled in."""
    out = {k: v for k, v in cfg.items() if k not in ("output_dir", "log_dir", "resume")}
    for k, v in DECODER_DEFAULTS.items():
        out[k] = v if out.get(k) is None else out[k]
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in text)


def axis_values(axis: str, values) -> dict[str, dict]:
    """An axis' values as label -> field overrides (a list sets the field named like the axis)."""
    if isinstance(values, dict):
        return {str(label): dict(o) for label, o in values.items()}
    if isinstance(values, (list, tuple)):
        if axis not in {f.name for f in dataclasses.fields(PretrainConfig)}:
            raise ConfigError(f"sweep axis {axis!r}: a list of values needs a PretrainConfig field of that name; "
                              f"give a dict label -> overrides instead")
        return {str(v): {axis: v} for v in values}
    raise ConfigError(f"sweep axis {axis!r}: values must be a list or a dict, got {type(values).__name__}")


def plan(spec: dict, folder: str | Path) -> Sweep:
    """Every pretraining variant (the default shared) and every transfer of the sweep, in submission order."""
    folder = Path(folder)
    base = dict(load_config_file(spec["pretrain_config"])) if spec.get("pretrain_config") else {}
    base.update(spec.get("pretrain", {}))
    data = spec.get("data", {})
    if "synthetic" in data:
        base.setdefault("data_path", str(folder / "data" / "pool"))
    elif data.get("pretrain"):
        base.setdefault("data_path", data["pretrain"])
    base_key = _resolved(PretrainConfig(**base).__dict__)
    variants: dict[str, Variant] = {}

    def variant_for(overrides: dict, label_id: str) -> Variant:
        cfg = {**base, **overrides}
        try:
            resolved = _resolved(PretrainConfig(**cfg).__dict__)
        except TypeError as e:
            raise ConfigError(f"{spec['_path']}: {label_id}: {e}") from None
        diff = {k: v for k, v in resolved.items() if base_key.get(k) != v}
        vid = DEFAULT_LABEL if not diff else _slug(",".join(f"{k}={diff[k]}" for k in sorted(diff)))
        if vid not in variants:
            cfg["output_dir"] = str(folder / "pretrain" / vid)
            variants[vid] = Variant(vid, cfg, refused=DVAE_REFUSAL if cfg.get("target") == "dvae" else None)
        return variants[vid]

    for axis, values in spec["axes"].items():
        for label, overrides in axis_values(axis, values).items():
            variant_for(overrides, f"{axis}={label}").points.append((axis, label))
    along = spec.get("along_run")
    if along:
        axis, values = along["axis"], sorted(int(v) for v in along["values"])
        run = Variant(f"{axis}-run-{values[-1]}", {**base, "epochs": values[-1],
                                                  "save_every": math.gcd(*values)})
        run.config["output_dir"] = str(folder / "pretrain" / run.id)
        for v in values:
            run.points.append((axis, str(v)))
            run.ckpts[str(v)] = f"checkpoint-{v}.pth"
        variants[run.id] = run
    transfers = []
    for v in variants.values():
        ckpt_points: dict[str, list] = {}
        for axis, label in v.points:
            ckpt_points.setdefault(v.ckpts.get(label, "checkpoint-last.pth"), []).append((axis, label))
        for ckpt, points in ckpt_points.items():
            for proto, p in spec["protocols"].items():
                for seed in (int(s) for s in p.get("seeds", spec.get("seeds", [0]))):
                    tag = "" if ckpt == "checkpoint-last.pth" else f"@{Path(ckpt).stem}"
                    jid = f"{v.id}{tag}:{proto}:s{seed}"
                    transfers.append(TransferJob(jid, v, proto, seed, v.output_dir / ckpt, points,
                                                 transfer_args(spec, folder, v, proto, p, seed, ckpt, jid, points)))
    return Sweep(spec["name"], folder, list(variants.values()), transfers, spec)


def transfer_args(spec, folder: Path, v: Variant, proto: str, p: dict, seed: int, ckpt: str, jid: str,
                  points: list) -> dict:
    data = spec.get("data", {})
    data_root = str(folder / "data") if "synthetic" in data else data.get("transfer")
    axis, value = (points[0] if len(points) == 1 else (DEFAULT_LABEL, DEFAULT_LABEL))
    tag = "" if ckpt == "checkpoint-last.pth" else f"@{Path(ckpt).stem}"
    extra = dict(sweep=spec["name"], sweep_job=jid, sweep_variant=v.id, sweep_axis=axis, sweep_value=value,
                 sweep_points=[list(x) for x in points])
    from .transfer import TransferArgs
    known = {f.name for f in dataclasses.fields(TransferArgs)} - {"ckpt", "runs_dir", "record_extra", "seed", "init"}
    unknown = sorted(set(p) - known - {"seeds", "options"})
    if unknown:
        raise ConfigError(f"{spec['_path']}: protocol {proto!r}: unknown key(s) {unknown}; known: "
                          f"{sorted(known | {'seeds', 'options'})}")
    args = {k: val for k, val in p.items() if k in known}
    args.update(task=p.get("task", proto), ckpt=str(v.output_dir / ckpt), data_root=p.get("data_root", data_root),
                work_dir=str(folder / "transfer" / _slug(jid)), runs_dir=str(folder / "runs"), seed=seed,
                cfg_options=list(p.get("options", [])), init=f"{spec['name']}:{v.id}{tag}", pretrain_method="mae",
                record_extra=extra)
    return {k: val for k, val in args.items() if val is not None}


# ---------------------------------------------------------------- what is finished on disk

def pretrain_done(v: Variant) -> bool:
    """Its ``checkpoint-last.pth`` holds all its epochs (read memory-mapped, weights only)."""
    import torch
    path = v.output_dir / "checkpoint-last.pth"
    if not path.is_file():
        return False
    try:
        epoch = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("epoch", 0)
    except Exception:  # a file cut by a kill: not finished (the run resumes from the numbered checkpoints or anew)
        return False
    return int(epoch) >= int(v.config.get("epochs", PretrainConfig.epochs))


def finished_transfers(runs_dir: Path) -> set[str]:
    """The ``sweep_job`` of every record in ``runs_dir``."""
    if not runs_dir.is_dir():
        return set()
    return {r["sweep_job"] for r in load_records(runs_dir) if "sweep_job" in r}


# ---------------------------------------------------------------- the GPU-hour estimate

def _encoder_flops(model: str, input_size: int, patch: int | None) -> float:
    s = model_size(model)
    p = patch or s.patch_size
    length = (input_size // p) ** 2
    return 2 * (length * 3 * p * p * s.embed_dim + _vit_forward_macs(s.embed_dim, s.depth, length + 1))


def pretrain_flops(cfg: dict, train_images: int = IMAGENET_TRAIN) -> float:
    """Training FLOPs of one pretraining run (analytic, ``perf.mae_flops``)."""
    c = PretrainConfig(**cfg)
    s = model_size(c.model)
    p = c.patch_size or s.patch_size
    per_image = mae_flops(s.embed_dim, s.depth, c.decoder_embed_dim or DECODER_DEFAULTS["decoder_embed_dim"],
                          c.decoder_depth or DECODER_DEFAULTS["decoder_depth"], (c.input_size // p) ** 2, p,
                          c.mask_ratio, c.encoder_mask_token, c.pca_dim if c.target == "pca" else None)
    return per_image * train_images * c.epochs


def images(spec: dict) -> tuple[int, int]:
    """(train, val) images of the estimate (default: ImageNet-1K)."""
    est = spec.get("estimate", {})
    return int(est.get("train_images", IMAGENET_TRAIN)), int(est.get("val_images", IMAGENET_VAL))


def transfer_flops(spec: dict, job: TransferJob) -> float:
    """fine-tune: 3 x forward per image and epoch; linear probe: 1 x forward (frozen encoder); k-NN and other
    frozen signals: one forward of train + val."""
    cfg = PretrainConfig(**job.variant.config)
    p = spec["protocols"][job.protocol]
    fwd = _encoder_flops(cfg.model, p.get("input_size", cfg.input_size), cfg.patch_size)
    train, val = images(spec)
    task = p.get("task", job.protocol)
    epochs = p.get("epochs") or (_config_epochs(p["config"]) if p.get("config") else None) or 1
    if task == "finetune":
        return 3 * fwd * train * epochs + fwd * val * epochs
    if task == "linprobe":
        return fwd * (train + val) * epochs
    return fwd * (train + val)


@functools.lru_cache(maxsize=None)
def _config_epochs(path: str):
    return load_config_file(path).get("epochs")


def gpu_hours(spec: dict, flops: float) -> float:
    tflops = float(spec.get("estimate", {}).get("achieved_tflops", ACHIEVED_TFLOPS))
    return flops / (tflops * 1e12) / 3600


def describe(sweep: Sweep) -> str:
    """The job plan: every pretraining (the points it stands for) and its transfers, with status and GPU-hours."""
    spec, done = sweep.spec, finished_transfers(sweep.runs_dir)
    est, (train, _) = spec.get("estimate", {}), images(spec)
    lines = [f"sweep {sweep.name}: {len(sweep.variants)} pretraining runs, {len(sweep.transfers)} transfers "
             f"({', '.join(spec['protocols'])} x seeds {list(spec.get('seeds', [0]))}) in {sweep.folder}",
             f"GPU-hours: analytic FLOPs (mae_bench/perf.py) at {est.get('achieved_tflops', ACHIEVED_TFLOPS):g} "
             f"TFLOP/s sustained per GPU, {train} training images", ""]
    total = 0.0
    for v in sweep.variants:
        hours = 0.0 if v.refused else gpu_hours(spec, pretrain_flops(v.config, train))
        state = "refused" if v.refused else ("done" if pretrain_done(v) else "to run")
        points = ", ".join(f"{a}={lab}" for a, lab in v.points)
        lines.append(f"pretrain {v.id:40s} {state:7s} {hours:9.1f} GPU-h  epochs {v.config.get('epochs')}  [{points}]")
        if v.refused:
            lines.append(f"    not run: {v.refused}")
        total += hours
        for job in (j for j in sweep.transfers if j.variant is v):
            th = 0.0 if v.refused else gpu_hours(spec, transfer_flops(spec, job))
            jstate = "done" if job.id in done else ("refused" if v.refused else "to run")
            lines.append(f"    {job.protocol:10s} seed {job.seed}  {job.ckpt.name:22s} {jstate:7s} {th:8.1f} GPU-h")
            total += th
    lines += ["", f"total: {total:.0f} GPU-hours ({total / 8:.0f} h on 8 GPUs)"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- jobs (run in the submitit process)

class PretrainJob:
    """A pretraining variant as a submitit job: resumes from its own newest checkpoint (``--resume auto``); on a
    Slurm time limit or preemption submitit calls ``checkpoint`` and requeues it, and it resumes again."""

    def __init__(self, config: dict, threads: int | None = None):
        self.config, self.threads = config, threads

    def __call__(self) -> str:
        import torch

        from .pretrain import run_pretrain
        if self.threads:
            torch.set_num_threads(self.threads)
        _export_dist_env()
        run_pretrain(PretrainConfig(**{**self.config, "resume": "auto"}))
        return self.config["output_dir"]

    def checkpoint(self, *args, **kwargs):
        import submitit
        return submitit.helpers.DelayedSubmission(PretrainJob(self.config, self.threads))


def transfer_job(args: dict, threads: int | None = None) -> str:
    import torch

    from .transfer import TransferArgs, run_task
    if threads:
        torch.set_num_threads(threads)
    return str(run_task(TransferArgs(**args)))


def _export_dist_env() -> None:
    """Under a multi-task Slurm job: RANK / WORLD_SIZE / MASTER_ADDR for ``engine.dist`` (submitit's helper)."""
    try:
        import submitit
        env = submitit.JobEnvironment()
    except (ImportError, RuntimeError):
        return
    if env.num_tasks > 1 and "RANK" not in os.environ:
        submitit.helpers.TorchDistributedEnvironment().export()


def write_synthetic(spec: dict, folder: Path) -> None:
    """``data.synthetic``: the labelled ImageFolder set and the pretraining pool, written once (marker last)."""
    syn = spec.get("data", {}).get("synthetic")
    if not syn:
        return
    from .data import write_dataset
    from .data.writers import MARKER
    root = folder / "data"
    if not (root / MARKER).is_file():
        write_dataset("imagefolder", root, int(syn["num"]), int(syn.get("size", 32)), int(syn.get("seed", 0)),
                      progress=False, pool=int(syn.get("pool", 0)))


# ---------------------------------------------------------------- the driver

def error_line(e: Exception) -> str:
    """The error a failed job raised: the last 'SomethingError: ...' line of submitit's report (its traceback)."""
    import re
    lines = [line.strip() for line in str(e).splitlines() if re.match(r"\s*[\w.]+(Error|Exception)\b", line)]
    return lines[-1] if lines else (str(e).strip().splitlines() or [repr(e)])[-1]


def executor(folder: Path, cluster: str | None, params: dict):
    import submitit
    ex = submitit.AutoExecutor(folder=str(folder / "submitit" / "%j"), cluster=cluster)
    ex.update_parameters(**params)
    return ex


def run_sweep(sweep: Sweep, cluster: str | None = None, max_parallel: int | None = None, poll_s: float = 1.0,
              echo=print) -> dict:
    """Submit every unfinished job (pretraining first; each transfer once its checkpoint is there), at most
    ``max_parallel`` at once, and wait for all. Returns counts: done before, ran, failed, refused."""
    spec = sweep.spec
    write_synthetic(spec, sweep.folder)
    res = spec.get("resources", {})
    threads = spec.get("threads_per_job")
    local = cluster in ("local", "debug")
    base = dict(timeout_min=24 * 60) if local else {}
    ex_pre = executor(sweep.folder, cluster, {**base, "name": f"{sweep.name}-pretrain", **res.get("pretrain", {})})
    ex_tr = executor(sweep.folder, cluster, {**base, "name": f"{sweep.name}-transfer", **res.get("transfer", {})})
    limit = max_parallel or spec.get("max_parallel") or (2 if local else 10**6)
    done = finished_transfers(sweep.runs_dir)
    counts = dict(skipped=0, ran=0, failed=0, refused=0)
    todo_pre = []
    for v in sweep.variants:
        if v.refused:
            counts["refused"] += 1
            echo(f"refused {v.id}: {v.refused}")
        elif pretrain_done(v):
            counts["skipped"] += 1
        else:
            todo_pre.append(v)
    ready = {v.id for v in sweep.variants if not v.refused and v not in todo_pre}
    todo_tr = []
    for j in sweep.transfers:
        if j.id in done:
            counts["skipped"] += 1
        elif not j.variant.refused:
            todo_tr.append(j)
    failed_variants: set[str] = set()
    running: dict = {}
    total = len(todo_pre) + len(todo_tr)
    echo(f"sweep {sweep.name}: {counts['skipped']} finished job(s) skipped, {total} to run, at most {limit} at once")
    while todo_pre or todo_tr or running:
        for key, (kind, obj, job) in list(running.items()):
            if not job.done():
                continue
            del running[key]
            try:
                job.result()
                counts["ran"] += 1
                echo(f"done {kind} {key} ({counts['ran']}/{total})")
                if kind == "pretrain":
                    ready.add(obj.id)
            except Exception as e:  # the job's own error: reported, its dependants skipped, the rest go on
                counts["failed"] += 1
                echo(f"FAILED {kind} {key}: {error_line(e)} (log: {job.paths.stderr})")
                if kind == "pretrain":
                    failed_variants.add(obj.id)
        todo_tr = [j for j in todo_tr if j.variant.id not in failed_variants]
        while len(running) < limit:
            startable = [j for j in todo_tr if j.variant.id in ready]
            if todo_pre:
                v = todo_pre.pop(0)
                running[v.id] = ("pretrain", v, ex_pre.submit(PretrainJob(v.config, threads)))
            elif startable:
                j = startable[0]
                todo_tr.remove(j)
                running[j.id] = ("transfer", j, ex_tr.submit(transfer_job, j.args, threads))
            else:
                break
        if todo_tr and not running and not any(j.variant.id in ready for j in todo_tr):
            break  # nothing can start: their pretraining failed
        time.sleep(poll_s)
    (sweep.folder / "sweep.json").write_text(json.dumps(dict(name=sweep.name, config=spec.get("_path"), **counts),
                                                        indent=2) + "\n")
    return counts
