"""MAE model contracts: masking, loss, key names, timm compatibility, initialisation."""
from pathlib import Path

import pytest
import timm
import torch

from mae_bench.errors import ConfigError
from mae_bench.models import (
    ALIASES,
    MODEL_SIZES,
    create_mae,
    create_vit,
    mae_vit_base_patch16,
    mae_vit_tiny_patch16,
    model_size,
    patchify,
    random_masking,
    unpatchify,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

DECODER = dict(decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4)
SMALL = dict(img_size=32, **DECODER)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return mae_vit_tiny_patch16(patch_size=8, **SMALL).eval()


def test_random_masking_keeps_smallest_noise():
    noise = torch.rand(3, 16)
    ids_keep, mask, ids_restore = random_masking(3, 16, 0.75, noise)
    assert mask.shape == (3, 16) and torch.all(mask.sum(1) == 12)
    for i in range(3):
        kept = set(torch.argsort(noise[i])[:4].tolist())
        assert set(ids_keep[i].tolist()) == kept
        assert set(torch.nonzero(mask[i] == 0).flatten().tolist()) == kept
    assert torch.equal(torch.gather(torch.argsort(noise, 1), 1, ids_restore), torch.arange(16).expand(3, 16))


def test_forward_contract_and_reproducible_noise(tiny):
    imgs = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    loss, pred, mask = tiny(imgs, mask_ratio=0.75, noise=noise)
    assert pred.shape == (2, 16, 8 * 8 * 3) and mask.shape == (2, 16)
    loss2, pred2, mask2 = tiny(imgs, mask_ratio=0.75, noise=noise)
    assert torch.equal(mask, mask2) and torch.equal(pred, pred2) and loss == loss2
    latent, mask3, ids_restore = tiny.forward_encoder(imgs, 0.75, noise)
    assert latent.shape == (2, 1 + 4, 192) and torch.equal(mask, mask3) and ids_restore.shape == (2, 16)


def test_encoder_never_sees_removed_patches(tiny):
    imgs = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    latent, mask, _ = tiny.forward_encoder(imgs, 0.75, noise)
    m = unpatchify(mask.unsqueeze(-1).expand(-1, -1, 8 * 8 * 3), 8, (4, 4))
    changed = imgs + 5.0 * torch.randn_like(imgs) * m  # change only the removed patches
    latent2, _, _ = tiny.forward_encoder(changed, 0.75, noise)
    assert torch.allclose(latent, latent2, atol=1e-6)
    assert not torch.allclose(tiny(imgs, noise=noise)[0], tiny(changed, noise=noise)[0])


def test_unmasked_encoder_equals_forward_features(tiny):
    """The kept-patch linear embedding equals the conv patch embedding (mask ratio 0, identity order)."""
    imgs = torch.randn(2, 3, 32, 32)
    latent, _, _ = tiny.forward_encoder(imgs, 0.0, torch.arange(16.0).expand(2, 16))
    torch.testing.assert_close(latent, tiny.forward_features(imgs), atol=1e-5, rtol=1e-5)


def test_loss_is_mse_over_removed_patches_only(tiny):
    imgs = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    _, pred, mask = tiny(imgs, noise=noise)
    target = patchify(imgs, 8)
    perfect_on_removed = torch.where(mask.bool().unsqueeze(-1), target, pred + 100.0)
    assert tiny.forward_loss(imgs, perfect_on_removed, mask).item() == pytest.approx(0.0, abs=1e-10)
    expected = (((pred - target) ** 2).mean(-1) * mask).sum() / mask.sum()
    assert tiny.forward_loss(imgs, pred, mask).item() == pytest.approx(expected.item(), rel=1e-6)


def test_norm_pix_loss_normalises_each_patch():
    model = mae_vit_tiny_patch16(patch_size=8, norm_pix_loss=True, **SMALL)
    patches = patchify(torch.randn(2, 3, 32, 32) * 3 + 7, 8)
    t = model.target(patches)
    torch.testing.assert_close(t.mean(-1), torch.zeros(2, 16), atol=1e-4, rtol=0)
    torch.testing.assert_close(t.var(-1), torch.ones(2, 16), atol=1e-3, rtol=0)


def test_patchify_roundtrip_and_rectangular_images():
    imgs = torch.randn(2, 3, 32, 48)
    assert torch.equal(unpatchify(patchify(imgs, 16), 16, (2, 3)), imgs)
    model = mae_vit_tiny_patch16(img_size=(32, 48), **DECODER)
    loss, pred, mask = model(imgs)
    assert pred.shape == (2, 6, 768) and torch.isfinite(loss)


def test_initialisation_follows_official_code():
    torch.manual_seed(0)
    m = mae_vit_base_patch16()
    assert m.decoder_embed.out_features == 512 and len(m.decoder_blocks) == 8
    assert m.decoder_blocks[0].attn.num_heads == 16
    assert 0.015 < m.cls_token.std().item() < 0.025 and 0.015 < m.mask_token.std().item() < 0.025
    bound = (6 / (768 + 3 * 768)) ** 0.5  # xavier-uniform of qkv [3D, D]
    w = m.blocks[0].attn.qkv.weight
    assert w.abs().max().item() <= bound + 1e-6 and w.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
    assert not m.pos_embed.requires_grad and not m.decoder_pos_embed.requires_grad
    assert torch.all(m.blocks[0].attn.qkv.bias == 0)


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigError, match="mae_vit_base_patch16"):
        create_mae("mae_vit_giant_patch16")


def test_every_name_of_a_size_finds_its_row():
    for size in MODEL_SIZES.values():
        names = [size.label, size.variant, size.mae, f"mae_vit_{size.variant}", size.embed_dim]
        assert all(model_size(n) is size for n in names + [size.timm] * bool(size.timm))
        if size.recipe:
            assert (CONFIGS / "finetune" / f"{size.recipe}.py").is_file()
    with pytest.raises(ConfigError, match="vit-b"):
        model_size("vit-g")


def test_a_size_has_one_canonical_name_and_only_the_listed_aliases():
    """The canonical name is timm's architecture without the image size; a name outside ``ALIASES`` (another case,
    a timm name with its pretrained tag, a width as text) is refused with every accepted name."""
    for size in MODEL_SIZES.values():
        assert model_size(size.name) is size and size.name == f"vit_{size.variant}_patch{size.patch_size}"
        assert size.timm is None or size.timm.startswith(size.name + "_")
    assert set(ALIASES) == {n for s in MODEL_SIZES.values() for n in (s.name, s.label, s.variant, s.mae,
                                                                      f"mae_vit_{s.variant}", s.timm) if n}
    for wrong in ("vit-g", "VIT-B", "vit_base_patch16_224.mae", "768", None):
        with pytest.raises(ConfigError) as refused:
            model_size(wrong)
        assert all(name in str(refused.value) for name in ALIASES)


def test_forward_is_encoder_then_decoder_then_loss(tiny):
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    latent, mask, ids_restore = tiny.forward_encoder(imgs, 0.75, noise)
    pred = tiny.forward_decoder(latent, ids_restore)
    loss, pred2, mask2 = tiny(imgs, 0.75, noise)
    assert torch.equal(pred, pred2) and torch.equal(mask, mask2)
    assert torch.equal(tiny.forward_loss(imgs, pred, mask), loss)


@pytest.mark.parametrize("size", [s for s in MODEL_SIZES.values() if s.timm], ids=lambda s: s.label)
def test_encoder_keys_match_timm(size):
    """Key names and shapes equal timm's ViT of the same size (built on the meta device: no memory)."""
    with torch.device("meta"):
        ours = create_mae(size.mae).encoder_state_dict()
        ref = timm.create_model(size.timm, num_classes=0, pretrained=False).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in ref.items()}


@pytest.mark.parametrize("name,timm_name,size", [("mae_vit_tiny_patch16", "vit_tiny_patch16_224", 224),
                                                 ("mae_vit_base_patch16", "vit_base_patch16_224", 224)])
def test_exported_encoder_loads_strictly_into_timm_with_same_features(name, timm_name, size):
    torch.manual_seed(0)
    ours = create_mae(name, img_size=size).eval()
    ref = timm.create_model(timm_name, num_classes=0, pretrained=False, img_size=size).eval()
    ref.load_state_dict(ours.encoder_state_dict(), strict=True)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_features(x), ref.forward_features(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kw", [dict(indices=3), dict(indices=[0, -1], norm=True, output_fmt="NLC"),
                                dict(indices=2, norm=True, return_prefix_tokens=True, output_fmt="NLC"),
                                dict(indices=[1], stop_early=True, intermediates_only=True)])
def test_forward_intermediates_means_what_timms_does(kw):
    """Same weights in timm's ViT: the chosen blocks, the norm, the layouts and the final tokens all agree."""
    torch.manual_seed(0)
    ours = create_vit("tiny", img_size=64).eval()
    ref = timm.create_model("vit_tiny_patch16_224", num_classes=0, pretrained=False, img_size=64).eval()
    ref.load_state_dict(ours.encoder_state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got, want = ours.forward_intermediates(x, **kw), ref.forward_intermediates(x, **kw)
    if not kw.get("intermediates_only"):
        torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=1e-5)
        got, want = got[1], want[1]
    assert len(got) == len(want) == (kw["indices"] if isinstance(kw["indices"], int) else len(kw["indices"]))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert tuple(got[0][0].shape if kw.get("return_prefix_tokens") else got[0].shape) == (
        (2, 192, 4, 4) if kw.get("output_fmt", "NCHW") == "NCHW" else (2, 16, 192))
