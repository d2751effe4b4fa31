"""The pretraining loader: the fast pipeline (``fast.py``) over an image folder or tar shards (``shards.py``)."""
from __future__ import annotations

from torch.utils.data import DataLoader

from ..errors import ConfigError
from .fast import PIPELINES, EpochSampler, FastImageDataset, collate, image_samples, pretrain_root
from .imagefolder import DataError
from .shards import ShardDataset, ShardLoader, is_shard_pattern


def pretrain_loader(data_path: str, input_size: int, batch_size: int, num_workers: int, seed: int = 0,
                    rank: int = 0, world_size: int = 1, crop_scale=None, pin_memory: bool = False, raw: bool = False,
                    skip_corrupt: bool = False, keep=None):
    """The fast pipeline's loader over a folder (``pretrain_root``) or a shard pattern (``shards``).

    ``keep(n)`` -> the indices of the folder's n images to train on (the monitors' held-out slice stays out).
    """
    if is_shard_pattern(data_path):
        if keep is not None:
            raise DataError(f"--monitor_every with shards ({data_path}) needs --monitor_data (an ImageFolder root)")
        dataset = ShardDataset(data_path, input_size, crop_scale, seed, rank, world_size, raw)
        return ShardLoader(dataset, batch_size, num_workers, collate, pin_memory)
    samples = image_samples(pretrain_root(data_path))
    if keep is not None:
        samples = [samples[i] for i in keep(len(samples))]
    dataset = FastImageDataset(samples, input_size, crop_scale, seed, raw, skip_corrupt)
    sampler = EpochSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=collate,
                      pin_memory=pin_memory, drop_last=True, persistent_workers=num_workers > 0)


def check_pipeline(pipeline: str, gpu_decode: bool, data_path: str | None) -> None:
    """A ValueError naming the flag when --data_pipeline, --gpu_decode and --data_path do not go together."""
    if pipeline not in PIPELINES:
        raise ConfigError(f"--data_pipeline {pipeline!r}: known {', '.join(PIPELINES)}")
    if pipeline == "official" and (gpu_decode or is_shard_pattern(data_path)):
        raise ConfigError("--data_pipeline official reads image folders on the CPU: --gpu_decode and shard "
                         f"--data_path ({data_path}) need --data_pipeline fast")
