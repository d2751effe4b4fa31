"""The model zoo: published ViT checkpoints by name (``--ckpt zoo:<name>``), with what is known about each.

Every entry names one released file (its ``source``: an ``https://`` URL read through torch.hub's cache, an
``hf-hub:<org>/<name>`` id or a ``timm:<model>.<tag>`` name), how it was pretrained (method, epochs, data), the
model size, the licence, and the numbers its paper (or release page) publishes for it, each with its source.
``aliases`` are other names of the same weights (timm's and Hugging Face's copies): a run given one of them gets
the method and epochs of the entry, and its record names the alias it was given. ``mae_bench.hub`` turns a name
into a local file; ``docs/checkpoints.md`` lists the zoo and the files that are not published.

Hashes: ``sha256`` only where the publisher states one (a torch.hub-style ``-<sha256 prefix>.`` in the file
name, e.g. DeiT's and OpenMMLab's); ``md5`` where the release page lists one (the MAE README's md5 prefixes).
Otherwise the record carries the sha256 computed from the bytes read.

Numbers (``published``) are keyed by the table columns of ``mae_bench.tables`` (``fine-tune``, ``linear``,
``k-NN``, ``AP box``, ``AP mask``, ``mIoU``) and come from results/reference/*.csv and docs/references.md
(the MAE paper's comparison tables) or from the method's own release README where the MAE paper has none.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import CheckpointError

MAE_PAPER = "He et al. 2021, MAE paper (Tables 3-5; results/reference)"
MAE_LINPROBE = "He et al. 2021, MAE paper, linear probing (facebookresearch/mae LINPROBE.md)"
FAIR_MAE = "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_{}.pth"
CC_BY_NC = "CC BY-NC 4.0"


@dataclass(frozen=True)
class Number:
    value: float
    source: str


@dataclass(frozen=True)
class ZooEntry:
    name: str
    source: str  # https://... | hf-hub:org/name[@rev] | timm:model.tag
    method: str  # one of results.PRETRAIN_METHODS
    epochs: int | None
    model: str  # models.sizes label: vit-b, vit-l, vit-h
    data: str  # pretraining data
    licence: str
    published: dict[str, Number] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    sha256: str | None = None  # full hash or a published prefix
    md5: str | None = None  # published prefix
    note: str = ""


def _mae_numbers(ft, lin, lin_src, box=None, mask=None, miou=None) -> dict[str, Number]:
    out = {"fine-tune": Number(ft, MAE_PAPER), "linear": Number(lin, lin_src)}
    for col, value in (("AP box", box), ("AP mask", mask), ("mIoU", miou)):
        if value is not None:
            out[col] = Number(value, MAE_PAPER)
    return out


def _paper(**cols) -> dict[str, Number]:
    """The MAE paper's comparison numbers of a baseline (``fine_tune``, ``ap_box``, ``ap_mask``, ``miou``)."""
    names = {"fine_tune": "fine-tune", "ap_box": "AP box", "ap_mask": "AP mask", "miou": "mIoU"}
    return {names[k]: Number(v, MAE_PAPER) for k, v in cols.items()}


ENTRIES = (
    ZooEntry("mae-vit-b", FAIR_MAE.format("base"), "mae", 1600, "vit-b", "IN-1K", CC_BY_NC,
             _mae_numbers(83.6, 68.0, MAE_LINPROBE, 50.3, 44.9, 48.1), md5="8cad7c",
             aliases=("timm:vit_base_patch16_224.mae",),
             note="official pretrain-only release (encoder, no decoder); norm_pix_loss; converted from TF/TPU"),
    ZooEntry("mae-vit-l", FAIR_MAE.format("large"), "mae", 1600, "vit-l", "IN-1K", CC_BY_NC,
             _mae_numbers(85.9, 75.8, MAE_LINPROBE, 53.3, 47.2, 53.6), md5="b8b06e",
             aliases=("timm:vit_large_patch16_224.mae",),
             note="official pretrain-only release (encoder, no decoder); norm_pix_loss; converted from TF/TPU"),
    ZooEntry("mae-vit-h", FAIR_MAE.format("huge"), "mae", 1600, "vit-h", "IN-1K", CC_BY_NC,
             _mae_numbers(86.9, 76.6, MAE_LINPROBE), md5="9bdbb0",
             aliases=("timm:vit_huge_patch14_224.mae",),
             note="official pretrain-only release (encoder, no decoder); norm_pix_loss; converted from TF/TPU"),
    ZooEntry("vitmae-hf-b", "hf-hub:facebook/vit-mae-base", "mae", None, "vit-b", "IN-1K", CC_BY_NC,
             note="Hugging Face ViTMAE: converted (transformers convert_vit_mae_to_pytorch.py, default source "
                  "mae/visualize/mae_visualize_vit_base.pth) from the visualisation release, whose decoder "
                  "predicts raw pixels (no norm_pix_loss), not from the pretrain-only file; LayerNorm eps 1e-12 "
                  "in its config (the encoder here uses 1e-6); the model card says apache-2.0, the MAE weights "
                  "are released under CC BY-NC 4.0"),
    ZooEntry("vitmae-hf-l", "hf-hub:facebook/vit-mae-large", "mae", None, "vit-l", "IN-1K", CC_BY_NC,
             note="Hugging Face ViTMAE large: the visualisation release converted (see vitmae-hf-b); LayerNorm "
                  "eps 1e-12"),
    ZooEntry("vitmae-hf-h", "hf-hub:facebook/vit-mae-huge", "mae", None, "vit-h", "IN-1K", CC_BY_NC,
             note="Hugging Face ViTMAE huge: the visualisation release converted (see vitmae-hf-b); LayerNorm "
                  "eps 1e-12"),
    ZooEntry("mocov3-vit-b", "https://dl.fbaipublicfiles.com/moco-v3/vit-b-300ep/vit-b-300ep.pth.tar", "mocov3",
             300, "vit-b", "IN-1K", CC_BY_NC,
             _paper(fine_tune=83.2, ap_box=47.9, ap_mask=42.7, miou=47.3)
             | {"linear": Number(76.7, "facebookresearch/moco-v3 README (ViT-Base, 300 epochs, linear)")},
             note="full MoCo v3 checkpoint (base + momentum encoders, predictor); the base encoder is used"),
    ZooEntry("dino-vit-b16", "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/"
             "dino_vitbase16_pretrain.pth", "dino", 400, "vit-b", "IN-1K", "Apache-2.0",
             _paper(fine_tune=82.8) | {
                 "k-NN": Number(76.1, "facebookresearch/dino README (ViT-B/16, k-NN)"),
                 "linear": Number(78.2, "facebookresearch/dino README (ViT-B/16, linear)")},
             aliases=("timm:vit_base_patch16_224.dino", "hf-hub:facebook/dino-vitb16"),
             note="backbone-only release (teacher weights, no DINO head)"),
    ZooEntry("beit-vit-b-in1k-mmselfsup", "https://download.openmmlab.com/mmselfsup/1.x/beit/"
             "beit_vit-base-p16_8xb256-amp-coslr-300e_in1k/beit_vit-base-p16_8xb256-amp-coslr-300e_in1k_"
             "20221128-ab79e626.pth", "beit", 300, "vit-b", "IN-1K", "Apache-2.0",
             {"fine-tune": Number(83.1, "mmselfsup 1.x BEiT model zoo (ViT-B, 300 epochs, fine-tuned 100)")},
             sha256="ab79e626",
             note="OpenMMLab's IN-1K reproduction: the official BEiT release (microsoft/unilm) has self-supervised "
                  "weights only for IN-22K; no IN-1K-only BEiT-L file is published. Its mmpretrain BEiT layout "
                  "(backbone.layers.N with q/v biases) has not been checked against checkpoints.FORMATS"),
    ZooEntry("deit-vit-b", "https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth", "supervised",
             300, "vit-b", "IN-1K", "Apache-2.0",
             {"fine-tune": Number(81.8, "facebookresearch/deit README (DeiT-B, 300 epochs, supervised top-1)")},
             aliases=("timm:deit_base_patch16_224.fb_in1k",), sha256="b5f2ef4d",
             note="supervised DeiT recipe (not the MAE paper's stronger supervised recipe, whose ViT-B "
                  "checkpoint is not published); its top-1 is the supervised training itself"),
)
ZOO: dict[str, ZooEntry] = {e.name: e for e in ENTRIES}
UNPUBLISHED = {
    "MAE paper's supervised ViT-B/L/H (82.3 / 82.6 / 83.1)": "no checkpoint released",
    "MoCo v3 ViT-L": "the moco-v3 release lists ViT-Small and ViT-Base files only",
    "BEiT-B/L self-supervised on IN-1K only (official)": "microsoft/unilm releases IN-22K self-supervised files",
}


def lookup(name: str) -> ZooEntry:
    """``zoo:<name>`` or ``<name>`` -> its entry; an unknown name raises listing the known ones."""
    key = name.removeprefix("zoo:")
    if key not in ZOO:
        raise CheckpointError(f"--ckpt {name}: no zoo entry {key!r}; known: {', '.join(ZOO)} "
                              f"(tools/fetch_ckpt.py --list)")
    return ZOO[key]


def entry_of(name: str) -> ZooEntry | None:
    """The entry that ``name`` (``zoo:<name>``, an entry's source or one of its aliases; a Hugging Face repository
    at any revision, which the record pins by its commit) stands for, else None."""
    if name.startswith("zoo:"):
        return lookup(name)
    if name.startswith("hf-hub:"):
        name = name.partition("@")[0]
    return next((e for e in ENTRIES if name == e.source or name in e.aliases), None)


def names_of(entry: ZooEntry) -> tuple[str, ...]:
    """Every name a record of ``entry``'s weights may carry as its init."""
    return (f"zoo:{entry.name}", entry.source, *entry.aliases)
