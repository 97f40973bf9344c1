"""Pretrained pathology foundation models (UNI, UNI2-h, H-optimus-0) as image encoders, optionally with LoRA.

Weights come from the Hugging Face hub (gated repositories: request access on the model page and set ``HF_TOKEN``)
or from a local file (``weights=``). They load into :class:`~hyperst.nn.encoders.vit.VisionTransformer`, a plain
torch copy of timm's ``VisionTransformer`` with the same parameter names, so no timm is needed. The hub download
and LoRA (``peft``) are the optional extra ``pip install "hyperst[foundation]"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from hyperst.nn.encoders.base import ImageEncoder
from hyperst.nn.encoders.vit import VisionTransformer, load_state_dict_strict, read_state_dict

_EXTRA = 'pip install "hyperst[foundation]"'
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class FoundationModel:
    """What it takes to build one pretrained model: hub location, architecture, input normalisation, terms.

    ``arch`` holds the keyword arguments of :class:`~hyperst.nn.encoders.vit.VisionTransformer`; ``filenames`` are
    tried in order on the hub (the first one present is used).
    """

    name: str
    repo_id: str
    filenames: tuple[str, ...]
    arch: dict[str, Any]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    licence: str
    gated: bool = True
    source: str = ""
    notes: str = field(default="", compare=False)

    @property
    def url(self) -> str:
        """Model page on the Hugging Face hub."""
        return f"https://huggingface.co/{self.repo_id}"


FOUNDATION_SPECS: dict[str, FoundationModel] = {
    # UNI (Chen et al., Nat. Med. 2024). Architecture = timm.create_model("vit_large_patch16_224", img_size=224,
    # patch_size=16, init_values=1e-5, num_classes=0): ViT-L/16 (1024-d, 24 blocks, 16 heads, GELU MLP x4), CLS output.
    # Sources: github.com/mahmoodlab/UNI README; mahmoodlab/TRIDENT trident/patch_encoder_models/load.py
    # (UNIInferenceEncoder, strict load of pytorch_model.bin, ImageNet normalisation).
    "uni": FoundationModel(
        name="uni",
        repo_id="MahmoodLab/UNI",
        filenames=("pytorch_model.bin",),
        arch={"img_size": 224, "patch_size": 16, "embed_dim": 1024, "depth": 24, "num_heads": 16, "init_values": 1e-5},
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        licence="CC-BY-NC-ND 4.0, non-commercial academic research only",
        source="github.com/mahmoodlab/UNI README; mahmoodlab/TRIDENT load.py",
    ),
    # UNI2-h: the model card's timm_kwargs for "vit_giant_patch14_224": img_size 224, patch 14, depth 24, 24 heads,
    # embed 1536, init_values 1e-5, mlp_ratio 2.66667 * 2 with SwiGLUPacked + SiLU (fc1 1536 -> 8192, fc2 4096 -> 1536),
    # reg_tokens 8, no_embed_class True; ImageNet normalisation; CLS output (1536-d).
    # Sources: github.com/mahmoodlab/UNI README ("2. Downloading weights + Creating model"); TRIDENT load.py.
    "uni2-h": FoundationModel(
        name="uni2-h",
        repo_id="MahmoodLab/UNI2-h",
        filenames=("pytorch_model.bin",),
        arch={
            "img_size": 224,
            "patch_size": 14,
            "embed_dim": 1536,
            "depth": 24,
            "num_heads": 24,
            "mlp_ratio": 2.66667 * 2,
            "mlp": "swiglu_packed",
            "init_values": 1e-5,
            "reg_tokens": 8,
            "no_embed_class": True,
        },
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        licence="CC-BY-NC-ND 4.0, non-commercial academic research only",
        source="github.com/mahmoodlab/UNI README; mahmoodlab/TRIDENT load.py",
    ),
    # H-optimus-0 (Bioptimus): timm "vit_giant_patch14_reg4_dinov2" (timm vision_transformer.py: patch 14, embed 1536,
    # depth 40, 24 heads, init_values 1e-5, mlp_ratio 2.66667 * 2, SwiGLUPacked + SiLU, reg_tokens 4,
    # no_embed_class True) built with img_size=224 (pos_embed (1, 256, 1536)), global_pool "token"; the card's
    # H&E normalisation mean (0.707223, 0.578729, 0.703617), std (0.211883, 0.230117, 0.177517). 1536-d CLS output.
    # Sources: TRIDENT load.py (HOptimus0InferenceEncoder); huggingface.co/bioptimus/H-optimus-0 model card.
    "hoptimus0": FoundationModel(
        name="hoptimus0",
        repo_id="bioptimus/H-optimus-0",
        filenames=("model.safetensors", "pytorch_model.bin"),
        arch={
            "img_size": 224,
            "patch_size": 14,
            "embed_dim": 1536,
            "depth": 40,
            "num_heads": 24,
            "mlp_ratio": 2.66667 * 2,
            "mlp": "swiglu_packed",
            "init_values": 1e-5,
            "reg_tokens": 4,
            "no_embed_class": True,
        },
        mean=(0.707223, 0.578729, 0.703617),
        std=(0.211883, 0.230117, 0.177517),
        licence="Apache-2.0 (access gated: accept the conditions on the model page)",
        source="timm vit_giant_patch14_reg4_dinov2; mahmoodlab/TRIDENT load.py; H-optimus-0 model card",
    ),
}


def _access_message(spec: FoundationModel) -> str:
    from huggingface_hub import get_token

    found = "A token was found but it has no access." if get_token() else "No Hugging Face token was found."
    return (
        f"Cannot download '{spec.name}' from {spec.repo_id}: access denied. {found} The weights are gated "
        f"({spec.licence}). To use them: 1) log in at {spec.url} and request access (accept the terms); "
        "2) create a read token at https://huggingface.co/settings/tokens; 3) set it as the HF_TOKEN environment "
        "variable (or run `hf auth login`, or pass `token=`). Alternatively download "
        f"{' or '.join(spec.filenames)} yourself and pass `weights='path/to/file'`."
    )


def download_weights(spec: FoundationModel, *, token: str | None = None) -> Path:
    """Path of ``spec``'s weights in the local Hugging Face cache, downloading them if needed.

    ``token=None`` lets ``huggingface_hub`` find one (``HF_TOKEN`` or a stored login).
    """
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError as err:
        raise ImportError(f"Downloading pretrained encoders needs huggingface_hub: {_EXTRA}") from err
    last: Exception | None = None
    for filename in spec.filenames:
        try:
            return Path(huggingface_hub.hf_hub_download(spec.repo_id, filename, token=token))
        except errors.RepositoryNotFoundError as err:  # includes GatedRepoError; private/gated repos answer 401/404
            raise PermissionError(_access_message(spec)) from err
        except errors.EntryNotFoundError as err:  # not in the repo, or offline and not in the cache
            last = err
        except errors.HfHubHTTPError as err:
            if err.response is not None and err.response.status_code in (401, 403):
                raise PermissionError(_access_message(spec)) from err
            raise OSError(f"Downloading {spec.repo_id}/{filename} failed: {err}") from err
    raise FileNotFoundError(
        f"Could not get {' or '.join(spec.filenames)} from {spec.url} (offline, or the files moved): {last}. "
        "Download the weights yourself and pass `weights='path/to/file'`."
    )


def _add_lora(vit: VisionTransformer, n_blocks: int, rank: int, alpha: float, dropout: float) -> None:
    try:
        import peft
    except ImportError as err:
        raise ImportError(f"LoRA fine-tuning (`lora_blocks > 0`) needs peft: {_EXTRA}") from err
    depth = len(vit.blocks)
    targets = [f"blocks.{i}.attn.qkv" for i in range(depth - n_blocks, depth)]
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    peft.inject_adapter_in_model(config, vit)
    for name, param in vit.named_parameters():
        param.requires_grad_("lora_" in name)


class FoundationEncoder(ImageEncoder):
    """A pretrained pathology ViT, frozen, or with LoRA adapters on the ``qkv`` projections of its last blocks.

    Crops in [0, 1] are normalised with the model's own statistics inside ``forward``; the output is the CLS token
    after the final norm, in float32 (also under ``torch.autocast``). HyperST's setting is ``model="uni",
    lora_blocks=11`` (LoRA rank 8, alpha 16, dropout 0.1 on the last 11 of 24 blocks).

    Parameters
    ----------
    model
        Registry name: one of ``FOUNDATION_SPECS`` (``"uni"``, ``"uni2-h"``, ``"hoptimus0"``).
    lora_blocks
        Number of final blocks whose ``attn.qkv`` gets a LoRA adapter; 0 freezes the whole encoder.
    lora_rank, lora_alpha, lora_dropout
        LoRA rank ``r``, scaling ``alpha`` (update scaled by ``alpha / r``) and dropout on the adapter input.
    weights
        Local checkpoint (``.safetensors``, or a ``torch.save`` file loaded with ``weights_only=True``) used instead
        of the hub download; keys must match timm's ``VisionTransformer``.
    token
        Hugging Face token; by default ``HF_TOKEN`` or a stored login. Never saved in :meth:`config`.
    """

    name: ClassVar[str] = "foundation"
    pretrained: ClassVar[bool] = True  # the backbone comes from the hub (or `weights`) again when loading

    def __init__(
        self,
        model: str = "uni",
        *,
        lora_blocks: int = 0,
        lora_rank: int = 8,
        lora_alpha: float = 16,
        lora_dropout: float = 0.1,
        weights: str | Path | None = None,
        token: str | None = None,
    ):
        super().__init__()
        if model not in FOUNDATION_SPECS:
            raise ValueError(f"Unknown foundation model {model!r}; choose one of {sorted(FOUNDATION_SPECS)}.")
        spec = FOUNDATION_SPECS[model]
        depth = int(spec.arch.get("depth", 12))
        if not 0 <= lora_blocks <= depth:
            raise ValueError(
                f"`lora_blocks` must be between 0 and {depth} (the depth of '{model}'), got {lora_blocks}."
            )
        if lora_blocks and (lora_rank < 1 or not 0 <= lora_dropout < 1):
            raise ValueError(f"Need `lora_rank` >= 1 and 0 <= `lora_dropout` < 1, got {lora_rank}, {lora_dropout}.")
        self.name = spec.name  # type: ignore[misc]  # per-instance registry key
        self.spec = spec
        self.lora_blocks, self.lora_rank = lora_blocks, lora_rank
        self.lora_alpha, self.lora_dropout = lora_alpha, lora_dropout
        self.weights = None if weights is None else str(weights)
        path = Path(weights) if weights is not None else download_weights(spec, token=token)
        with torch.device("meta"):  # no random init of hundreds of millions of parameters
            vit = VisionTransformer(**spec.arch)
        load_state_dict_strict(vit, read_state_dict(path), source=str(path))
        vit.requires_grad_(False)
        if lora_blocks:
            _add_lora(vit, lora_blocks, lora_rank, lora_alpha, lora_dropout)
        self.backbone = vit
        self.input_size = vit.img_size
        self.out_dim = vit.out_dim
        self.frozen = lora_blocks == 0
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, 3, input_size, input_size)`` crops in [0, 1] to ``(batch, out_dim)`` float32 features."""
        x = (crops.float() - self.mean) / self.std
        return self.backbone(x).float()

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder (the token is never included)."""
        return {
            "model": self.spec.name,
            "lora_blocks": self.lora_blocks,
            "lora_rank": self.lora_rank,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "weights": self.weights,
        }
