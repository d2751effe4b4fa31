"""mmseg dataset class of the synthetic scenes in ADE20K layout (``tools/make_synthetic.py --format ade20k``).

Same files and label convention as ADE20K (``.jpg`` images, ``.png`` maps, 0 = ignore, read with
``reduce_zero_label=True``) but the 9 classes of ``mae_bench.data.SEMANTIC_CLASSES``.
Loaded by ``configs/ade20k/quick.py`` through ``custom_imports``.
"""
from __future__ import annotations

import colorsys

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from mae_bench.data.synthetic import SEMANTIC_CLASSES


def class_palette(n: int) -> list[list[int]]:
    """``n`` well separated RGB colours (evenly spaced hues)."""
    return [[int(255 * c) for c in colorsys.hsv_to_rgb(i / n, 0.8, 0.9)] for i in range(n)]


@DATASETS.register_module()
class SyntheticADE20KDataset(BaseSegDataset):
    """ADE20K-layout synthetic scenes: ``images/<split>/*.jpg`` and ``annotations/<split>/*.png``."""

    METAINFO = dict(classes=SEMANTIC_CLASSES, palette=class_palette(len(SEMANTIC_CLASSES)))

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", reduce_zero_label: bool = True,
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)
