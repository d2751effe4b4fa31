"""The masked autoencoder network (He et al. 2021) on the ViT of ``vit.py`` (the official ``models_mae.py``).

``MaskedAutoencoderViT.forward`` is ``forward_encoder`` (mask, encode the kept patches), ``forward_decoder``
(predict every patch) and ``forward_loss``, in that order; ``mae_vit_base_patch16`` and the other sizes are plain
functions over ``create_mae``. Training it is the pretraining method of ``methods/mae.py``.

Shapes: imgs [N, 3, H, W]; L = (H/p)(W/p) patches; K = L(1 - mask_ratio) kept;
patches [N, L, p*p*3] in (p, q, c) order (official ``patchify``); mask [N, L], 1 = removed.

The MAE paper's Table 1 ablations are options of the model (docs/pretraining.md "Ablation flags"; the defaults are
the official recipe and consume the random numbers it does): ``mask_sampling`` random | block | grid,
``encoder_mask_token`` (the encoder sees all L patches, a learned [M] with its position in place of each masked
one), ``target`` pixel | pca (a fixed PCA basis of the patches, ``fit_patch_pca``) and ``loss_on`` masked | all.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .pos_embed import sincos_pos_embed_2d
from .vit import Block, LayerNorm, VisionTransformer, init_linear_and_norm, vit_kwargs


def patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, L, p*p*C], each patch flattened as (row in patch, column, channel)."""
    n, c, h, w = imgs.shape
    gh, gw = h // p, w // p
    x = imgs.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n, gh * gw, p * p * c)


def unpatchify(x: torch.Tensor, p: int, grid: tuple[int, int], c: int = 3) -> torch.Tensor:
    """Inverse of ``patchify``: [N, L, p*p*C] -> [N, C, gh*p, gw*p]."""
    n = x.shape[0]
    gh, gw = grid
    x = x.reshape(n, gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, c, gh * p, gw * p)


def random_masking(n: int, length: int, mask_ratio: float, noise: torch.Tensor | None = None,
                   device: torch.device | None = None):
    """Per-sample uniform random masking by argsort of noise; the smallest noise is kept.

    Returns ids_keep [N, K], mask [N, L] (1 = removed, in the original order) and
    ids_restore [N, L] (argsort of the shuffle, to unshuffle decoder tokens).
    """
    len_keep = int(length * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(n, length, device=device)
    elif noise.shape != (n, length):
        raise ValueError(f"noise must have shape {(n, length)}, got {tuple(noise.shape)}")
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(n, length, device=noise.device)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_shuffle[:, :len_keep], mask, ids_restore


MASK_SAMPLINGS = ("random", "block", "grid")
TARGETS = ("pixel", "pca", "dvae")
LOSS_ON = ("masked", "all")
DVAE_REFUSAL = ("--target dvae is not supported: the only published dVAE tokenizer (DALL-E's encoder.pkl, used by "
                "BEiT and the MAE paper's Table 1(d)) is a pickled torch module, which mae-bench will not unpickle (it "
                "loads every file with torch.load(weights_only=True)); docs/fidelity.md 'dVAE target'")


def block_mask(height: int, width: int, count: int, rng, min_patches: int = 16,
               min_aspect: float = 0.3) -> torch.Tensor:
    """[height * width] bool, exactly ``count`` True (masked): BEiT's block-wise masking, then topped up.

    Blocks as BEiT's ``MaskingGenerator`` draws them: area uniform in [min_patches, patches still to mask], log
    aspect ratio uniform in [log min_aspect, -log min_aspect], up to 10 tries per block, a block accepted when it
    adds between 1 and the remaining count of new patches; blocks are drawn until the count is reached or a block
    cannot be placed. The generator never overshoots; what it leaves short (at most a block's worth) is topped up
    with patches drawn uniformly from the unmasked ones, so the encoder always sees the same number of tokens.
    ``rng`` is a ``random.Random``.
    """
    import math
    grid = torch.zeros(height, width, dtype=torch.bool)
    masked = 0
    log_lo, log_hi = math.log(min_aspect), math.log(1 / min_aspect)
    while masked < count:
        left_to_mask, delta = count - masked, 0
        for _ in range(10):
            area = rng.uniform(min_patches, left_to_mask)
            aspect = math.exp(rng.uniform(log_lo, log_hi))
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if w < width and h < height:
                top, left = rng.randint(0, height - h), rng.randint(0, width - w)
                block = grid[top:top + h, left:left + w]
                new = h * w - int(block.sum())
                if 0 < new <= left_to_mask:
                    block.fill_(True)
                    delta = new
                    break
        if delta == 0:
            break
        masked += delta
    flat = grid.flatten()
    if masked < count:  # top up: uniformly among the unmasked patches
        free = torch.nonzero(~flat).flatten().tolist()
        flat[rng.sample(free, count - masked)] = True
    return flat


def grid_keep(height: int, width: int) -> torch.Tensor:
    """[height * width] bool: the patch kept in every 2x2 cell (its top-left one), the paper's 'grid' sampling."""
    if height % 2 or width % 2:
        raise ConfigError(f"--mask_sampling grid keeps one patch of every 2x2 cell: the patch grid {height}x{width} "
                          f"must have even sides")
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return ((rows % 2 == 0) & (cols % 2 == 0)).flatten()


def fit_patch_pca(patches, k: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA of patch vectors: ``patches`` an iterable of [..., P] tensors -> (mean [P], basis [P, k]), the
    eigenvectors of the covariance (float64 sums) with the k largest eigenvalues, largest first."""
    total, outer, count = None, None, 0
    for x in patches:
        x = x.reshape(-1, x.shape[-1]).double()
        total = x.sum(0) if total is None else total + x.sum(0)
        outer = x.T @ x if outer is None else outer + x.T @ x
        count += x.shape[0]
    return pca_from_sums(total, outer, count, k)


def pca_from_sums(total: torch.Tensor, outer: torch.Tensor, count: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, basis [P, k]) from the sum, the sum of outer products and the count of the vectors."""
    if k > total.shape[0]:
        raise ConfigError(f"--pca_dim {k} exceeds the patch dimension {total.shape[0]}")
    mean = total / count
    cov = outer / count - torch.outer(mean, mean)
    values, vectors = torch.linalg.eigh(cov)
    order = torch.argsort(values, descending=True)[:k]
    return mean.float(), vectors[:, order].float()


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """x [N, L, D], ids [N, K] -> [N, K, D]."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class MaskedAutoencoderViT(VisionTransformer):
    """MAE: the ViT encoder sees the kept patches (+ cls); a light decoder reconstructs all pixels."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, depth=12, num_heads=12,
                 mlp_ratio=4.0, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16,
                 norm_pix_loss=False, mask_ratio=0.75, drop_path_rate=0.0, mask_sampling="random",
                 block_min_patches=16, encoder_mask_token=False, target="pixel", pca_dim=96, loss_on="masked"):
        for name, value, known in (("mask_sampling", mask_sampling, MASK_SAMPLINGS), ("target", target, TARGETS),
                                   ("loss_on", loss_on, LOSS_ON)):
            if value not in known:
                raise ConfigError(f"--{name} {value!r}: known {', '.join(known)}")
        if target == "dvae":
            raise ConfigError(DVAE_REFUSAL)
        if target == "pca" and norm_pix_loss:
            raise ConfigError("--target pca predicts PCA coefficients of the patches; --norm_pix_loss is for "
                              "--target pixel (pass --no-norm_pix_loss)")
        super().__init__(img_size, patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio, drop_path_rate)
        self.in_chans, self.norm_pix_loss, self.mask_ratio = in_chans, norm_pix_loss, mask_ratio
        self.mask_sampling, self.block_min_patches, self.encoder_mask_token = mask_sampling, block_min_patches, \
            encoder_mask_token
        self.target_kind, self.loss_on = target, loss_on
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        pos = sincos_pos_embed_2d(decoder_embed_dim, self.patch_embed.grid_size, cls_token=True)
        self.decoder_pos_embed = nn.Parameter(pos, requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio) for _ in range(decoder_depth))
        self.decoder_norm = LayerNorm(decoder_embed_dim)
        out_dim = pca_dim if target == "pca" else patch_size**2 * in_chans
        self.decoder_pred = nn.Linear(decoder_embed_dim, out_dim)
        if target == "pca":  # fitted before training (methods/mae.py PCAFitHook), saved with the weights
            self.register_buffer("pca_mean", torch.zeros(patch_size**2 * in_chans))
            self.register_buffer("pca_basis", torch.zeros(patch_size**2 * in_chans, pca_dim))
        self.apply(init_linear_and_norm)
        self.init_encoder_weights()
        nn.init.normal_(self.mask_token, std=0.02)
        if encoder_mask_token:  # created last: the default model draws the same initial weights as before
            self.enc_mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
            nn.init.normal_(self.enc_mask_token, std=0.02)

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        return patchify(imgs, self.patch_size)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        return unpatchify(x, self.patch_size, self.patch_embed.grid_size, self.in_chans)

    def _embed_kept(self, patches: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """Project only the kept patches: equal to the conv patch embed followed by the gather,
        at a quarter of its cost (the projection is linear and the patches do not overlap)."""
        kept = gather_tokens(patches, ids_keep)
        x = torch.nn.functional.linear(kept, self.patch_embed.linear_weight(), self.patch_embed.proj.bias)
        return x + gather_tokens(self.pos_embed[:, 1:].expand(x.shape[0], -1, -1), ids_keep)

    def mask_noise(self, n: int, mask_ratio: float, device=None, generator: torch.Generator | None = None):
        """[N, L] noise whose argsort (smallest kept) gives this model's mask sampling: uniform noise for random
        masking (the official draw), 0 / 1 plus a raster-order tie-break for block and grid masks."""
        length = self.patch_embed.num_patches
        if self.mask_sampling == "random":
            return torch.rand(n, length, generator=generator).to(device) if generator is not None else \
                torch.rand(n, length, device=device)
        gh, gw = self.patch_embed.grid_size
        if self.mask_sampling == "grid":
            if abs(mask_ratio - 0.75) > 1e-9:
                raise ConfigError(f"--mask_sampling grid keeps one patch of every 2x2 cell: --mask_ratio must be 0.75, "
                                  f"got {mask_ratio}")
            masked = (~grid_keep(gh, gw)).expand(n, -1)
        else:
            import random
            count = length - int(length * (1 - mask_ratio))
            rng = random.Random(int(torch.randint(2**62, (1,), generator=generator)))
            masked = torch.stack([block_mask(gh, gw, count, rng, self.block_min_patches) for _ in range(n)])
        return (masked.float() + torch.arange(length) / (2 * length)).to(device)

    def forward_encoder(self, imgs: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None):
        """imgs [N, 3, H, W] -> latent [N, 1 + K, D] (cls first), mask [N, L], ids_restore [N, L]. ``noise`` [N, L]
        fixes the masking (None: drawn here, by ``mask_noise`` for block and grid sampling)."""
        patches = self.patchify(imgs)
        n, length, _ = patches.shape
        if noise is None and self.mask_sampling != "random":
            noise = self.mask_noise(n, mask_ratio, patches.device)
        ids_keep, mask, ids_restore = random_masking(n, length, mask_ratio, noise, patches.device)
        if self.encoder_mask_token:
            return self._encode_with_mask_tokens(patches, mask), mask, ids_restore
        x = self.add_cls(self._embed_kept(patches, ids_keep), self.pos_embed)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def _encode_with_mask_tokens(self, patches, mask):
        """Table 1(c) 'encoder w/ [M]': every patch embedded, the masked ones replaced by the encoder's mask token,
        all with their position embeddings -> [N, 1 + L, D]."""
        x = torch.nn.functional.linear(patches, self.patch_embed.linear_weight(), self.patch_embed.proj.bias)
        m = mask.unsqueeze(-1).to(x.dtype)
        x = x * (1 - m) + self.enc_mask_token.to(x.dtype) * m + self.pos_embed[:, 1:]
        x = self.add_cls(x, self.pos_embed)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """latent [N, 1 + K, D] -> pred [N, L, p*p*3]; removed positions get the shared mask token."""
        x = self.decoder_embed(latent)
        n, length = ids_restore.shape
        if self.encoder_mask_token:  # the encoder already holds every position, in order
            x = x + self.decoder_pos_embed
        else:
            mask_tokens = self.mask_token.to(x.dtype).expand(n, length + 1 - x.shape[1], -1)
            tokens = gather_tokens(torch.cat([x[:, 1:], mask_tokens], dim=1), ids_restore)
            x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def target(self, patches: torch.Tensor) -> torch.Tensor:
        """Per-patch pixel target; with norm_pix_loss each patch is normalised by its mean and variance; with
        target pca the patch's coefficients on the PCA basis."""
        if self.target_kind == "pca":
            return (patches - self.pca_mean) @ self.pca_basis
        if not self.norm_pix_loss:
            return patches
        mean = patches.mean(dim=-1, keepdim=True)
        var = patches.var(dim=-1, keepdim=True)
        return (patches - mean) / (var + 1.0e-6) ** 0.5

    def pca_fitted(self) -> bool:
        return self.target_kind != "pca" or bool(self.pca_basis.abs().sum() > 0)

    def set_pca(self, mean: torch.Tensor, basis: torch.Tensor) -> None:
        self.pca_mean.copy_(mean)
        self.pca_basis.copy_(basis)

    def pred_pixels(self, pred: torch.Tensor) -> torch.Tensor:
        """The prediction as patch pixels (model-input units; per-patch normalised with norm_pix_loss)."""
        return pred @ self.pca_basis.T + self.pca_mean if self.target_kind == "pca" else pred

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the removed patches only (every patch with loss_on all)."""
        loss = ((pred.float() - self.target(self.patchify(imgs).float())) ** 2).mean(dim=-1)
        if self.loss_on == "all":
            return loss.mean()
        return (loss * mask).sum() / mask.sum()

    def forward(self, imgs: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None):
        """-> (loss, pred [N, L, p*p*3], mask [N, L]): encoder, decoder, loss. ``noise`` [N, L] fixes the masking."""
        mask_ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        loss = self.forward_loss(imgs, pred, mask)
        return loss, pred, mask

    def decoder_state_dict(self) -> dict[str, torch.Tensor]:
        enc = self.encoder_state_dict()
        return {k: v for k, v in self.state_dict().items() if k not in enc}


DECODER_DEFAULTS = dict(decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)


def create_mae(name: str, **overrides) -> MaskedAutoencoderViT:
    """Build an MAE by name: ``mae_vit_base_patch16`` (any name ``model_size`` knows), with keyword overrides
    (img_size, patch_size, norm_pix_loss, decoder_embed_dim, decoder_depth, decoder_num_heads, mask_ratio,
    drop_path_rate, and the ablation options mask_sampling, block_min_patches, encoder_mask_token, target, pca_dim,
    loss_on)."""
    kw = {**DECODER_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    return MaskedAutoencoderViT(**vit_kwargs(name, **kw))


def mae_vit_micro_patch8(**overrides) -> MaskedAutoencoderViT:
    """MAE with the demo's micro ViT (128-d, 6 blocks, 4 heads, patch 8); ``overrides`` as ``create_mae``."""
    return create_mae("mae_vit_micro_patch8", **overrides)


def mae_vit_tiny_patch16(**overrides) -> MaskedAutoencoderViT:
    """MAE with a ViT-T/16 encoder (192-d, 12 blocks, 3 heads); ``overrides`` as ``create_mae``."""
    return create_mae("mae_vit_tiny_patch16", **overrides)


def mae_vit_small_patch16(**overrides) -> MaskedAutoencoderViT:
    """MAE with a ViT-S/16 encoder (384-d, 12 blocks, 6 heads); ``overrides`` as ``create_mae``."""
    return create_mae("mae_vit_small_patch16", **overrides)


def mae_vit_base_patch16(**overrides) -> MaskedAutoencoderViT:
    """MAE with a ViT-B/16 encoder (768-d, 12 blocks, 12 heads); ``overrides`` as ``create_mae``."""
    return create_mae("mae_vit_base_patch16", **overrides)


def mae_vit_large_patch16(**overrides) -> MaskedAutoencoderViT:
    """MAE with a ViT-L/16 encoder (1024-d, 24 blocks, 16 heads); ``overrides`` as ``create_mae``."""
    return create_mae("mae_vit_large_patch16", **overrides)


def mae_vit_huge_patch14(**overrides) -> MaskedAutoencoderViT:
    """MAE with a ViT-H/14 encoder (1280-d, 32 blocks, 16 heads); ``overrides`` as ``create_mae``."""
    return create_mae("mae_vit_huge_patch14", **overrides)
