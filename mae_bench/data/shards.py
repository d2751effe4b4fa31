"""Tar shards in the WebDataset layout: writing them, and reading them split over processes and workers.

A shard is a plain tar whose members are ``<key>.<ext>`` (the image, its original extension) and ``<key>.cls`` (the
class index as text); the members of one key are adjacent. The reader is the standard library's ``tarfile``.

Per epoch the shard list is shuffled with a generator seeded by (seed, epoch); reader ``g`` of ``G`` (process
``rank`` x ``num_workers`` + worker id) takes shards ``g, g + G, ...`` of that order and streams them in turn through
a shuffle buffer seeded by (seed, epoch, g). Every image is read by exactly one reader per epoch, whatever the shard
count; the readers hold equal numbers of images only when ``G`` divides the shard count and the shards are equal.
"""
from __future__ import annotations

import io
import itertools
import random
import re
import tarfile
import zlib
from pathlib import Path

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torchvision.datasets.folder import IMG_EXTENSIONS

from .fast import load_sample, preview, sample_rng
from .imagefolder import MAE_CROP_SCALE, DataError

BRACES = re.compile(r"\{(\d+)\.\.(\d+)\}")


def is_shard_pattern(data_path: str | None) -> bool:
    return data_path is not None and (str(data_path).endswith(".tar") or bool(BRACES.search(str(data_path))))


def expand_pattern(pattern: str) -> list[str]:
    """``train-{000000..000003}.tar`` -> the four names (zero padding as written); several ranges multiply."""
    m = BRACES.search(pattern)
    if not m:
        return [pattern]
    lo, hi = m.group(1), m.group(2)
    if int(hi) < int(lo):
        raise DataError(f"shard pattern {pattern}: range {{{lo}..{hi}}} is empty")
    head, tail = pattern[:m.start()], pattern[m.end():]
    return [name for i in range(int(lo), int(hi) + 1) for name in expand_pattern(f"{head}{i:0{len(lo)}d}{tail}")]


def shard_images(path: str) -> list[str]:
    """The image member names of one shard, in tar order (reads the tar headers only)."""
    try:
        with tarfile.open(path) as tar:
            names = tar.getnames()
    except (OSError, tarfile.TarError) as e:
        raise DataError(f"cannot read shard {path}: {e}") from None
    images = [n for n in names if Path(n).suffix.lower() in IMG_EXTENSIONS]
    if not images:
        raise DataError(f"shard {path} holds no images")
    return images


def write_shards(samples: list[tuple[str, int]], out_pattern: str, per_shard: int, first: int = 0,
                 first_key: int = 0) -> list[str]:
    """Write ``samples`` (path, class index) in order into tars ``out_pattern % (first + i)`` of ``per_shard`` images;
    keys count from ``first_key``. Each tar is written under a temporary name and renamed when complete."""
    written = []
    for start in range(0, len(samples), per_shard):
        path = out_pattern % (first + start // per_shard)
        with tarfile.open(f"{path}.tmp", "w") as tar:
            for k, (src, target) in enumerate(samples[start:start + per_shard], first_key + start):
                key = f"{k:09d}"
                tar.add(src, arcname=f"{key}{Path(src).suffix.lower()}")
                label = str(target).encode()
                info = tarfile.TarInfo(f"{key}.cls")
                info.size = len(label)
                tar.addfile(info, io.BytesIO(label))
        Path(f"{path}.tmp").rename(path)
        written.append(path)
    return written


class ShardDataset(IterableDataset):
    """Training crops (``fast.load_sample``) streamed from tar shards; ``set_epoch`` before each epoch.

    ``repeat`` streams epoch after epoch (benchmarks). Items are (crop, class index, key); the key names the image
    (``<shard file name>/<member>``) and seeds its crop.
    """

    def __init__(self, pattern: str, input_size: int, crop_scale=None, seed: int = 0, rank: int = 0,
                 world_size: int = 1, raw: bool = False, buffer: int = 256, repeat: bool = False):
        self.shards = expand_pattern(pattern)
        missing = [s for s in self.shards if not Path(s).is_file()]
        if missing:
            raise DataError(f"--data_path {pattern}: {len(missing)} of {len(self.shards)} shards missing, "
                            f"e.g. {missing[0]}")
        self.counts = {s: len(shard_images(s)) for s in self.shards}
        self.input_size, self.crop_scale = input_size, tuple(crop_scale or MAE_CROP_SCALE)
        self.seed, self.rank, self.world_size, self.raw = seed, rank, world_size, raw
        self.buffer, self.repeat, self.epoch = buffer, repeat, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def assignment(self, epoch: int, readers: int) -> list[list[str]]:
        """The shards of each of ``readers`` readers in ``epoch``."""
        order = sorted(self.shards)
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return [order[g::readers] for g in range(readers)]

    def _stream(self, shards: list[str]):
        """(key, image bytes, class index) of each image of ``shards`` in tar order."""
        for shard in shards:
            with tarfile.open(shard) as tar:
                group, key = {}, None
                for member in tar:
                    k, _, ext = Path(member.name).name.partition(".")
                    if k != key and group:
                        yield from image_of(shard, key, group)
                        group = {}
                    key, group[ext] = k, tar.extractfile(member).read()
                yield from image_of(shard, key, group)

    def _epoch(self, epoch: int):
        info = get_worker_info()
        workers, wid = (info.num_workers, info.id) if info else (1, 0)
        g = self.rank * workers + wid
        rng = random.Random((self.seed * 1_000_003 + epoch) * 4096 + g)
        buf = []
        for item in self._stream(self.assignment(epoch, self.world_size * workers)[g]):
            buf.append(item)
            if len(buf) >= self.buffer:
                yield self._sample(buf.pop(rng.randrange(len(buf))), epoch)
        rng.shuffle(buf)
        for item in buf:
            yield self._sample(item, epoch)

    def _sample(self, item, epoch: int):
        key, data, target = item
        rng = sample_rng(self.seed, epoch, zlib.crc32(key.encode()))
        return load_sample(io.BytesIO(data), key, self.input_size, rng, self.crop_scale, self.raw), target, key

    def __iter__(self):
        epoch = self.epoch
        while True:
            yield from self._epoch(epoch)
            if not self.repeat:
                return
            epoch += 1

    def __getitem__(self, key):
        """Item ``i`` of this process's stream in the epoch ``key[0]`` (the first items only; for previews)."""
        epoch, index = key
        return next(itertools.islice(self._epoch(epoch), index, None))

    def __len__(self) -> int:
        return sum(self.counts.values())

    def preview(self, n: int) -> torch.Tensor:
        return preview(self, n)

    def batches_per_rank(self, epoch: int, workers: int, batch_size: int) -> int:
        """Full batches every process delivers in ``epoch`` (the smallest over processes; each worker drops its
        last partial batch), so that all processes run the same number of steps."""
        readers = self.assignment(epoch, self.world_size * max(workers, 1))
        per_reader = [sum(self.counts[s] for s in shards) // batch_size for shards in readers]
        k = max(workers, 1)
        return min(sum(per_reader[r * k:(r + 1) * k]) for r in range(self.world_size))


def image_of(shard: str, key: str | None, group: dict):
    """The (key, bytes, class index) of one key's members, if they hold an image."""
    ext = next((e for e in group if f".{e.lower()}" in IMG_EXTENSIONS), None)
    if ext is not None:
        yield f"{Path(shard).name}/{key}.{ext}", group[ext], int(group.get("cls", b"0"))


class ShardLoader:
    """The DataLoader over a ``ShardDataset`` with what the trainer asks of a loader: ``len`` (full batches per
    process this epoch), ``sampler.set_epoch`` and ``dataset``. Workers restart each epoch, so they see its epoch."""

    def __init__(self, dataset: ShardDataset, batch_size: int, num_workers: int, collate_fn, pin_memory: bool):
        readers = dataset.world_size * max(num_workers, 1)
        if len(dataset.shards) < readers:
            raise DataError(f"{len(dataset.shards)} shards for {readers} readers ({dataset.world_size} process(es) x "
                            f"{max(num_workers, 1)} worker(s)): write more shards or lower --num_workers")
        self.dataset, self.sampler = dataset, self
        self.batch_size, self.num_workers = batch_size, num_workers
        self.loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_fn,
                                 pin_memory=pin_memory, drop_last=True)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return self.dataset.batches_per_rank(self.dataset.epoch, self.num_workers, self.batch_size)

    def __iter__(self):
        return iter(self.loader)
