"""The fast pretraining input pipeline against the official one (torchvision, PIL), its device decode, and shards.

The official rule (main_pretrain.py @ efb2a80 with torchvision's RandomResizedCrop.get_params) is restated here:
up to 10 draws of an area fraction uniform in [0.2, 1] and a log-uniform aspect ratio in [3/4, 4/3], the first box
that fits placed uniformly, else the centre crop of the whole image clamped to the ratio range.
"""
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.datasets.folder import pil_loader
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from conftest import REPO, TINY_MAE, run_tool, textured_photo, tool_env
from mae_bench.checkpoints import load_file
from mae_bench.data.fast import (
    FastImageDataset,
    RawBatch,
    collate,
    crop_box,
    dct_scale,
    decode_raw,
    image_samples,
    load_sample,
    resized_crop,
    sample_rng,
    to_model_input,
)
from mae_bench.data.imagefolder import IMAGENET_MEAN, IMAGENET_STD
from mae_bench.data.pipeline import pretrain_loader
from mae_bench.data.shards import expand_pattern

SIZE = 64


def official(path, box, flip=False) -> torch.Tensor:
    """The official pipeline's tensor for a given crop: pil_loader, resized_crop (bicubic), flip, ToTensor,
    Normalize."""
    img = TF.resized_crop(pil_loader(path), *box, [SIZE, SIZE], InterpolationMode.BICUBIC)
    img = TF.hflip(img) if flip else img
    return TF.normalize(TF.to_tensor(img), IMAGENET_MEAN, IMAGENET_STD)


def to_255(x: torch.Tensor) -> torch.Tensor:
    """Normalised float back to 0-255 units."""
    return x * torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255 + torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A flat folder of JPEG quirks: RGB, grayscale, CMYK, a PNG named .jpg, and an EXIF-rotated JPEG."""
    root = tmp_path_factory.mktemp("quirks")
    rgb = Image.fromarray(textured_photo(300, 200, 0))
    rgb.save(root / "rgb.jpg", quality=90)
    rgb.convert("L").save(root / "gray.jpg", quality=90)
    rgb.convert("CMYK").save(root / "cmyk.jpg", quality=90)
    rgb.save(root / "png_named.jpg", format="PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(textured_photo(300, 200, 1)).save(root / "exif.jpg", quality=90, exif=exif)
    return {p.stem: str(p) for p in root.iterdir()}


def restated_box(width, height, rng, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)):
    """The official rule, written again with numpy's generator."""
    for _ in range(10):
        area = width * height * rng.uniform(*scale)
        r = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w, h = round(math.sqrt(area * r)), round(math.sqrt(area / r))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    r = width / height
    w, h = (width, round(width / ratio[0])) if r < ratio[0] else (round(height * ratio[1]), height) \
        if r > ratio[1] else (width, height)
    return (height - h) // 2, (width - w) // 2, h, w


def box_stats(boxes, width, height) -> np.ndarray:
    """Quantiles (10 ... 90 %) of the area fraction and of the log aspect ratio, and the mean top-left corner."""
    b = np.array(boxes, dtype=float)
    area, log_ratio = b[:, 2] * b[:, 3] / (width * height), np.log(b[:, 3] / b[:, 2])
    q = np.linspace(0.1, 0.9, 9)
    return np.concatenate([np.quantile(area, q), np.quantile(log_ratio, q), [b[:, 0].mean() / height,
                                                                            b[:, 1].mean() / width]])


@pytest.mark.parametrize("width,height", [(500, 375), (640, 200)])
def test_crop_boxes_follow_the_official_distribution(width, height):
    n = 20000
    ours = [crop_box(width, height, random.Random(k)) for k in range(n)]
    rng = np.random.default_rng(0)
    restated = [restated_box(width, height, rng) for _ in range(n)]
    torch.manual_seed(0)
    img = Image.new("RGB", (width, height))
    tv = [transforms.RandomResizedCrop.get_params(img, (0.2, 1.0), (3 / 4, 4 / 3)) for _ in range(n)]
    b = np.array(ours)
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
    assert (b[:, 0] + b[:, 2] <= height).all() and (b[:, 1] + b[:, 3] <= width).all()
    area = b[:, 2] * b[:, 3] / (width * height)
    assert area.min() >= 0.2 - 0.01 and area.max() <= 1.0
    assert np.abs(np.log(b[:, 3] / b[:, 2])).max() <= math.log(4 / 3) + 0.02
    # quantiles of 20000 draws: standard error < 0.004; a wrong range, ratio law or fallback moves them by > 0.02
    np.testing.assert_allclose(box_stats(ours, width, height), box_stats(restated, width, height), atol=0.015)
    np.testing.assert_allclose(box_stats(ours, width, height), box_stats(tv, width, height), atol=0.015)


@pytest.mark.parametrize("width,height,expected", [(1000, 50, (0, 466, 50, 67)), (50, 1000, (466, 0, 67, 50))])
def test_crop_fallback_is_the_clamped_centre_crop(width, height, expected):
    # a box of area fraction >= 0.99 never fits such a strip: after 10 draws, the centre crop at the nearest ratio
    assert crop_box(width, height, random.Random(0), scale=(0.99, 1.0)) == expected
    assert restated_box(width, height, np.random.default_rng(0), scale=(0.99, 1.0)) == expected
    img = Image.new("RGB", (width, height))
    assert transforms.RandomResizedCrop.get_params(img, (0.99, 1.0), (3 / 4, 4 / 3)) == expected


def diff_255(ours: torch.Tensor, expected: torch.Tensor) -> np.ndarray:
    """|ours (uint8 CHW) - expected (normalised float)| in 0-255 units."""
    return np.abs(ours.numpy().astype(np.float32) - to_255(expected).numpy())


def no_dct_seed(width=300, height=200) -> int:
    return next(k for k in range(100) if dct_scale(*crop_box(width, height, sample_rng(0, 0, k))[2:], SIZE) == 1)


@pytest.mark.parametrize("name", ["rgb", "gray", "cmyk", "png_named", "exif"])
@pytest.mark.parametrize("flip", [False, True])
def test_pil_path_equals_official_bit_for_bit(images, name, flip):
    """Same crop, same PIL bicubic resize, same ToTensor + Normalize arithmetic (moved to the device)."""
    box = (30, 40, 110, 120)  # smaller than 2 x 64 px: no DCT scaling
    assert dct_scale(box[2], box[3], SIZE) == 1
    with open(images[name], "rb") as f:
        crop = resized_crop(Image.open(f), box, SIZE, flip)
    assert torch.equal(to_model_input(crop[None], torch.device("cpu"))[0], official(images[name], box, flip))


@pytest.mark.parametrize("name", ["rgb", "gray", "cmyk", "png_named", "exif"])
def test_samples_equal_official_to_rounding(images, name):
    """Without DCT scaling a sample equals the official output within 2 of 255 (mean < 0.05): RGB and grayscale
    JPEGs through libjpeg-turbo + torch's antialiased bicubic, the others through PIL (exactly)."""
    k = no_dct_seed()
    with open(images[name], "rb") as f:
        crop = load_sample(f, name, SIZE, sample_rng(0, 0, k))
    rng = sample_rng(0, 0, k)
    box = crop_box(300, 200, rng)
    expected = official(images[name], box, rng.random() < 0.5)
    diff = diff_255(crop, expected)
    assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())
    if name in ("cmyk", "png_named"):
        assert torch.equal(to_model_input(crop[None], torch.device("cpu"))[0], expected)


def test_exif_orientation_is_not_applied_as_in_the_official_loader(images):
    """pil_loader ignores EXIF orientation; so does the fast pipeline: crops of the stored 300 x 200 pixels."""
    assert Image.open(images["exif"]).getexif()[0x0112] == 6 and pil_loader(images["exif"]).size == (300, 200)
    k = no_dct_seed()
    for raw in (False, True):
        with open(images["exif"], "rb") as f:
            item = load_sample(f, "exif", SIZE, sample_rng(0, 0, k), raw=raw)
        crop = decode_raw(RawBatch.of([item]), torch.device("cpu"), SIZE)[0] if raw else item
        rng = sample_rng(0, 0, k)
        box = crop_box(300, 200, rng)
        assert diff_255(crop, official(images["exif"], box, rng.random() < 0.5)).max() <= 2


def test_close_to_official_with_dct_scaling(images):
    """Whole-image boxes of a 300 x 200 JPEG at 64 px decode at 1/2 scale: mean |diff| < 2.5 of 255 (measured 0.5-2
    on real photos at 224 px and here)."""
    for box in [(0, 0, 200, 300), (10, 20, 150, 200), (0, 0, 200, 200)]:
        assert dct_scale(box[2], box[3], SIZE) == 2
        crop = resized_crop(Image.open(images["rgb"]), box, SIZE, False)
        diff = diff_255(crop, official(images["rgb"], box))
        assert diff.mean() < 2.5, (box, diff.mean())


def test_device_decode_path_on_cpu_matches_the_official_crops(images):
    """--gpu_decode's code path with device cpu: decode_jpeg, crop, bicubic antialiased resize, flip; RGB and
    grayscale JPEGs within mean |diff| 0.5 and max 3 of 255 of the official output; CMYK and PNG files are decoded by
    the workers (bit-exact)."""
    names = ["rgb", "gray", "cmyk", "png_named", "rgb"]
    items = [load_sample(open(images[n], "rb"), n, SIZE, sample_rng(0, 0, k), raw=True) for k, n in enumerate(names)]
    batch, _ = collate([(x, 0) for x in items])
    assert isinstance(batch, RawBatch) and batch.pixel_slots == [2, 3]
    out = decode_raw(batch, torch.device("cpu"), SIZE)
    for k, n in enumerate(names):
        rng = sample_rng(0, 0, k)
        box = crop_box(300, 200, rng)
        diff = diff_255(out[k], official(images[n], box, rng.random() < 0.5))
        assert diff.mean() < 0.5 and diff.max() <= 3, (n, diff.mean(), diff.max())
    x = to_model_input(batch, torch.device("cpu"), SIZE)
    assert x.dtype == torch.float32 and x.shape == (5, 3, SIZE, SIZE)


def test_crops_do_not_depend_on_workers_and_persistent_workers_see_the_epoch(images):
    samples = image_samples(str(next(iter(images.values()))).rsplit("/", 1)[0])
    assert [s[1] for s in samples] == [0] * 5  # a flat folder: class 0

    def epochs(workers, first_epoch):
        loader = pretrain_loader(samples[0][0].rsplit("/", 1)[0], SIZE, 2, workers, seed=3)
        out = []
        for epoch in range(first_epoch, 2):
            loader.sampler.set_epoch(epoch)
            out.append(torch.cat([b[0] for b in loader]))
        return out

    in_process, workers = epochs(0, 0), epochs(2, 0)
    assert all(torch.equal(a, b) for a, b in zip(in_process, workers))
    assert not torch.equal(in_process[0], in_process[1])
    assert torch.equal(epochs(2, 1)[0], workers[1])  # a resumed run replays epoch 1


def test_flat_folder_and_bad_input(tmp_path):
    from mae_bench.data import DataError
    with pytest.raises(DataError, match="holds no images"):
        image_samples(tmp_path)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    ds = FastImageDataset(image_samples(tmp_path), SIZE)
    with pytest.raises(DataError, match="bad.jpg"):
        ds[0]


def test_shard_pattern_expansion():
    assert expand_pattern("/d/train-{000008..000011}.tar") == [f"/d/train-{i:06d}.tar" for i in range(8, 12)]
    assert expand_pattern("/d/a-{0..1}-{08..09}.tar") == ["/d/a-0-08.tar", "/d/a-0-09.tar", "/d/a-1-08.tar",
                                                         "/d/a-1-09.tar"]


READ_SHARDS = """
import json, sys, torch, torch.distributed as dist
from torch.utils.data import DataLoader
from mae_bench.data.fast import collate
from mae_bench.data.shards import ShardDataset, ShardLoader
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
ds = ShardDataset(sys.argv[1], 32, seed=5, rank=rank, world_size=world, buffer=4)
loader = ShardLoader(ds, batch_size=2, num_workers=2, collate_fn=collate, pin_memory=False)
out = {}
for epoch in range(2):
    loader.set_epoch(epoch)
    keys = [k for _, _, k in DataLoader(ds, batch_size=None, num_workers=2, collate_fn=lambda x: x)]
    batches = sum(1 for _ in loader)
    gathered = [None] * world
    dist.all_gather_object(gathered, dict(keys=keys, batches=batches, len=len(loader)))
    out[epoch] = gathered
if rank == 0:
    json.dump(out, open(sys.argv[2], "w"))
dist.destroy_process_group()
"""


def test_shards_two_processes_two_workers_see_every_image_once(tmp_path, synthetic_imagefolder):
    shards = tmp_path / "shards" / "train"
    proc = run_tool("make_shards.py", "--data_path", synthetic_imagefolder / "train", "--out", shards,
                    "--per_shard", 6)
    assert proc.returncode == 0, proc.stderr[-2000:]
    n_images = sum(1 for _ in (synthetic_imagefolder / "train").rglob("*.jpg"))
    n_shards = -(-n_images // 6)
    pattern = f"{shards}-{{000000..{n_shards - 1:06d}}}.tar"
    assert pattern in proc.stdout
    again = run_tool("make_shards.py", "--data_path", synthetic_imagefolder / "train", "--out", shards)
    assert again.returncode == 2 and "exists" in again.stderr  # old shards are never overwritten
    script = tmp_path / "read_shards.py"
    script.write_text(READ_SHARDS)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(script), pattern,
                          str(tmp_path / "keys.json")], capture_output=True, text=True, timeout=300,
                         env=tool_env(), cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads((tmp_path / "keys.json").read_text())
    orders = []
    for epoch in ("0", "1"):
        keys = [k for rank in out[epoch] for k in rank["keys"]]
        assert sorted(keys) == sorted(set(keys)) and len(keys) == n_images  # every image once across 4 readers
        assert set(out[epoch][0]["keys"]).isdisjoint(out[epoch][1]["keys"])
        assert all(rank["batches"] >= rank["len"] > 0 for rank in out[epoch])  # len() never promises too much
        assert out[epoch][0]["len"] == out[epoch][1]["len"]  # every process runs the same number of steps
        orders.append(keys)
    assert orders[0] != orders[1]  # the epoch reshuffles


def test_pretrainer_records_its_pipeline(tiny_mae_ckpt):
    assert load_file(tiny_mae_ckpt)["config"]["data_pipeline"] == "fast"


def test_pretraining_log_records_the_region_decoder(tmp_path, synthetic_imagefolder):
    """The start-up line of every pretraining log names the install's decoder state and its libjpeg."""
    proc = run_tool("pretrain.py", *TINY_MAE, "--device", "cpu", "--epochs", 1, "--warmup_epochs", 1, "--batch_size", 8,
                    "--data_path", synthetic_imagefolder, "--output_dir", tmp_path, "--num_workers", 0,
                    "--max_iters_per_epoch", 1, "--vis_every", 0, "--no-tensorboard")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "data pipeline fast, JPEG region decoder built (libjpeg-turbo " in proc.stderr


def test_pretrainer_refuses_an_unknown_pipeline(tmp_path, synthetic_imagefolder):
    proc = run_tool("pretrain.py", "--model", "mae_vit_micro_patch8", "--input_size", 32, "--device", "cpu",
                    "--data_path", synthetic_imagefolder, "--output_dir", tmp_path, "--data_pipeline", "dali")
    assert proc.returncode == 2 and "--data_pipeline 'dali'" in proc.stderr


def test_bench_data_writes_results(tmp_path, images):
    out = tmp_path / "bench.json"
    proc = run_tool("bench_data.py", "--data_path", str(images["rgb"]).rsplit("/", 1)[0], "--input_size", SIZE,
                    "--workers", 0, "--seconds", 0.2, "--rounds", 1, "--batch_size", 2, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    fast = res["per_worker"]["0"]["fast"]
    assert fast["median"] > 0 and fast["ratio_to_official"]["median"] > 0
    assert res["normalise_cpu_images_per_s"] > 0 and out.with_suffix(".md").is_file()
    decoder = res["machine"]["region_decoder"]  # the install's state: built here, with the libjpeg it links
    assert decoder["decoder"] == "built" and decoder["libjpeg"].startswith("libjpeg-turbo ")
    assert f"Region JPEG decoder: built ({decoder['libjpeg']})" in out.with_suffix(".md").read_text()
