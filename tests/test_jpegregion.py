"""The region JPEG decoder (mae_bench.data.jpegregion): the box's pixels equal a whole-image decode by PIL bit for bit,
bad files fail with libjpeg's reason, and without a compiler the fast pipeline decodes whole images instead."""
import io
import logging
import random

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import textured_photo
from mae_bench.data import DataError, jpegregion
from mae_bench.data.fast import crop_box, dct_scale, load_sample, resized_crop, sample_rng, tensor_crop

SIZE = 64

VARIANTS = {  # name: (mode, save options); 301 x 207 px is no multiple of any MCU size
    "444": ("RGB", dict(subsampling=0)),
    "422": ("RGB", dict(subsampling=1)),
    "420": ("RGB", dict(subsampling=2)),
    "progressive": ("RGB", dict(progressive=True)),
    "restart_markers": ("RGB", dict(restart_marker_rows=1)),
    "quality_40": ("RGB", dict(quality=40)),
    "grayscale": ("L", {}),
}


def jpeg(name: str, width=301, height=207) -> bytes:
    mode, options = VARIANTS[name]
    buf = io.BytesIO()
    Image.fromarray(textured_photo(width, height, len(name), cell=8, noise=20)).convert(mode).save(buf, "JPEG", **{"quality": 90, **options})
    return buf.getvalue()


def assert_region_equals_whole(data: bytes, boxes) -> None:
    whole = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # the official loader's pixels
    for box in boxes:
        top, left, h, w = box
        pixels = jpegregion.decode_box(data, box)
        assert pixels.shape == (3, h, w) and pixels.unsqueeze(0).is_contiguous(memory_format=torch.channels_last)
        np.testing.assert_array_equal(pixels.permute(1, 2, 0).numpy(), whole[top:top + h, left:left + w],
                                      err_msg=str(box))


def test_the_region_decoder_builds_here():
    """`make test` machines have a C compiler and libjpeg's headers; without them the fast pipeline still runs
    (test_without_a_compiler_whole_images_are_decoded), only slower."""
    assert jpegregion.library() is not None and jpegregion.enabled()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_region_pixels_equal_a_whole_decode_bit_for_bit(name):
    data = jpeg(name)
    rng = random.Random(0)
    edges = [(0, 0, 207, 301), (0, 0, 9, 13), (198, 290, 9, 11), (0, 280, 207, 21), (100, 0, 7, 301)]
    assert_region_equals_whole(data, edges + [crop_box(301, 207, rng) for _ in range(60)])


def test_a_margin_is_what_makes_the_edges_exact():
    """Without the margin libjpeg upsamples chroma at the region's edges as at the image's: the pixels differ; the
    margin is what the equality above rests on."""
    data, rng = jpeg("420"), random.Random(1)
    whole = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    worst = 0
    for _ in range(40):
        box = crop_box(301, 207, rng)
        top, left, h, w = box
        region = jpegregion.decode_box(data, box, margin=0).permute(1, 2, 0).numpy().astype(int)
        worst = max(worst, np.abs(region - whole[top:top + h, left:left + w]).max())
    assert worst > 2


def test_fast_samples_are_the_same_with_and_without_the_region_decoder():
    for name in ("420", "grayscale", "progressive"):
        data = jpeg(name)
        for k in range(10):
            rng = sample_rng(0, 0, k)
            box, flip = crop_box(301, 207, rng), rng.random() < 0.5
            assert torch.equal(tensor_crop(data, box, SIZE, flip, region=True),
                               tensor_crop(data, box, SIZE, flip, region=False)), (name, k)


def test_bad_files_fail_with_the_reason_and_the_file_name(tmp_path):
    data = jpeg("420")
    with pytest.raises(OSError, match="Premature end of JPEG file"):
        jpegregion.decode_box(data[: len(data) // 3], (150, 0, 50, 300))  # the box lies past the cut
    with pytest.raises(OSError, match="Not a JPEG file"):
        jpegregion.decode_box(b"GIF89a" + bytes(100), (0, 0, 10, 10))
    with pytest.raises(OSError, match=r"box \(top 200, left 0, 50x300\) outside the 301x207 image"):
        jpegregion.decode_box(data, (200, 0, 50, 300))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg("420", 640, 480)[:4000])
    k = next(k for k in range(50) if crop_box(640, 480, sample_rng(0, 0, k))[0] > 100
             and dct_scale(*crop_box(640, 480, sample_rng(0, 0, k))[2:], 224) == 1)  # through the region decoder
    with open(cut, "rb") as f, pytest.raises(DataError, match="cut.jpg.*Premature end"):
        load_sample(f, str(cut), 224, sample_rng(0, 0, k))


def test_without_a_compiler_whole_images_are_decoded(tmp_path, monkeypatch, caplog):
    """CC names a compiler that fails (a fresh cache, so nothing prebuilt is found): a warning says why, and samples
    come from whole-image decodes, identical to the region decoder's."""
    data, rng = jpeg("420"), sample_rng(0, 0, 3)
    box, flip = crop_box(301, 207, rng), rng.random() < 0.5
    expected = tensor_crop(data, box, SIZE, flip)
    monkeypatch.setenv("CC", "false")
    monkeypatch.setenv("MAE_BENCH_CACHE", str(tmp_path))
    jpegregion.library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="mae_bench.data.jpegregion"):
            assert not jpegregion.enabled()
        assert "decoding whole JPEGs" in caplog.text and "false could not build jpeg_region.c" in caplog.text
        assert torch.equal(tensor_crop(data, box, SIZE, flip), expected)
    finally:
        jpegregion.library.cache_clear()


def test_the_environment_turns_it_off(monkeypatch):
    monkeypatch.setenv("MAE_BENCH_JPEG_REGION", "0")
    assert not jpegregion.enabled() and jpegregion.library() is not None


@pytest.mark.realdata
def test_real_photos_region_equals_whole_decode(realdata):
    """Every real COCO and flower JPEG (RGB or grayscale), two random crops each: the same pixels as PIL's decode."""
    files = sorted((realdata / "coco" / "train2017").glob("*.jpg")) + sorted((realdata / "imagefolder").rglob("*.jpg"))
    rng, checked = random.Random(0), 0
    for path in files:
        img = Image.open(path)
        if img.mode in ("RGB", "L"):
            assert_region_equals_whole(path.read_bytes(), [crop_box(img.width, img.height, rng) for _ in range(2)])
            checked += 1
    assert checked > 300


@pytest.mark.parametrize("name", ["420", "grayscale", "progressive"])
def test_dct_scaled_crops_are_the_same_with_and_without_the_region_decoder(name):
    """Boxes at least 2x, 4x, 8x the output: decoded around the box at the reduced scale, the same pixels as PIL's
    reduced decode of the whole image, so the same crop bit for bit."""
    data = jpeg(name, 1500, 1100)
    size, rng = 128, random.Random(2)
    boxes = [(0, 0, 1100, 1500), (3, 5, 1061, 1333), (301, 211, 777, 800), (17, 9, 600, 590), (700, 1100, 300, 390),
             (799, 1199, 301, 301)]
    boxes += [crop_box(1500, 1100, rng) for _ in range(12)]
    assert {dct_scale(h, w, size) for _, _, h, w in boxes} >= {2, 4, 8}
    for box in boxes:
        for flip in (False, True):
            by_region = resized_crop(Image.open(io.BytesIO(data)), box, size, flip, data)
            by_pil = resized_crop(Image.open(io.BytesIO(data)), box, size, flip)
            assert torch.equal(by_region, by_pil), (name, box, flip)
