"""Decode only the part of a JPEG that a crop needs: libjpeg-turbo's skip-rows and crop-columns calls.

A random-resized crop covers 20-100% of the image, yet a whole-image decode reconstructs every pixel. libjpeg-turbo
(1.5.1+) can skip the rows above a rectangle without the inverse DCT, upsampling and colour conversion
(``jpeg_skip_scanlines``), reconstruct only the iMCU columns that hold it (``jpeg_crop_scanline``), and stop after its
last row. Neither PIL nor torchvision exposes these calls, so ``jpeg_region.c`` (next to this file) wraps them in one
C function.

It is built with the package (``setup.py``'s ``build_ext``: ``make setup``, ``pip install [-e] .`` or
``python setup.py build_ext --inplace``) into ``_jpeg_region*.so`` beside this file, loaded with ctypes, and the build
writes its state beside it (``jpeg_region.build.json``): ``built``, or ``fallback`` with the reason when the C
compiler or libjpeg's headers were missing at install (Debian/Ubuntu ``libjpeg-dev``, Fedora ``libjpeg-turbo-devel``).
At run time a ``built`` library that is missing or fails to load is an error (``DecoderNotBuilt``, naming the file and
the fix), and so is a package never built; under ``fallback`` the pipeline decodes whole JPEGs (the same pixels,
slower) and says so once per process. ``state()`` is what the pretraining log and ``tools/bench_data.py`` record.

The decoded rectangle is the box plus ``MARGIN`` pixels on each side: libjpeg treats the rectangle's edges as image
edges when it upsamples chroma, so the box's pixels then equal those of a whole-image decode bit for bit (tested on
4:4:4, 4:2:2, 4:2:0, grayscale, progressive and restart-marker files against PIL).
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import MaeBenchError

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).parent
STATE_FILE = "jpeg_region.build.json"  # written by setup.py's BuildJpegRegion
MARGIN = 16
FIX = ("build it with `make setup` or `pip install -e .` (or `python setup.py build_ext --inplace` in a source "
       "checkout); the build records the fallback itself where no C compiler or libjpeg headers are found")


class DecoderNotBuilt(MaeBenchError):
    """The region decoder should be there (the package was built with it, or never built) but cannot be loaded."""


def read_state(where: Path = PACKAGE_DIR) -> dict:
    """The install's record in ``where``: {"decoder": "built", "library": file name} or {"decoder": "fallback",
    "reason": ...}; DecoderNotBuilt when the package was never built (a source checkout without a build)."""
    path = where / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DecoderNotBuilt(f"the JPEG region decoder was never built ({path} does not exist): {FIX}") from None


def load(where: Path = PACKAGE_DIR) -> tuple[dict, ctypes.CDLL | None]:
    """(state, library) of the install in ``where``: the state with the library's libjpeg version added, and the
    loaded library, or None under ``fallback``. A ``built`` library that fails to load raises DecoderNotBuilt."""
    state = read_state(where)
    if state.get("decoder") == "fallback":
        return dict(state, libjpeg=None), None
    path = where / str(state.get("library"))
    try:
        # RTLD_DEEPBIND: its libjpeg symbols bind to the libjpeg it was linked with, not to a copy another library
        # (PIL's, torchvision's) put in scope first.
        lib = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL | getattr(os, "RTLD_DEEPBIND", 0))
    except OSError as e:
        raise DecoderNotBuilt(f"the JPEG region decoder {path} was built at install but does not load ({e}): "
                              f"{FIX}") from None
    lib.mae_jpeg_decode_box.argtypes = [ctypes.c_char_p, ctypes.c_ulong, *[ctypes.c_int] * 5, ctypes.c_void_p,
                                        ctypes.c_char_p]
    lib.mae_jpeg_decode_box.restype = ctypes.c_int
    lib.mae_jpeg_lib_version.restype = ctypes.c_char_p
    return dict(state, libjpeg=lib.mae_jpeg_lib_version().decode()), lib


@lru_cache(maxsize=None)
def _installed() -> tuple[dict, ctypes.CDLL | None]:
    """This install's (state, library), loaded once per process; the fallback is said once, here."""
    state, lib = load(PACKAGE_DIR)
    if lib is None:
        log.warning("decoding whole JPEGs: the region decoder was not built at install (%s)", state.get("reason"))
    return state, lib


def state() -> dict:
    """This install's decoder: {"decoder": "built", "libjpeg": "libjpeg-turbo 2.1.5 (libjpeg API 62)", ...} or
    {"decoder": "fallback", "reason": ..., "libjpeg": None}; DecoderNotBuilt when it should load and does not."""
    return {k: v for k, v in _installed()[0].items() if k != "library"}


def describe(s: dict | None = None) -> str:
    """A state (this install's by default; ``tools/bench_data.py`` passes a recorded one) in words, for a log line:
    'built (libjpeg-turbo 2.1.5 (libjpeg API 62))' or 'fallback: whole-JPEG decodes (<why>)'."""
    s = s or state()
    return f"built ({s['libjpeg']})" if s["decoder"] == "built" else f"fallback: whole-JPEG decodes ({s['reason']})"


def enabled() -> bool:
    """The region decoder is built and loads (False under the install's ``fallback``)."""
    return _installed()[1] is not None


def decode_box(data: bytes, box: tuple[int, int, int, int], margin: int = MARGIN,
               lib: ctypes.CDLL | None = None) -> torch.Tensor:
    """The pixels of ``box`` (top, left, h, w) of the image: (3, h, w) uint8 RGB, channels-last in memory (packed
    (h, w, 3)). Raises OSError with libjpeg's message for a file it cannot decode. ``lib``: another build's library
    (``load``), else this install's."""
    top, left, h, w = box
    out = torch.empty((h, w, 3), dtype=torch.uint8)
    message = ctypes.create_string_buffer(200)
    lib = lib or _installed()[1]
    if lib is None:
        raise DecoderNotBuilt(f"the JPEG region decoder was not built at install ({state()['reason']})")
    if lib.mae_jpeg_decode_box(data, len(data), margin, top, left, h, w, out.data_ptr(), message) != 0:
        raise OSError(message.value.decode(errors="replace"))
    return out.permute(2, 0, 1)
