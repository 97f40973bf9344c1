"""Pretrained foundation encoders: registry, weight loading (local file and hub cache), gating errors, LoRA."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch

from hyperst.nn.encoders import foundation
from hyperst.nn.encoders.foundation import FOUNDATION_SPECS, FoundationEncoder


def _crops(spec, n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, spec.arch["img_size"], spec.arch["img_size"], generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("name", "out_dim", "depth", "n_params_m"),
    [("uni", 1024, 24, 303.4), ("uni2-h", 1536, 24, 681.4), ("hoptimus0", 1536, 40, 1134.8)],
)
def test_registry_builds_the_published_architectures(name, out_dim, depth, n_params_m):
    from hyperst.nn.encoders.vit import VisionTransformer

    spec = FOUNDATION_SPECS[name]
    with torch.device("meta"):
        vit = VisionTransformer(**spec.arch)
    n_params = sum(p.numel() for p in vit.parameters()) / 1e6
    assert (vit.out_dim, len(vit.blocks), vit.img_size) == (out_dim, depth, 224)
    assert n_params == pytest.approx(n_params_m, abs=0.1)
    assert spec.url.startswith("https://huggingface.co/") and spec.filenames and spec.licence and spec.source
    assert all(0 < s < 1 for s in spec.std) and all(0 < m < 1 for m in spec.mean)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_local_weights_load_frozen(tiny_model, tmp_path, fmt):
    spec, path, vit = tiny_model
    if fmt == "bin":
        path = tmp_path / "pytorch_model.bin"
        torch.save(vit.state_dict(), path)
    enc = FoundationEncoder("tiny", weights=path).eval()
    assert (enc.name, enc.out_dim, enc.input_size, enc.frozen) == ("tiny", 48, 28, True)
    assert not any(p.requires_grad for p in enc.parameters())
    out = enc(_crops(spec))
    assert out.shape == (3, 48) and out.dtype == torch.float32 and torch.isfinite(out).all()
    torch.testing.assert_close(enc(_crops(spec)), out, rtol=0, atol=0)  # deterministic in eval mode


def test_input_is_normalised_with_the_model_statistics(tiny_model):
    spec, path, vit = tiny_model
    enc = FoundationEncoder("tiny", weights=path).eval()
    crops = _crops(spec)
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(enc(crops), vit((crops - mean) / std))
        assert not torch.allclose(enc(crops), vit(crops), atol=1e-3)


def test_config_is_json_safe_rebuilds_and_never_holds_the_token(tiny_model):
    spec, path, _ = tiny_model
    enc = FoundationEncoder("tiny", weights=path, token="hf_secret").eval()
    config = enc.config()
    assert "hf_secret" not in json.dumps(config)
    rebuilt = FoundationEncoder(**config).eval()
    torch.testing.assert_close(rebuilt(_crops(spec)), enc(_crops(spec)), rtol=0, atol=0)


def test_bad_arguments(tiny_model):
    _, path, _ = tiny_model
    with pytest.raises(ValueError, match="Unknown foundation model"):
        FoundationEncoder("uni3", weights=path)
    with pytest.raises(ValueError, match="between 0 and 3"):
        FoundationEncoder("tiny", weights=path, lora_blocks=4)
    with pytest.raises(ValueError, match="lora_rank"):
        FoundationEncoder("tiny", weights=path, lora_blocks=1, lora_rank=0)


def test_checkpoint_of_another_architecture_is_refused(tiny_model, make_vit, tmp_path):
    from safetensors.torch import save_file

    other = make_vit({"img_size": 28, "patch_size": 7, "embed_dim": 48, "depth": 2, "num_heads": 4})
    save_file(other.state_dict(), str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match=r"missing keys \(\d+\): .*blocks\.2\.attn.*shape mismatches"):
        FoundationEncoder("tiny", weights=tmp_path / "other.safetensors")


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """An offline Hugging Face cache in tmp_path; returns a function placing a file at repo/snapshots/<rev>/name."""
    constants = pytest.importorskip("huggingface_hub.constants")
    cache = tmp_path / "hf_cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def place(repo_id: str, filename: str, data: bytes) -> None:
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        (repo / "snapshots" / ("0" * 40)).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / ("0" * 40) / filename).write_bytes(data)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text("0" * 40)

    return place


@pytest.mark.parametrize("filename", ["model.safetensors", "pytorch_model.bin"])
def test_hub_download_reads_the_cache(tiny_model, offline_hub, tmp_path, filename):
    spec, path, vit = tiny_model
    if filename == "pytorch_model.bin":  # the second candidate is used when the first is absent
        torch.save(vit.state_dict(), tmp_path / filename)
        path = tmp_path / filename
    offline_hub(spec.repo_id, filename, path.read_bytes())
    enc = FoundationEncoder("tiny").eval()
    assert enc.config()["weights"] is None
    with torch.no_grad():
        torch.testing.assert_close(enc(_crops(spec)), FoundationEncoder("tiny", weights=path).eval()(_crops(spec)))


def test_hub_without_the_file_says_how_to_pass_weights(tiny_model, offline_hub):
    with pytest.raises(FileNotFoundError, match="weights='path/to/file'"):
        FoundationEncoder("tiny")


@pytest.mark.parametrize("status", [401, 403])
def test_gated_or_unauthorised_download_explains_access(tiny_model, monkeypatch, status):
    hub = pytest.importorskip("huggingface_hub")
    errors = pytest.importorskip("huggingface_hub.errors")
    response = types.SimpleNamespace(status_code=status, headers={}, request=None)
    error = errors.GatedRepoError("gated", response=response) if status == 401 else None
    error = error or errors.HfHubHTTPError("forbidden", response=response)

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(hub, "hf_hub_download", refuse)
    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(PermissionError) as info:
        FoundationEncoder("tiny")
    message = str(info.value)
    for part in ("No Hugging Face token", "https://huggingface.co/hyperst-test/tiny-vit", "request access", "HF_TOKEN"):
        assert part in message
    assert "weights=" in message and "test licence" in message


@pytest.mark.parametrize(("module", "kwargs"), [("huggingface_hub", {}), ("peft", {"lora_blocks": 1})])
def test_missing_extra_names_the_install_command(tiny_model, monkeypatch, module, kwargs):
    _, path, _ = tiny_model
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r'pip install "hyperst\[foundation\]"'):
        FoundationEncoder("tiny", weights=None if module == "huggingface_hub" else path, **kwargs)


def test_lora_on_the_last_qkv_only_starts_at_the_frozen_output_and_trains(tiny_model):
    pytest.importorskip("peft")
    spec, path, _ = tiny_model
    frozen = FoundationEncoder("tiny", weights=path).eval()
    enc = FoundationEncoder("tiny", weights=path, lora_blocks=1)
    assert not enc.frozen and enc.config()["lora_blocks"] == 1
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("backbone.blocks.2.attn.qkv.lora_") for n in trainable)
    assert {n.split(".lora_")[1].split(".")[0] for n in trainable} == {"A", "B"}
    crops = _crops(spec)
    for mode in (enc.train, enc.eval):  # B is zero-initialised: no change, even with LoRA dropout active
        mode()
        torch.testing.assert_close(enc(crops), frozen(crops))
    base = {n: p.detach().clone() for n, p in enc.named_parameters() if not p.requires_grad}
    optimiser = torch.optim.SGD([p for p in enc.parameters() if p.requires_grad], lr=0.5)
    enc.train()
    torch.nn.functional.mse_loss(enc(crops), torch.randn(3, 48)).backward()
    optimiser.step()
    enc.eval()
    assert not torch.allclose(enc(crops), frozen(crops), atol=1e-4)
    assert all(torch.equal(p, base[n]) for n, p in enc.named_parameters() if not p.requires_grad)


def test_autocast_keeps_float32_output(tiny_model):
    spec, path, _ = tiny_model
    enc = FoundationEncoder("tiny", weights=path).eval()
    crops = _crops(spec)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = enc(crops)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, enc(crops), rtol=0.1, atol=0.1)


def test_module_is_importable_without_the_extra_installed():
    assert foundation.download_weights.__module__ == "hyperst.nn.encoders.foundation"
