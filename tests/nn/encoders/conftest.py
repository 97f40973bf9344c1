"""Tiny ViT configurations and a registered tiny foundation model, so encoder tests run in seconds offline."""

from __future__ import annotations

import pytest
import torch

# Two tiny layouts covering what the real checkpoints use: UNI-like (GELU MLP, CLS + position embedding for all
# tokens) and UNI2-h / H-optimus-0-like (packed SwiGLU, register tokens, `no_embed_class`).
TINY_ARCHS = {
    "gelu": {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 4, "init_values": 1e-5},
    "swiglu_reg": {
        "img_size": 28,
        "patch_size": 7,
        "embed_dim": 48,
        "depth": 3,
        "num_heads": 4,
        "mlp_ratio": 2.66667 * 2,
        "mlp": "swiglu_packed",
        "init_values": 1e-5,
        "reg_tokens": 2,
        "no_embed_class": True,
    },
}


def random_vit(arch: dict, seed: int = 0):
    """A tiny ViT with all parameters random (LayerScale and norms too, so a wrong convention shows)."""
    from hyperst.nn.encoders.vit import VisionTransformer

    torch.manual_seed(seed)
    vit = VisionTransformer(**arch)
    with torch.no_grad():
        for name, param in vit.named_parameters():
            if name.endswith(("gamma", "norm1.weight", "norm2.weight", "norm.weight")):
                param.uniform_(0.5, 1.5)
            elif name.endswith("bias") or "token" in name:
                param.normal_(0, 0.1)
    return vit.eval()


@pytest.fixture(params=sorted(TINY_ARCHS))
def arch(request) -> dict:
    """Each tiny architecture in turn."""
    return TINY_ARCHS[request.param]


@pytest.fixture
def tiny_model(monkeypatch, tmp_path):
    """Register a tiny foundation model "tiny" (repo "hyperst-test/tiny-vit"); return (spec, weights path, vit)."""
    from safetensors.torch import save_file

    from hyperst.nn.encoders import foundation

    spec = foundation.FoundationModel(
        name="tiny",
        repo_id="hyperst-test/tiny-vit",
        filenames=("model.safetensors", "pytorch_model.bin"),
        arch=TINY_ARCHS["swiglu_reg"],
        mean=(0.7, 0.55, 0.7),
        std=(0.2, 0.25, 0.15),
        licence="test licence",
    )
    monkeypatch.setitem(foundation.FOUNDATION_SPECS, "tiny", spec)
    vit = random_vit(spec.arch, seed=1)
    path = tmp_path / "model.safetensors"
    save_file(vit.state_dict(), str(path))
    return spec, path, vit


@pytest.fixture
def make_vit():
    """The `random_vit(arch, seed)` factory."""
    return random_vit
