#!/usr/bin/env python
"""Time the input pipeline alone: the official MAE pretraining pipeline against mae-bench's, interleaved in rounds.

  python tools/bench_data.py --data_path ../shared/realdata/imagefolder --workers 1 2 --seconds 6 --rounds 3 \\
      --out results/perf/data_pipeline_imagefolder.json
From the same files to a batch of training-ready tensors, each pipeline in its own DataLoader:
  official   main_pretrain.py @ efb2a80: ImageFolder's pil_loader (decode, convert RGB), RandomResizedCrop(224,
             scale=(0.2, 1.0), interpolation=3 (bicubic)), RandomHorizontalFlip, ToTensor, Normalize in the workers,
             torch's default collation -> normalised float (B, 3, H, W)
  fast       mae_bench.data.fast: same crop rule, only the rows and columns around the crop decoded (libjpeg-turbo,
             mae_bench.data.jpeg_region), DCT-scaled decode where the crop allows, uint8 (B, 3, H, W);
             ToTensor + Normalize move to the training device (to_model_input): their CPU cost is timed apart
             (``normalise_cpu``) and folded in as ``fast_with_cpu_normalise``
  fast_whole_decode  the fast pipeline decoding whole JPEGs (torchvision.io.decode_jpeg), as an install whose region
             decoder is the fallback does
  shards     the fast pipeline reading tar shards (--shards PATTERN, written by tools/make_shards.py)
  gpu_decode_worker_share  what --gpu_decode leaves to the workers (read the file, parse the header, draw the crop);
             the batched JPEG decode, crop and flip then run on the device and are not timed here
  decode     reference: PIL decode + convert of the whole image, nothing else
  decode_region  reference: the fast pipeline's decode alone (the crop drawn, only its rows and columns decoded;
             DCT-scaled crops decoded whole at the reduced scale by PIL, as the pipeline does)
The machine block records the region decoder's state (region_decoder: built with its libjpeg, or the fallback and
why). Rates are images/s per worker process (the main process only receives batches), counted after each loader's first
batch (worker start excluded), for --seconds per pipeline per round; medians over rounds, ratios per round then median.
--data_path is an ImageFolder root (its train/ is used when present) or a flat folder of images.
"""
import argparse
import io
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL
import PIL.features
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.datasets.folder import pil_loader
from tqdm import tqdm

from mae_bench.data import DataError, jpeg_region
from mae_bench.data.fast import (
    FastImageDataset,
    collate,
    crop_box,
    dct_scale,
    image_samples,
    pretrain_root,
    sample_rng,
    to_model_input,
)
from mae_bench.data.imagefolder import pretrain_transform
from mae_bench.data.shards import ShardDataset


class Official(Dataset):
    """torchvision ImageFolder's __getitem__ over the same file list (it also reads flat folders)."""

    def __init__(self, samples, transform):
        self.samples, self.transform = samples, transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, target = self.samples[i]
        return self.transform(pil_loader(path)), target


class DecodeOnly(Official):
    def __getitem__(self, i):
        return np.asarray(pil_loader(self.samples[i][0])).shape[0]


class DecodeRegionOnly(Official):
    """The fast pipeline's decode step alone: the header read, the crop drawn, the pixels around it decoded (a
    DCT-scaled crop: the whole image at the reduced scale, by PIL, as the pipeline does), no resize, flip or
    collation: the floor of a pipeline that decodes these files here."""

    def __init__(self, samples, size: int):
        super().__init__(samples, None)
        self.size = size

    def __getitem__(self, i):
        path = self.samples[i][0]
        with open(path, "rb") as f:
            data = f.read()
        img = Image.open(io.BytesIO(data))
        box = crop_box(img.width, img.height, sample_rng(0, 0, i))
        if img.format != "JPEG" or img.mode not in ("RGB", "L"):
            return np.asarray(img.convert("RGB")).shape[0]  # CMYK, PNG, ...: decoded whole by PIL, as in the pipeline
        s = dct_scale(box[2], box[3], self.size)
        if s > 1:  # decoded whole at 1/s scale
            img.draft("RGB", (img.width // s, img.height // s))
            return np.asarray(img.convert("RGB")).shape[0]
        return jpeg_region.decode_box(data, box).shape[1]


class Forever(Sampler):
    """Shuffled indices epoch after epoch (``epochs``: as (epoch, index) for the fast dataset)."""

    def __init__(self, n: int, epochs: bool):
        self.n, self.epochs = n, epochs

    def __iter__(self):
        for epoch in itertools.count():
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(epoch)).tolist()
            yield from (((epoch, i) if self.epochs else i) for i in order)


def loaders(args, samples) -> dict:
    """name -> a function building that pipeline's DataLoader for ``workers``."""
    size, bs = args.input_size, args.batch_size

    def folder(dataset, epochs, collate_fn=None):
        return lambda w: DataLoader(dataset, batch_size=bs, sampler=Forever(len(samples), epochs), num_workers=w,
                                    collate_fn=collate_fn)

    out = {"official": folder(Official(samples, pretrain_transform(size)), False),
           "fast": folder(FastImageDataset(samples, size), True, collate),
           "fast_whole_decode": folder(FastImageDataset(samples, size, region=False), True, collate)}
    if args.shards:
        shards = ShardDataset(args.shards, size, repeat=True)
        out["shards"] = lambda w: DataLoader(shards, batch_size=bs, num_workers=w, collate_fn=collate)
    out["gpu_decode_worker_share"] = folder(FastImageDataset(samples, size, raw=True), True, collate)
    out["decode"] = folder(DecodeOnly(samples, None), False, len)
    if jpeg_region.enabled():
        out["decode_region"] = folder(DecodeRegionOnly(samples, size), False, len)
    return out


def batch_size_of(batch) -> int:
    return batch if isinstance(batch, int) else len(batch[0])


def images_per_s(make, workers: int, seconds: float) -> float:
    it = iter(make(workers))
    next(it)  # workers started, first batch done
    count, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        count += batch_size_of(next(it))
    del it
    return count / elapsed


def normalise_cpu(size: int, batch_size: int, seconds: float) -> float:
    """images/s of to_model_input (uint8 -> normalised float) on one CPU thread: the work moved to the device."""
    batch = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        to_model_input(batch, torch.device("cpu"))
        count += batch_size
    return count / (time.perf_counter() - t0)


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")), "?")
    return dict(cpu=model, cores=os.cpu_count(), load_avg_at_start=os.getloadavg()[0], python=platform.python_version(),
                torch=torch.__version__, torchvision=torchvision.__version__, pillow=PIL.__version__,
                pillow_libjpeg_turbo=PIL.features.version("libjpeg_turbo"), region_decoder=jpeg_region.state())


def image_sizes(samples) -> dict:
    sizes = [Image.open(p).size for p, _ in samples]
    return dict(images=len(samples), median_width=statistics.median(w for w, _ in sizes),
                median_height=statistics.median(h for _, h in sizes))


def run(args) -> dict:
    samples = image_samples(pretrain_root(args.data_path))
    pipes = loaders(args, samples)
    torch.set_num_threads(1)
    rates = {w: {name: [] for name in pipes} for w in args.workers}
    steps = [(r, w, name) for r in range(args.rounds) for w in args.workers for name in pipes]
    for _round, w, name in tqdm(steps, desc="bench_data", unit="run"):
        rates[w][name].append(images_per_s(pipes[name], w, args.seconds) / max(w, 1))
    norm = normalise_cpu(args.input_size, args.batch_size, min(args.seconds, 2.0))
    result = dict(command="python tools/bench_data.py " + " ".join(sys.argv[1:]), machine=machine(),
                  data_path=str(args.data_path), shards=args.shards, data=image_sizes(samples),
                  input_size=args.input_size, batch_size=args.batch_size, seconds=args.seconds, rounds=args.rounds,
                  normalise_cpu_images_per_s=norm, per_worker={})
    for w in args.workers:
        res = {name: dict(rounds=v, median=statistics.median(v)) for name, v in rates[w].items()}
        fast_norm = [1 / (1 / f + 1 / norm) for f in rates[w]["fast"]]
        res["fast_with_cpu_normalise"] = dict(rounds=fast_norm, median=statistics.median(fast_norm))
        for name in [n for n in res if n != "official"]:
            ratios = [a / b for a, b in zip(res[name]["rounds"], rates[w]["official"])]
            res[name]["ratio_to_official"] = dict(rounds=ratios, median=statistics.median(ratios))
        result["per_worker"][str(w)] = res
    return result


def markdown(result: dict) -> str:
    lines = [f"# Input pipeline: {result['data_path']}", "", f"`{result['command']}`", "",
             f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores (shared; load average "
             f"{result['machine']['load_avg_at_start']:.1f} at start); torch {result['machine']['torch']}, Pillow "
             f"{result['machine']['pillow']}. {result['data']['images']} images, median "
             f"{result['data']['median_width']:.0f}x{result['data']['median_height']:.0f} px -> "
             f"{result['input_size']} px, batch {result['batch_size']}, {result['rounds']} rounds x "
             f"{result['seconds']} s per pipeline, interleaved.", "",
             "| workers | pipeline | images/s per worker (median) | ratio to official (median of rounds) |",
             "| --- | --- | --- | --- |"]
    for w, res in result["per_worker"].items():
        for name, v in res.items():
            ratio = f"{v['ratio_to_official']['median']:.2f}x" if "ratio_to_official" in v else "1"
            lines.append(f"| {w} | {name} | {v['median']:.0f} | {ratio} |")
    lines += ["", f"Normalisation (uint8 -> float, ToTensor + Normalize), moved to the device by the fast pipeline, "
              f"costs {result['normalise_cpu_images_per_s']:.0f} images/s on one CPU thread; "
              "`fast_with_cpu_normalise` charges it to the workers."]
    lines.append(f"Region JPEG decoder: {jpeg_region.describe(result['machine']['region_decoder'])}"
                 + ("" if result["machine"]["region_decoder"]["decoder"] == "built" else
                    ": `fast` decoded whole JPEGs, as `fast_whole_decode`") + ".")
    return "\n".join(lines) + "\n"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_path", required=True, help="ImageFolder root (train/ used if present) or image folder")
    p.add_argument("--input_size", type=int, default=224)
    p.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count()], help="DataLoader workers (0: in "
                   "the main process); each count is timed")
    p.add_argument("--seconds", type=float, default=8.0, help="timed seconds per pipeline per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--shards", help="also time the shard reader on this pattern (tools/make_shards.py)")
    p.add_argument("--out", help="results JSON; a markdown summary is written beside it (.md)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    try:
        result = run(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = markdown(result)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
