"""Training-step throughput of mae-bench's MAE against a reference MAE assembled from timm's Block.

The reference follows the official MAE code path (conv patch embed of every patch, then gather;
timm ``Block`` with qkv bias and LayerNorm eps 1e-6; the same decoder), and its optimiser is the official
one (timm weight-decay groups, default AdamW); ``same_optimizer`` gives both sides mae-bench's fused
AdamW to compare the models alone. FLOPs are analytic matmul FLOPs (2 x MACs), training = 3 x
forward, counted as the model defines them (patch embed of all L patches, prediction of all tokens):
ViT-B/16 at 224 px and mask 0.75 gives 58.7 GFLOP per image (docs/references.md).
"""
from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
from timm.layers import PatchEmbed as TimmPatchEmbed
from timm.models.vision_transformer import Block as TimmBlock
from timm.optim import param_groups_weight_decay

from .engine.optim import adamw, param_groups
from .models.mae_vit import MaskedAutoencoderViT, create_mae, gather_tokens, patchify, random_masking
from .models.pos_embed import sincos_pos_embed_2d


def _vit_forward_macs(dim: int, depth: int, tokens: int) -> float:
    """qkv 3D^2 + proj D^2 + mlp 8D^2 per token, plus QK^T and AV (2 T^2 D) per block."""
    return depth * (12 * dim * dim * tokens + 2 * tokens * tokens * dim)


def mae_train_flops(model: MaskedAutoencoderViT, mask_ratio: float = 0.75) -> float:
    """Matmul FLOPs of one training step per image (3 x forward)."""
    return mae_flops(model.embed_dim, len(model.blocks), model.decoder_embed.out_features, len(model.decoder_blocks),
                     model.patch_embed.num_patches, model.patch_size, mask_ratio,
                     getattr(model, "encoder_mask_token", False), model.decoder_pred.out_features)


def mae_flops(dim: int, depth: int, decoder_dim: int, decoder_depth: int, length: int, patch: int,
              mask_ratio: float = 0.75, encoder_mask_token: bool = False, out_dim: int | None = None) -> float:
    """``mae_train_flops`` from the sizes alone: the encoder sees K + 1 tokens (L + 1 with ``encoder_mask_token``),
    the decoder L + 1."""
    keep = length if encoder_mask_token else int(length * (1 - mask_ratio))
    out_dim = patch * patch * 3 if out_dim is None else out_dim
    macs = length * 3 * patch * patch * dim  # patch embedding (as counted for the official model: every patch)
    macs += _vit_forward_macs(dim, depth, keep + 1)
    macs += (keep + 1) * dim * decoder_dim  # decoder_embed
    macs += _vit_forward_macs(decoder_dim, decoder_depth, length + 1)
    macs += (length + 1) * decoder_dim * out_dim  # decoder_pred
    return 3 * 2 * macs


class ReferenceMAE(nn.Module):
    """The official MAE forward written over timm's Block and PatchEmbed (benchmark reference only)."""

    def __init__(self, like: MaskedAutoencoderViT):
        super().__init__()
        d, dd = like.embed_dim, like.decoder_embed.out_features
        p, grid = like.patch_size, like.patch_embed.grid_size
        heads, dheads = like.blocks[0].attn.num_heads, like.decoder_blocks[0].attn.num_heads
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.p, self.norm_pix_loss = p, like.norm_pix_loss
        self.patch_embed = TimmPatchEmbed(like.patch_embed.img_size, p, 3, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(sincos_pos_embed_2d(d, grid), requires_grad=False)
        self.blocks = nn.ModuleList(TimmBlock(d, heads, 4.0, qkv_bias=True, norm_layer=norm) for _ in like.blocks)
        self.norm = norm(d)
        self.decoder_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        self.decoder_pos_embed = nn.Parameter(sincos_pos_embed_2d(dd, grid), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            TimmBlock(dd, dheads, 4.0, qkv_bias=True, norm_layer=norm) for _ in like.decoder_blocks)
        self.decoder_norm = norm(dd)
        self.decoder_pred = nn.Linear(dd, p * p * 3)

    def forward(self, imgs: torch.Tensor, mask_ratio: float = 0.75):
        x = self.patch_embed(imgs) + self.pos_embed[:, 1:]
        ids_keep, mask, ids_restore = random_masking(x.shape[0], x.shape[1], mask_ratio, device=x.device)
        x = gather_tokens(x, ids_keep)
        x = torch.cat([(self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1), x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.decoder_embed(self.norm(x))
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(x.shape[0], mask.shape[1] + 1 - x.shape[1], -1)], 1)
        x = torch.cat([x[:, :1], gather_tokens(tokens, ids_restore)], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        pred = self.decoder_pred(self.decoder_norm(x))[:, 1:]
        target = patchify(imgs, self.p)
        if self.norm_pix_loss:
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        loss = ((pred.float() - target) ** 2).mean(-1)
        return (loss * mask).sum() / mask.sum(), pred, mask


@dataclass
class StepTimer:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    imgs: torch.Tensor
    dtype: torch.dtype | None

    def step(self) -> None:
        ctx = torch.autocast(self.imgs.device.type, dtype=self.dtype) if self.dtype else contextlib.nullcontext()
        with ctx:
            loss = self.model(self.imgs, mask_ratio=0.75)[0]
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def time(self, iters: int) -> float:
        """Seconds per step over ``iters`` steps (device synchronised)."""
        sync = torch.cuda.synchronize if self.imgs.is_cuda else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            self.step()
        sync()
        return (time.perf_counter() - t0) / iters


def optimizer_of(label: str, model: nn.Module, same_optimizer: bool) -> torch.optim.Optimizer:
    """Each side's training-step optimiser as its code base builds it: mae-bench's parameter groups and
    fused AdamW; the official MAE's timm weight-decay groups and default (for-each / per-tensor) AdamW.
    ``same_optimizer`` gives both mae-bench's, to compare the models alone."""
    if label == "mae-bench" or same_optimizer:
        return adamw(param_groups(model, 0.05), lr=1.5e-4, betas=(0.9, 0.95))
    return torch.optim.AdamW(param_groups_weight_decay(model, 0.05), lr=1.5e-4, betas=(0.9, 0.95))


def build_pair(name: str, batch_size: int, device: str, dtype: torch.dtype | None, img_size: int | None = None,
               compile_model: bool = False, same_optimizer: bool = False, **overrides) -> dict[str, StepTimer]:
    torch.manual_seed(0)
    ours = create_mae(name, img_size=img_size, norm_pix_loss=True, **overrides).to(device)
    ref = ReferenceMAE(ours).to(device)
    imgs = torch.randn(batch_size, 3, *ours.patch_embed.img_size, device=device)
    out = {}
    for label, m in (("mae-bench", ours), ("timm-reference", ref)):
        out[label] = StepTimer(torch.compile(m) if compile_model else m, optimizer_of(label, m, same_optimizer), imgs,
                               dtype)
    out["_flops"] = mae_train_flops(ours)
    return out


def compare(name: str, batch_size: int, device: str = "cpu", dtype: str = "fp32", rounds: int = 5, iters: int = 3,
            warmup: int = 2, img_size: int | None = None, compile_model: bool = False, same_optimizer: bool = False,
            **overrides) -> dict:
    """Interleaved timing (A, B, A, B ...): median seconds per step of each, images/s, TFLOP/s, and the
    ratio mae-bench / reference speed as the median over rounds of the paired ratio."""
    torch_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    pair = build_pair(name, batch_size, device, torch_dtype, img_size, compile_model, same_optimizer, **overrides)
    flops = pair.pop("_flops")
    for t in pair.values():
        for _ in range(warmup):
            t.step()
    times = {k: [] for k in pair}
    for _ in range(rounds):
        for k, t in pair.items():
            times[k].append(t.time(iters))
    result = dict(model=name, batch_size=batch_size, device=device, dtype=dtype, gflop_per_image=flops / 1e9,
                  rounds=rounds, iters_per_round=iters, compile=compile_model, same_optimizer=same_optimizer)
    for k, ts in times.items():
        med = statistics.median(ts)
        result[k] = dict(s_per_step=med, images_per_s=batch_size / med, tflops=flops * batch_size / med / 1e12,
                         spread=(max(ts) - min(ts)) / med)
    # paired per round (A and B timed back to back), so load from other processes cancels out
    result["paired_ratios"] = [r / o for o, r in zip(times["mae-bench"], times["timm-reference"])]
    result["ratio"] = statistics.median(result["paired_ratios"])
    if device.startswith("cuda"):
        result["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return result


# ---------------------------------------------------------------- the MAE paper's Table 2: skipping the mask tokens

TABLE2_VARIANTS = (("encoder w/ [M], dec 8", dict(encoder_mask_token=True, decoder_depth=8)),
                   ("dec 8", dict(decoder_depth=8)), ("dec 1", dict(decoder_depth=1)))
# He et al. 2021, Table 2 (800 epochs, 128 TPU-v3 cores): ft top-1 and wall-clock hours; speed-up = w/ [M] / row
PAPER_TABLE2 = {"large": {"encoder w/ [M], dec 8": (84.2, 42.4), "dec 8": (84.9, 15.4), "dec 1": (84.8, 11.6)},
                "huge": {"encoder w/ [M], dec 8": (None, 119.6), "dec 8": (85.8, 34.5), "dec 1": (85.9, 29.3)}}


def mask_token_speedup(name: str, batch_size: int, device: str = "cpu", dtype: str = "fp32", rounds: int = 2,
                       iters: int = 2, warmup: int = 1, img_size: int | None = None) -> dict:
    """Training wall-clock per image (forward, backward, AdamW) of the encoder with mask tokens (decoder 8) against
    the MAE encoder with decoder depth 8 and 1, and the speed-ups w/ [M] time / variant time, beside the paper's.

    One model in memory at a time (ViT-L's weights and AdamW state are ~5 GB in fp32): each round builds and times
    the variants in turn (``warmup`` untimed steps, then ``iters``), so a change of load between rounds reaches all
    variants alike; the speed-up is the median over rounds of the per-round ratio."""
    torch_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    times = {label: [] for label, _ in TABLE2_VARIANTS}
    flops = {}
    for _ in range(rounds):
        for label, kw in TABLE2_VARIANTS:
            torch.manual_seed(0)
            model = create_mae(name, img_size=img_size, norm_pix_loss=True, **kw).to(device)
            imgs = torch.randn(batch_size, 3, *model.patch_embed.img_size, device=device)
            timer = StepTimer(model, optimizer_of("mae-bench", model, False), imgs, torch_dtype)
            for _ in range(warmup):
                timer.step()
            times[label].append(timer.time(iters))
            flops[label] = mae_train_flops(model)
            del timer, model
    base = TABLE2_VARIANTS[0][0]
    size = next((k for k in PAPER_TABLE2 if k in name), None)
    paper = PAPER_TABLE2.get(size, {})
    out = dict(model=name, batch_size=batch_size, device=device, dtype=dtype, rounds=rounds, iters_per_round=iters,
               variants={})
    for label, _ in TABLE2_VARIANTS:
        med = statistics.median(times[label])
        ratios = [b / t for b, t in zip(times[base], times[label])]
        hours = paper.get(label, (None, None))[1]
        out["variants"][label] = dict(
            s_per_image=med / batch_size, gflop_per_image=flops[label] / 1e9, speedup=statistics.median(ratios),
            round_speedups=ratios, flop_ratio=flops[base] / flops[label],
            paper_hours=hours, paper_speedup=(paper[base][1] / hours) if hours else None)
    return out
