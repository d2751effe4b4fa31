"""The MAE paper's Table 1 ablation options (docs/pretraining.md "Ablation flags"): each changes what it should."""
import random

import pytest
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from conftest import textured_photo
from mae_bench.checkpoints import load_file
from mae_bench.data.imagefolder import pretrain_transform
from mae_bench.errors import ConfigError
from mae_bench.methods import PretrainConfig
from mae_bench.models import create_mae
from mae_bench.models.mae_vit import block_mask, fit_patch_pca, random_masking
from mae_bench.perf import mae_flops


def micro(**kw):
    torch.manual_seed(0)
    return create_mae("mae_vit_micro_patch8", img_size=64, decoder_embed_dim=32, decoder_depth=1,
                      decoder_num_heads=4, **kw)


def components(mask: torch.Tensor) -> int:
    """4-connected components of the True cells of a 2-D bool grid."""
    h, w = mask.shape
    seen, count = set(), 0
    for start in zip(*torch.nonzero(mask, as_tuple=True)):
        start = (int(start[0]), int(start[1]))
        if start in seen:
            continue
        count += 1
        stack = [start]
        seen.add(start)
        while stack:
            r, c = stack.pop()
            for rr, cc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= rr < h and 0 <= cc < w and mask[rr, cc] and (rr, cc) not in seen:
                    seen.add((rr, cc))
                    stack.append((rr, cc))
    return count


def test_grid_keeps_exactly_the_top_left_patch_of_every_2x2_cell():
    model = micro(mask_sampling="grid")  # 64 px / patch 8: an 8x8 grid
    _, _, mask = model(torch.randn(3, 3, 64, 64))
    cells = mask.reshape(3, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(3, 16, 4)
    assert torch.equal((cells == 0).sum(-1), torch.ones(3, 16, dtype=torch.long))  # one kept per cell
    assert (cells[..., 0] == 0).all()  # and it is the cell's top-left patch
    with pytest.raises(ConfigError, match="mask_ratio must be 0.75"):
        model(torch.randn(1, 3, 64, 64), mask_ratio=0.5)


@pytest.mark.parametrize("ratio", [0.5, 0.75])
def test_block_masks_exactly_the_count_in_fewer_pieces_than_random(ratio):
    rng, count = random.Random(0), 196 - int(196 * (1 - ratio))
    blocks = [block_mask(14, 14, count, rng).reshape(14, 14) for _ in range(24)]
    assert all(int(b.sum()) == count for b in blocks)
    g = torch.Generator().manual_seed(0)
    rand = [random_masking(1, 196, ratio, torch.rand(1, 196, generator=g))[1].reshape(14, 14).bool() for _ in range(24)]
    assert all(int(r.sum()) == count for r in rand)
    n_block = sum(map(components, blocks)) / 24
    n_rand = sum(map(components, rand)) / 24
    assert n_block < n_rand / 2, (n_block, n_rand)
    # through the model: the same count per image, the encoder's fixed token number
    model = micro(mask_sampling="block", block_min_patches=4)
    _, _, mask = model(torch.randn(4, 3, 64, 64), mask_ratio=ratio)
    assert torch.equal(mask.sum(1), torch.full((4,), 64 - int(64 * (1 - ratio)), dtype=torch.float))


def test_encoder_with_mask_tokens_sees_all_tokens_and_costs_the_papers_flops():
    seen = {}
    for flag in (False, True):
        model = micro(encoder_mask_token=flag)
        model.blocks[0].register_forward_hook(lambda m, inp, out, flag=flag: seen.__setitem__(flag, inp[0].shape))
        loss, pred, _ = model(torch.randn(2, 3, 64, 64))
        assert pred.shape == (2, 64, 192) and torch.isfinite(loss)
    assert seen[False][1] == 16 + 1 and seen[True][1] == 64 + 1  # K + 1 vs L + 1 tokens
    # ViT-L/16, 224 px, decoder 512-d x 8, mask 75%: the paper's Table 1(c) says 3.3x the FLOPs. Counted by torch on
    # the meta device (no arithmetic runs) and by perf.mae_flops: 3.25 with the cls token (3.29 without it)
    flops = {}
    for flag in (False, True):
        with torch.device("meta"):
            model = create_mae("mae_vit_large_patch16", encoder_mask_token=flag)
            imgs, noise = torch.empty(1, 3, 224, 224), torch.empty(1, 196)
        with FlopCounterMode(display=False) as counter:
            model(imgs, noise=noise)
        flops[flag] = counter.get_total_flops()
    assert flops[True] / flops[False] == pytest.approx(3.3, rel=0.03)
    analytic = mae_flops(1024, 24, 512, 8, 196, 16, 0.75, True) / mae_flops(1024, 24, 512, 8, 196, 16, 0.75, False)
    assert analytic == pytest.approx(flops[True] / flops[False], rel=0.01)


def test_pca_target_is_96_coefficients_that_reconstruct_the_patches():
    # patches of rank 96 in 192 dims: the 96 largest components reconstruct them exactly
    g = torch.Generator().manual_seed(0)
    patches = torch.randn(4000, 96, generator=g) @ torch.randn(96, 192, generator=g) + 3.0
    mean, basis = fit_patch_pca(patches.split(1000), k=96)
    assert basis.shape == (192, 96)
    assert torch.allclose(basis.T @ basis, torch.eye(96), atol=1e-4)
    coeffs = (patches - mean) @ basis
    assert torch.allclose(coeffs @ basis.T + mean, patches, atol=1e-3)
    # full-rank patches: what 96 coefficients leave out is the variance of the dropped components (optimal)
    noisy = patches + 0.1 * torch.randn(4000, 192, generator=g)
    mean, basis = fit_patch_pca([noisy], k=96)
    err = ((noisy - mean) @ basis @ basis.T + mean - noisy).pow(2).sum(1).mean()
    eig = torch.linalg.eigvalsh(torch.cov(noisy.T.double(), correction=0))
    assert float(err) == pytest.approx(float(eig[:96].sum()), rel=0.02)
    # in the model: the decoder predicts 96 numbers per patch, the loss is on the patch's coefficients
    model = micro(target="pca")
    model.set_pca(mean, basis)
    imgs = torch.randn(2, 3, 64, 64)
    loss, pred, _ = model(imgs)
    assert pred.shape == (2, 64, 96) and model.target(model.patchify(imgs)).shape == (2, 64, 96)
    assert model.pred_pixels(pred).shape == (2, 64, 192)


def test_pca_basis_is_fitted_and_saved_in_the_checkpoint(tmp_path, synthetic_imagefolder):
    from mae_bench.pretrain import run_pretrain
    cfg = PretrainConfig(model="mae_vit_micro_patch8", input_size=32, decoder_embed_dim=32, decoder_depth=1,
                         decoder_num_heads=4, device="cpu", batch_size=8, num_workers=0, tensorboard=False,
                         vis_every=1, data_path=str(synthetic_imagefolder), output_dir=str(tmp_path), epochs=1,
                         max_iters_per_epoch=2, target="pca", pca_dim=96, pca_fit_images=16, mask_sampling="block",
                         block_min_patches=4, encoder_mask_token=True, loss_on="all", aug="crop_color")
    run_pretrain(cfg)
    ckpt = load_file(tmp_path / "checkpoint-last.pth")
    basis = ckpt["model"]["pca_basis"]
    assert basis.shape == (192, 96) and torch.allclose(basis.T @ basis, torch.eye(96), atol=1e-3)
    assert "enc_mask_token" in ckpt["model"]
    from mae_bench.checkpoints import load_encoder_state
    from mae_bench.models.vit import create_vit
    report = load_encoder_state(create_vit("micro", img_size=32), tmp_path / "checkpoint-last.pth")
    assert {"enc_mask_token", "pca_mean", "pca_basis"} <= set(report.ignored)  # a transfer loads the encoder
    saved = ckpt["config"]
    assert (saved["target"], saved["mask_sampling"], saved["encoder_mask_token"], saved["loss_on"], saved["aug"]) == \
        ("pca", "block", True, "all", "crop_color")
    assert (tmp_path / "vis" / "recon_epoch0001.png").is_file()


def test_aug_none_is_a_deterministic_center_crop():
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF
    img = Image.fromarray(textured_photo(48, 40, seed=1))
    t = pretrain_transform(32, aug="none")
    out = t(img)
    assert torch.equal(out, t(img))  # no random crop, no flip
    center = TF.center_crop(TF.resize(img, 32, interpolation=InterpolationMode.BICUBIC), 32)
    assert torch.equal(out, t.transforms[-1](TF.to_tensor(center)))
    torch.manual_seed(0)
    crops = {tuple(pretrain_transform(32, aug="crop_fixed")(img).flatten()[:8].tolist()) for _ in range(6)}
    assert len(crops) > 1  # crop_fixed is random


def test_bad_ablation_values_are_refused_naming_the_flag():
    with pytest.raises(ConfigError, match="--mask_sampling 'checker'"):
        PretrainConfig(mask_sampling="checker")
    with pytest.raises(ConfigError, match="--aug 'jitter'"):
        PretrainConfig(aug="jitter")
    with pytest.raises(ConfigError, match="weights_only=True"):
        create_mae("mae_vit_micro_patch8", img_size=32, target="dvae")
    with pytest.raises(ConfigError, match="--norm_pix_loss"):
        create_mae("mae_vit_micro_patch8", img_size=32, target="pca", norm_pix_loss=True)


def test_default_model_is_unchanged_by_the_options():
    """The default path draws the same weights and masks as before the options existed: no new parameters or
    buffers, and a forward consumes exactly one torch.rand(N, L)."""
    model = micro()
    assert not any(k.startswith(("enc_mask_token", "pca_")) for k in model.state_dict())
    torch.manual_seed(1)
    imgs = torch.randn(2, 3, 64, 64)
    state = torch.get_rng_state()
    _, _, mask = model(imgs)
    after = torch.get_rng_state()
    torch.set_rng_state(state)
    _, expected, _ = random_masking(2, 64, 0.75, torch.rand(2, 64))
    assert torch.equal(mask, expected) and torch.equal(torch.get_rng_state(), after)


def test_table2_mode_times_the_three_variants_beside_the_paper():
    from mae_bench.perf import mask_token_speedup
    r = mask_token_speedup("mae_vit_micro_patch8", 2, img_size=32, rounds=1, iters=1, warmup=0)
    v = r["variants"]
    assert list(v) == ["encoder w/ [M], dec 8", "dec 8", "dec 1"]
    assert v["encoder w/ [M], dec 8"]["speedup"] == 1.0 and v["dec 1"]["flop_ratio"] > v["dec 8"]["flop_ratio"] > 1
    assert all(x["s_per_image"] > 0 and x["paper_speedup"] is None for x in v.values())  # no paper row for micro
