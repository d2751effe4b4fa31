"""Decode only the part of a JPEG that a crop needs: libjpeg-turbo's skip-rows and crop-columns calls.

A random-resized crop covers 20-100% of the image, yet a whole-image decode reconstructs every pixel. libjpeg-turbo
(1.5.1+) can skip the rows above a rectangle without the inverse DCT, upsampling and colour conversion
(``jpeg_skip_scanlines``), reconstruct only the iMCU columns that hold it (``jpeg_crop_scanline``), and stop after its
last row. Neither PIL nor torchvision exposes these calls, so ``jpeg_region.c`` (next to this file) wraps them in one
C function, compiled on first use with the system's C compiler against its libjpeg (``cc -O2 -shared -fPIC ...
-ljpeg``: Debian/Ubuntu ``libjpeg-dev``, Fedora ``libjpeg-turbo-devel``) into ``$MAE_BENCH_CACHE`` (default
``~/.cache/mae-bench``) and loaded with ctypes.

The decoded rectangle is the box plus ``MARGIN`` pixels on each side: libjpeg treats the rectangle's edges as image
edges when it upsamples chroma, so the box's pixels then equal those of a whole-image decode bit for bit (tested on
4:4:4, 4:2:2, 4:2:0, grayscale, progressive and restart-marker files against PIL).

Without a compiler or libjpeg's headers the library is unavailable; callers then decode the whole image, and a
warning says why once per process. ``MAE_BENCH_JPEG_REGION=0`` turns region decoding off (``tools/bench_data.py``
times both).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("jpeg_region.c")
MARGIN = 16
COMPILE = ["-O2", "-shared", "-fPIC"]


def cache_dir() -> Path:
    return Path(os.environ.get("MAE_BENCH_CACHE") or Path.home() / ".cache" / "mae-bench")


def enabled() -> bool:
    """Region decoding is wanted (``MAE_BENCH_JPEG_REGION`` is not 0) and the library loads."""
    return os.environ.get("MAE_BENCH_JPEG_REGION", "1") != "0" and library() is not None


@lru_cache(maxsize=None)
def library() -> ctypes.CDLL | None:
    """The compiled ``jpeg_region.c`` (built once per source version and cached), or None with a warning."""
    try:
        path = build()
        # RTLD_DEEPBIND: its libjpeg symbols bind to the libjpeg it was linked with, not to a copy another library
        # (PIL's, torchvision's) put in scope first.
        lib = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL | getattr(os, "RTLD_DEEPBIND", 0))
    except (OSError, RuntimeError) as e:
        log.warning("decoding whole JPEGs: the region decoder is unavailable (%s)", e)
        return None
    fn = lib.mae_jpeg_decode_box
    fn.argtypes = [ctypes.c_char_p, ctypes.c_ulong, *[ctypes.c_int] * 6, ctypes.c_void_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    return lib


def build() -> Path:
    """Compile ``jpeg_region.c`` into the cache (atomically: parallel workers may race) unless already there."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc or gcc) on PATH")
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join([compiler, *COMPILE]).encode()).hexdigest()[:16]
    target = cache_dir() / f"jpeg_region-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run([compiler, *COMPILE, "-o", tmp, str(SOURCE), "-ljpeg"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{compiler} could not build {SOURCE.name} against libjpeg (install libjpeg-turbo's "
                               f"development headers): {done.stderr.strip()[-300:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def decode_box(data: bytes, box: tuple[int, int, int, int], margin: int = MARGIN, denom: int = 1) -> torch.Tensor:
    """The pixels of ``box`` (top, left, h, w) of the image decoded at 1/``denom`` scale (1, 2, 4, 8; the box in
    those pixels): (3, h, w) uint8 RGB, channels-last in memory (packed (h, w, 3)). Raises OSError with libjpeg's
    message for a file it cannot decode."""
    top, left, h, w = box
    out = torch.empty((h, w, 3), dtype=torch.uint8)
    message = ctypes.create_string_buffer(200)
    if library().mae_jpeg_decode_box(data, len(data), denom, margin, top, left, h, w, out.data_ptr(), message) != 0:
        raise OSError(message.value.decode(errors="replace"))
    return out.permute(2, 0, 1)
