"""The region JPEG decoder (mae_bench.data.jpeg_region): built with the package, its state recorded (built or the
fallback, and why); the box's pixels equal a whole-image decode by PIL bit for bit, bad files fail with libjpeg's
reason, a build that should load and does not is an error, and under the fallback the fast pipeline decodes whole
images with the same pixels."""
import io
import logging
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, textured_photo
from mae_bench.data import DataError, jpeg_region
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
    photo = Image.fromarray(textured_photo(width, height, len(name), cell=8, noise=20)).convert(mode)
    photo.save(buf, "JPEG", **{"quality": 90, **options})
    return buf.getvalue()


def assert_region_equals_whole(data: bytes, boxes) -> None:
    whole = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # the official loader's pixels
    for box in boxes:
        top, left, h, w = box
        pixels = jpeg_region.decode_box(data, box)
        assert pixels.shape == (3, h, w) and pixels.unsqueeze(0).is_contiguous(memory_format=torch.channels_last)
        np.testing.assert_array_equal(pixels.permute(1, 2, 0).numpy(), whole[top:top + h, left:left + w],
                                      err_msg=str(box))


def build(out, **env) -> subprocess.CompletedProcess:
    """``setup.py build_ext`` (the install's build step) into ``out``, as ``pip install .`` runs it."""
    return subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(out / "lib"), "--build-temp",
                           str(out / "temp")], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **env))


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The package's data folder as two builds leave it: with a compiler, and with one that fails (CC=false)."""
    root = tmp_path_factory.mktemp("builds")
    out = {}
    for name, env in (("built", {}), ("fallback", dict(CC="false"))):
        done = build(root / name, **env)
        assert done.returncode == 0, done.stderr[-2000:]  # the fallback does not fail the install
        out[name] = (root / name / "lib" / "mae_bench" / "data", done)
    return out


def test_the_region_decoder_is_built_here():
    """`make setup` builds it where `make test` runs (a C compiler and libjpeg-turbo's headers are there); the
    state the logs record names the libjpeg it was compiled against."""
    state = jpeg_region.state()
    assert state["decoder"] == "built" and state["libjpeg"].startswith("libjpeg-turbo "), state
    assert jpeg_region.enabled() and jpeg_region.describe() == f"built ({state['libjpeg']})"


def test_the_build_step_builds_and_records_it(builds):
    where, _ = builds["built"]
    state, lib = jpeg_region.load(where)
    assert state["decoder"] == "built" and (where / state["library"]).is_file() and lib is not None
    assert state["libjpeg"] == jpeg_region.state()["libjpeg"]
    data = jpeg("420")
    assert torch.equal(jpeg_region.decode_box(data, (10, 20, 100, 150), lib=lib),
                       jpeg_region.decode_box(data, (10, 20, 100, 150)))


def test_without_a_compiler_the_build_records_the_fallback_and_why_loudly(builds):
    where, done = builds["fallback"]
    assert "the JPEG region decoder (mae_bench/data/jpeg_region.c) was NOT built" in done.stdout
    assert not list(where.glob("_jpeg_region*"))
    state, lib = jpeg_region.load(where)
    assert lib is None and state["decoder"] == "fallback" and state["libjpeg"] is None
    assert "compiling it failed" in state["reason"] and "false" in state["reason"]


def test_a_built_decoder_that_does_not_load_is_an_error_naming_the_file_and_the_fix(builds, tmp_path):
    where, _ = builds["built"]
    shutil.copy(where / jpeg_region.STATE_FILE, tmp_path)  # the state says built, the library is gone
    with pytest.raises(jpeg_region.DecoderNotBuilt, match=r"_jpeg_region\.cpython.*built at install but does not "
                       r"load.*make setup"):
        jpeg_region.load(tmp_path)
    (tmp_path / jpeg_region.STATE_FILE).unlink()  # a source checkout nobody built
    with pytest.raises(jpeg_region.DecoderNotBuilt, match="never built.*build_ext --inplace"):
        jpeg_region.load(tmp_path)


def test_under_the_fallback_whole_images_are_decoded_with_the_same_pixels(builds, monkeypatch, caplog):
    """This process's install switched to the fallback build's folder: a warning says why once, the state says
    fallback, and samples come from whole-image decodes, identical to the region decoder's."""
    data, rng = jpeg("420"), sample_rng(0, 0, 3)
    box, flip = crop_box(301, 207, rng), rng.random() < 0.5
    expected = tensor_crop(data, box, SIZE, flip)
    monkeypatch.setattr(jpeg_region, "PACKAGE_DIR", builds["fallback"][0])
    jpeg_region._installed.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="mae_bench.data.jpeg_region"):
            assert not jpeg_region.enabled() and jpeg_region.state()["decoder"] == "fallback"
            assert torch.equal(tensor_crop(data, box, SIZE, flip), expected)
        assert caplog.text.count("decoding whole JPEGs: the region decoder was not built at install") == 1
        assert jpeg_region.describe().startswith("fallback: whole-JPEG decodes (compiling it failed")
        with pytest.raises(jpeg_region.DecoderNotBuilt, match="not built at install"):
            jpeg_region.decode_box(data, box)
    finally:
        jpeg_region._installed.cache_clear()


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
        region = jpeg_region.decode_box(data, box, margin=0).permute(1, 2, 0).numpy().astype(int)
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
        jpeg_region.decode_box(data[: len(data) // 3], (150, 0, 50, 300))  # the box lies past the cut
    with pytest.raises(OSError, match="Not a JPEG file"):
        jpeg_region.decode_box(b"GIF89a" + bytes(100), (0, 0, 10, 10))
    with pytest.raises(OSError, match=r"box \(top 200, left 0, 50x300\) outside the 301x207 image"):
        jpeg_region.decode_box(data, (200, 0, 50, 300))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg("420", 640, 480)[:4000])
    k = next(k for k in range(50) if crop_box(640, 480, sample_rng(0, 0, k))[0] > 100
             and dct_scale(*crop_box(640, 480, sample_rng(0, 0, k))[2:], 224) == 1)  # through the region decoder
    with open(cut, "rb") as f, pytest.raises(DataError, match="cut.jpg.*Premature end"):
        load_sample(f, str(cut), 224, sample_rng(0, 0, k))


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
def test_dct_scaled_crops_take_one_route_whatever_the_decoder_state(name):
    """Crop boxes at least 2x, 4x, 8x the output: the pipeline's sample, with the region decoder and without it
    (``region=False``, the fallback's route), is PIL's reduced decode of the whole image, cropped and resized
    (``resized_crop``), bit for bit."""
    data = jpeg(name, 1500, 1100)
    scales = set()
    for size in (64, 128, 256):
        for k in range(6):
            rng = sample_rng(0, 0, k)
            box, flip = crop_box(1500, 1100, rng), rng.random() < 0.5
            scales.add(dct_scale(box[2], box[3], size))
            expected = resized_crop(Image.open(io.BytesIO(data)), box, size, flip)
            for region in (True, False):
                sample = load_sample(io.BytesIO(data), name, size, sample_rng(0, 0, k), region=region)
                assert torch.equal(sample, expected), (name, size, k, region)
    assert scales >= {2, 4, 8}
