"""A HyperST model with a foundation encoder saves its LoRA adapters and head, not the public backbone."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

import hyperst as hst
from hyperst.nn.encoders.foundation import FoundationEncoder


def test_save_skips_the_frozen_backbone_and_restores_lora(tiny_model, tmp_path):
    _, weights, _ = tiny_model
    model = hst.HyperST(["A", "B", "C"], encoder=FoundationEncoder("tiny", weights=weights, lora_blocks=1), embed_dim=8)
    with torch.no_grad():  # make the adapters non-trivial, as after training
        for name, param in model.encoder.named_parameters():
            if "lora_" in name:
                param.add_(0.05)
    model.is_trained = True
    model.save(tmp_path / "model")

    stored = load_file(tmp_path / "model" / "model.safetensors")
    encoder_keys = [k for k in stored if k.startswith("encoder.")]
    assert encoder_keys and all("lora_" in k for k in encoder_keys)
    assert any(k.startswith("head.") for k in stored)  # format 2: the head was stored under "module." before

    loaded = hst.HyperST.load(tmp_path / "model", encoder=FoundationEncoder("tiny", weights=weights, lora_blocks=1))
    crops = torch.rand(2, 3, 28, 28)
    batch = {"spot_image": crops, "niche_image": crops.flip(0)}
    model.network.eval(), loaded.network.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.network(batch).prediction, model.network(batch).prediction)
