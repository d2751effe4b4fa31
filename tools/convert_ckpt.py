#!/usr/bin/env python
"""Convert a foreign ViT checkpoint (official MAE, timm/DeiT, MoCo v3, DINO, BEiT, mmpretrain, Hugging Face,
mae-bench) to the encoder key names of docs/architecture.md, with a strict key report.

  python tools/convert_ckpt.py mae_pretrain_vit_base.pth work_dirs/mae_b.pth
  python tools/convert_ckpt.py dino_checkpoint.pth dino_student.safetensors --to safetensors --branch student
  python tools/convert_ckpt.py zoo:mae-vit-b work_dirs/mae_b.pth --cache /shared/ckpt_cache
The input is a file or a published checkpoint by name (zoo:, timm:, hf-hub:, https://), read from the local cache
(tools/fetch_ckpt.py fills it; a published hash is checked).
--to mae_bench: {'model', 'config', 'meta'} (what the transfer tasks read); timm: a plain state dict that
loads into timm's VisionTransformer; safetensors: the same as a .safetensors file. Encoder keys (and a
classification head when present, unless --drop-head) are written; decoder / projection / momentum keys are
dropped and listed.
Exit 2 with the file named when the input is unreadable, unsafe or not a complete ViT encoder.
"""
import argparse
import os
import sys
from pathlib import Path

import torch

from mae_bench.checkpoints import (
    ENCODER_PREFIXES,
    HEAD_PREFIXES,
    CheckpointError,
    LoadReport,
    convert,
    encoder_for_state,
    is_optional,
    load_file,
    match_state,
    read_checkpoint,
)
from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.hub import CACHE_ENV, is_name, resolve
from mae_bench.meta import git_sha, versions


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a checkpoint file, or zoo:NAME / timm:MODEL.TAG / hf-hub:ORG/NAME / https://...")
    p.add_argument("--cache", metavar="DIR", help=f"checkpoint cache of the names (default: ${CACHE_ENV}, else "
                                                  f"TORCH_HOME and HF_HOME)")
    p.add_argument("output")
    p.add_argument("--to", choices=("mae_bench", "timm", "safetensors"), default="mae_bench")
    p.add_argument("--branch", default=None, help="DINO teacher|student, MoCo v3 base|momentum")
    p.add_argument("--drop-head", action="store_true",
                   help="encoder keys only (loads strictly into timm.create_model(..., num_classes=0))")
    return accept_both_spellings(p).parse_args(argv)


def read_input(name: str, cache: str | None = None) -> tuple[str, dict]:
    """A file, or a name resolved in the cache (its published hash checked) -> (file, its dict)."""
    if not is_name(name):
        return name, load_file(name)
    source = resolve(name, cache)
    return source.path, read_checkpoint(source.path, source.expected, name).obj


def convert_file(src: str, branch: str | None, drop_head: bool = False,
                 cache: str | None = None) -> tuple[dict, LoadReport]:
    """-> (encoder [+ head] state, report); raises CheckpointError when the encoder is incomplete."""
    try:
        src, obj = read_input(src, cache)
        fmt, state = convert(obj, branch)
        report = LoadReport(src, fmt, notes=list(state.notes))
        match_state(encoder_for_state(state).state_dict(), state, report)
    except CheckpointError as e:
        raise CheckpointError(e if src in str(e) else f"{src}: {e}") from None
    prefixes = ENCODER_PREFIXES if drop_head else ENCODER_PREFIXES + HEAD_PREFIXES
    keep = {k: v.contiguous() for k, v in state.items() if k.startswith(prefixes) or is_optional(k)}
    return keep, report


def write(state: dict, report: LoadReport, out: Path, to: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        if to == "safetensors":
            from safetensors.torch import save_file
            save_file(state, str(tmp), metadata={"format": report.format, "source": report.source})
        elif to == "timm":
            torch.save(state, tmp)
        else:
            torch.save(dict(model=state, config=dict(converted_from=report.source, format=report.format),
                            meta=dict(producer="mae-bench", versions=versions(), git_sha=git_sha())), tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


@reports_errors(CheckpointError)
def main(argv=None) -> int:
    args = parse(argv)
    state, report = convert_file(args.input, args.branch, args.drop_head, args.cache)
    write(state, report, Path(args.output), args.to)
    print(report.summary())
    heads = sum(k.startswith(HEAD_PREFIXES) for k in state)
    print(f"wrote {len(state)} tensors to {args.output} ({args.to}; classification head kept: {heads} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
