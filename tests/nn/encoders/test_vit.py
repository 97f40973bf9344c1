"""The timm-compatible ViT: parameter names, strict checkpoint loading, forward conventions, equivalence with timm."""

from __future__ import annotations

import pytest
import torch

from hyperst.nn.encoders.vit import VisionTransformer, load_state_dict_strict, read_state_dict


def test_parameter_names_follow_timm(arch):
    keys = set(VisionTransformer(**arch).state_dict())
    block = {
        f"blocks.0.{k}"
        for k in ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight")
        + ("attn.proj.bias", "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias")
        + ("mlp.fc2.weight", "mlp.fc2.bias", "ls2.gamma")
    }
    top = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"}
    assert top | block <= keys
    assert ("reg_token" in keys) == bool(arch.get("reg_tokens"))
    assert len(keys) == len(top) + len(block) * arch["depth"] + bool(arch.get("reg_tokens"))


def test_shapes_of_packed_swiglu_registers_and_no_embed_class():
    arch = {"img_size": 28, "patch_size": 7, "embed_dim": 48, "depth": 1, "num_heads": 4, "reg_tokens": 2}
    sd = VisionTransformer(**arch, mlp_ratio=2.66667 * 2, mlp="swiglu_packed", no_embed_class=True).state_dict()
    assert sd["blocks.0.mlp.fc1.weight"].shape == (int(48 * 2.66667 * 2), 48)  # fc1 -> 2 x gated width
    assert sd["blocks.0.mlp.fc2.weight"].shape == (48, int(48 * 2.66667 * 2) // 2)
    assert sd["pos_embed"].shape == (1, 16, 48)  # patches only
    assert VisionTransformer(**arch).state_dict()["pos_embed"].shape == (1, 16 + 3, 48)  # cls + 2 registers too
    assert "ls1.gamma" not in "".join(VisionTransformer(**arch, init_values=None).state_dict())


@pytest.mark.parametrize("suffix", [".safetensors", ".bin", ".pth"])
def test_checkpoint_round_trip(arch, make_vit, tmp_path, suffix):
    from safetensors.torch import save_file

    vit = make_vit(arch)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(vit.state_dict(), str(path))
    else:
        torch.save({"state_dict": vit.state_dict()} if suffix == ".pth" else vit.state_dict(), path)
    with torch.device("meta"):
        loaded = VisionTransformer(**arch)
    load_state_dict_strict(loaded, read_state_dict(path), source=str(path))
    x = torch.randn(2, 3, arch["img_size"], arch["img_size"])
    torch.testing.assert_close(loaded.eval()(x), vit(x), rtol=0, atol=0)


def test_half_precision_checkpoint_is_cast_to_float32(arch, make_vit):
    half = {k: v.half() for k, v in make_vit(arch).state_dict().items()}
    vit = VisionTransformer(**arch)
    load_state_dict_strict(vit, half)
    assert all(p.dtype == torch.float32 for p in vit.parameters())


def test_wrong_keys_and_shapes_raise_a_listing_error(arch, make_vit):
    sd = make_vit(arch).state_dict()
    sd["head.weight"] = torch.zeros(3, 3)
    del sd["norm.bias"]
    sd["blocks.0.attn.proj.weight"] = torch.zeros(5, 5)
    with pytest.raises(ValueError, match="does not match") as info:
        load_state_dict_strict(VisionTransformer(**arch), sd, source="ckpt.bin")
    for expected in ("missing keys (1): ['norm.bias']", "unexpected keys (1): ['head.weight']", "attn.proj.weight"):
        assert expected in str(info.value)


def test_read_state_dict_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        read_state_dict(tmp_path / "absent.bin")
    torch.save({"epoch": 3}, tmp_path / "meta.bin")
    with pytest.raises(TypeError, match="state dict"):
        read_state_dict(tmp_path / "meta.bin")


def test_forward_shapes_pooling_and_determinism(arch, make_vit):
    vit = make_vit(arch)
    x = torch.rand(3, 3, arch["img_size"], arch["img_size"])
    out = vit(x)
    assert out.shape == (3, vit.out_dim) == (3, arch["embed_dim"]) and torch.isfinite(out).all()
    torch.testing.assert_close(vit(x), out, rtol=0, atol=0)
    tokens = vit.forward_features(x)
    torch.testing.assert_close(out, tokens[:, 0])
    vit.pool = "cls+mean"
    prefix = 1 + arch.get("reg_tokens", 0)
    torch.testing.assert_close(vit(x), torch.cat([tokens[:, 0], tokens[:, prefix:].mean(1)], 1))


def test_packed_swiglu_gates_with_the_first_half():
    """timm's SwiGLUPacked: silu(first half of fc1) * second half (gate_last=False)."""
    vit = VisionTransformer(
        img_size=8, patch_size=8, embed_dim=8, depth=1, num_heads=2, mlp_ratio=2, mlp="swiglu_packed"
    )
    mlp, x = vit.blocks[0].mlp, torch.randn(4, 8)
    h = x @ mlp.fc1.weight.T + mlp.fc1.bias
    expected = (torch.nn.functional.silu(h[:, :8]) * h[:, 8:]) @ mlp.fc2.weight.T + mlp.fc2.bias
    torch.testing.assert_close(mlp(x), expected)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="divide"):
        VisionTransformer(img_size=30, patch_size=8)
    with pytest.raises(ValueError, match="num_heads"):
        VisionTransformer(embed_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="pool"):
        VisionTransformer(pool="max")
    with pytest.raises(ValueError, match="swiglu"):
        VisionTransformer(mlp="relu")
    vit = VisionTransformer(img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="input_size"):
        vit(torch.rand(1, 3, 32, 32))


def test_outputs_equal_timm(arch, make_vit):
    """Our state dict loads strictly into timm's VisionTransformer and gives the same features.

    Skipped where timm does not import (on the development machines timm needs a CUDA-only torchvision).
    """
    timm = pytest.importorskip("timm")
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    ours = make_vit(arch)
    kwargs = {k: v for k, v in arch.items() if k != "mlp"}
    if arch.get("mlp") == "swiglu_packed":
        kwargs.update(mlp_layer=timm.layers.SwiGLUPacked, act_layer=torch.nn.SiLU)
    reference = TimmViT(**kwargs, num_classes=0, global_pool="token").eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(3, 3, arch["img_size"], arch["img_size"])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)
