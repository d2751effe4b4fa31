"""Result records (one JSON file per run in ``results/runs/``): schema, writing and loading. The tables built
from them are ``mae_bench.tables``; the charts and the report that render those, ``mae_bench.report``.

Schema (docs/architecture.md "Result record"); ``metrics`` holds task metrics such as AP_box,
AP_mask, mIoU, top1, top5.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

from .errors import RecordError
from .meta import git_describe, git_sha, sha256, versions

RECORD_FIELDS = ("task", "dataset", "metrics", "model", "init", "pretrain_method", "pretrain_epochs", "ckpt",
                 "ckpt_sha256", "config", "cfg_options", "seed", "world_size", "git_sha", "versions", "started",
                 "finished", "wall_time_s")
FULL_TASKS = ("coco", "ade20k", "finetune", "linprobe")
CHEAP_TASKS = ("knn", "linprobe_grid", "attentive", "ade20k_linear")  # frozen-feature signals (docs/transfer.md)
TASKS = (*FULL_TASKS, *CHEAP_TASKS)
PRETRAIN_METHODS = ("mae", "supervised", "mocov3", "dino", "beit", "random")


DATASET_ALIAS = {"coco": "coco2017", "imagenet1k": "imagenet", "imagenet-1k": "imagenet", "in1k": "imagenet"}


def canonical_dataset(dataset: str) -> str:
    """The one spelling of a dataset name in records and tables (``coco`` -> ``coco2017``, ``in1k`` -> ``imagenet``)."""
    return DATASET_ALIAS.get(str(dataset).lower(), str(dataset))



def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def validate(record: dict) -> dict:
    missing = [k for k in RECORD_FIELDS if k not in record]
    if missing:
        raise RecordError(f"result record lacks {missing}")
    if record["task"] not in TASKS:
        raise RecordError(f"record task {record['task']!r} not in {TASKS}")
    bad = {k: v for k, v in record["metrics"].items() if not isinstance(v, (int, float)) or not math.isfinite(v)}
    if bad:
        raise RecordError(f"record metrics must be finite numbers, got {bad}")
    return record


def make_record(task: str, dataset: str, metrics: dict, *, model: str, init: str, pretrain_method: str,
                pretrain_epochs: int | None, ckpt: str | None, config: str, cfg_options: dict | list | None,
                seed: int, world_size: int, started: str, wall_time_s: float, ckpt_sha256: str | None = None,
                **extra) -> dict:
    """Fill the common fields (hash, git sha and ``git describe``, versions, finish time) and validate.

    ``ckpt_sha256``: the hash of ``ckpt`` when the caller already has it (the transfer skeleton hashes the bytes
    it read); otherwise the file is hashed here."""
    if ckpt_sha256 is None and ckpt and Path(ckpt).is_file():
        ckpt_sha256 = sha256(ckpt)
    rec = dict(task=task, dataset=dataset, metrics={k: float(v) for k, v in metrics.items()}, model=model,
               init=init, pretrain_method=pretrain_method, pretrain_epochs=pretrain_epochs, ckpt=ckpt,
               ckpt_sha256=ckpt_sha256, config=config, cfg_options=cfg_options or {}, seed=seed,
               world_size=world_size, git_sha=git_sha(), git_describe=git_describe(), versions=versions(),
               started=started, finished=now_iso(), wall_time_s=float(wall_time_s))
    rec.update(extra)
    return validate(rec)


def record_name(record: dict) -> str:
    """The default file stem of a record: ``<task>_<dataset>_<model>_<init>_s<seed>_<finish time>``."""
    stamp = re.sub(r"[^0-9]", "", record["finished"])[:14]
    return (f"{record['task']}_{canonical_dataset(record['dataset'])}_{record['model']}_{record['init']}"
            f"_s{record.get('seed', 0)}_{stamp}")


def _claim(runs_dir: Path, base: str, text: str) -> Path:
    """Write ``text`` under the first free name ``<base>.json``, ``<base>-2.json``, ... and return it.

    The text goes to a temporary name of this process first (flushed to disk); ``os.link`` then claims the final
    name, which fails if any other process holds it, so a record appears whole or not at all and none replaces
    another, however many processes finish at once."""
    tmp = runs_dir / f".{base}.json.tmp{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        k = 1
        while True:
            path = runs_dir / (f"{base}.json" if k == 1 else f"{base}-{k}.json")
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                k += 1
            except OSError as e:  # a file system without hard links: claim the name by creating it exclusively
                if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                    raise
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    k += 1
                    continue
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                return path
    finally:
        tmp.unlink(missing_ok=True)


def write_record(record: dict, runs_dir: str | Path = "results/runs", name: str | None = None) -> Path:
    """Write ``record`` as ``<runs_dir>/<name>.json`` (default name: ``record_name``); returns the path.

    An existing record is never replaced: records of the same name (runs of several processes finishing in the
    same second) get ``-2``, ``-3``, ... suffixes, each name claimed atomically. If the record cannot be written
    (a full disk, a read-only folder), the whole record is printed to stderr, so a finished run's numbers
    survive, and a ``RecordError`` naming the folder is raised (the tools exit 2)."""
    validate(record)
    runs_dir = Path(runs_dir)
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name if name is not None else record_name(record))
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        return _claim(runs_dir, base, text)
    except OSError as e:
        sys.stderr.write(f"the result record that could not be written to {runs_dir}:\n{text}")
        sys.stderr.flush()
        raise RecordError(f"could not write the result record {runs_dir / base}.json: {e.strerror or e} "
                          f"(the record is printed above on stderr; save it as {base}.json)") from None


def record_files(runs_dir: str | Path) -> list[Path]:
    """The record files of ``runs_dir`` in the order ``load_records`` returns them."""
    return sorted(Path(runs_dir).glob("*.json"))


def load_records(runs_dir: str | Path) -> list[dict]:
    """Every valid record in ``runs_dir`` (sorted by name); a malformed file raises naming it."""
    out = []
    for p in record_files(runs_dir):
        try:
            out.append(validate(json.loads(p.read_text())))
        except (json.JSONDecodeError, RecordError) as e:
            raise RecordError(f"bad result record {p}: {e}") from None
    return out


def load_record_dirs(runs_dirs: list[str | Path]) -> tuple[list[dict], list[Path]]:
    """The records of several folders and their files, in folder order; a file name found in several folders is a
    copy of one record and is kept once (copies that differ raise, naming both files)."""
    records, files, seen = [], [], {}
    for runs_dir in runs_dirs:
        if not Path(runs_dir).is_dir():
            raise RecordError(f"{runs_dir}: no such folder of result records")
        for path, record in zip(record_files(runs_dir), load_records(runs_dir)):
            if path.name in seen:
                if record != records[seen[path.name]]:
                    raise RecordError(f"{path} and {files[seen[path.name]]} share a name but hold different records")
                continue
            seen[path.name] = len(records)
            records.append(record)
            files.append(path)
    return records, files
