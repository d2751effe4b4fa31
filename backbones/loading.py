"""mmcv's ``LoadImageFromFile`` with mae-bench's image rules, put in every COCO / ADE20K pipeline by
``mae_bench.transfer.mm_common.apply_image_rules``.

- Orientation: the stored pixels, EXIF orientation ignored (``color_ignore_orientation``), the rule of the
  classification tasks (torchvision's PIL loader) too. COCO boxes, polygons and RLE and ADE20K label maps are in
  the stored pixels' coordinates; mmcv's default ``color`` would rotate an EXIF-tagged image away from them.
- A missing, undecodable or truncated image raises ``DataError`` naming the file, instead of mmcv's bare
  ``AssertionError`` (undecodable) or a silently grey-filled image (OpenCV decodes a truncated JPEG with a warning).
"""
from __future__ import annotations

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmcv.transforms.builder import TRANSFORMS

from mae_bench.data.check import jpeg_truncated
from mae_bench.data.errors import DataError

IGNORE_ORIENTATION = "color_ignore_orientation"


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that names the file it cannot read; default ``color_type``: the stored pixels."""

    def __init__(self, color_type: str = IGNORE_ORIENTATION, **kwargs) -> None:
        super().__init__(color_type=color_type, **kwargs)

    def transform(self, results: dict) -> dict:
        path = results["img_path"]
        try:
            content = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise DataError(f"image {path} is missing") from None
        try:
            img = mmcv.imfrombytes(content, flag=self.color_type, backend=self.imdecode_backend)
        except (OSError, ValueError, SyntaxError) as e:  # the pillow backend raises, cv2 returns None
            raise DataError(f"cannot decode image {path} ({e})") from None
        if img is None:
            raise DataError(f"cannot decode image {path} ({len(content)} bytes, not an image OpenCV reads)")
        if jpeg_truncated(content):
            raise DataError(f"image {path} is a truncated JPEG ({len(content)} bytes, no end-of-image marker)")
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = results["ori_shape"] = img.shape[:2]
        return results
