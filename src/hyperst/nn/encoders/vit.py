"""A Vision Transformer in plain torch whose parameter names match timm's ``VisionTransformer`` state dict.

Pathology foundation models (UNI, UNI2-h, H-optimus-0) are published as timm ``VisionTransformer`` checkpoints.
timm itself is not a dependency (it pulls torchvision), so this module re-implements the subset of
``timm.models.vision_transformer.VisionTransformer`` those checkpoints use, with the same module tree and therefore
the same state-dict keys: ``patch_embed.proj``, ``cls_token``, ``reg_token``, ``pos_embed``,
``blocks.{i}.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}``, ``norm``.

Reference: timm ``timm/models/vision_transformer.py`` (``Block``, ``VisionTransformer.__init__``, ``_pos_embed``,
``global_pool_nlc``) and ``timm/layers/mlp.py`` (``Mlp``; ``GluMlp`` with ``SwiGLUPacked = partial(GluMlp,
act_layer=nn.SiLU, gate_last=False)``), https://github.com/huggingface/pytorch-image-models. As in timm: LayerNorm
eps 1e-6, exact (erf) GELU, LayerScale ``x * gamma``, fused attention with scale ``head_dim ** -0.5``, no head
(``num_classes=0``), CLS token taken after the final norm (``global_pool="token"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

MlpKind = Literal["gelu", "swiglu_packed"]
Pool = Literal["cls", "mean", "cls+mean"]
_MAX_LISTED = 12


class Attention(nn.Module):
    """Multi-head self-attention with a packed ``qkv`` projection (timm ``Attention``)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class LayerScale(nn.Module):
    """Per-channel residual scaling ``x * gamma`` (timm ``LayerScale``)."""

    def __init__(self, dim: int, init_values: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x * self.gamma


class Mlp(nn.Module):
    """timm ``Mlp`` (fc1, GELU, fc2) or ``SwiGLUPacked`` (fc1 to ``hidden``, ``silu(first half) * second half``, fc2)."""

    def __init__(self, dim: int, hidden: int, kind: MlpKind = "gelu"):
        super().__init__()
        if kind not in ("gelu", "swiglu_packed"):
            raise ValueError(f"`mlp` must be 'gelu' or 'swiglu_packed', got {kind!r}.")
        if kind == "swiglu_packed" and hidden % 2:
            raise ValueError(f"A packed SwiGLU needs an even hidden width, got {hidden}.")
        self.kind = kind
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden // 2 if kind == "swiglu_packed" else hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.fc1(x)
        if self.kind == "gelu":
            x = F.gelu(x)
        else:
            x1, x2 = x.chunk(2, dim=-1)
            x = F.silu(x1) * x2
        return self.fc2(x)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + ls1(attn(norm1(x)))``, then ``x + ls2(mlp(norm2(x)))``."""

    def __init__(
        self, dim: int, num_heads: int, hidden: int, qkv_bias: bool, init_values: float | None, mlp: MlpKind, eps: float
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, hidden, mlp)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping patches by a strided convolution, flattened to ``(batch, patches, dim)``."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """ViT with timm's parameter names; maps ``(batch, 3, img_size, img_size)`` normalised images to features.

    Parameters
    ----------
    img_size
        Side of the square input in pixels (the position embedding is fixed to this grid).
    patch_size
        Side of a patch; must divide ``img_size``.
    in_chans
        Input channels.
    embed_dim, depth, num_heads
        Token width, number of blocks, attention heads.
    mlp_ratio
        MLP hidden width is ``int(embed_dim * mlp_ratio)`` (as in timm; for a packed SwiGLU this is the width of
        ``fc1``'s output, twice the gated width).
    qkv_bias
        Bias on the ``qkv`` projection.
    init_values
        LayerScale initial value; ``None`` disables LayerScale (no ``ls*.gamma`` parameters).
    reg_tokens
        Number of register tokens (``reg_token``), placed after the class token.
    no_embed_class
        Position embeddings cover the patches only (added before the class and register tokens are prepended).
    mlp
        ``"gelu"`` (timm ``Mlp``) or ``"swiglu_packed"`` (timm ``SwiGLUPacked`` with ``act_layer=nn.SiLU``).
    pool
        Output: ``"cls"`` (class token after the final norm, timm ``global_pool="token"``), ``"mean"`` (mean of the
        normed patch tokens, registers excluded) or ``"cls+mean"`` (both concatenated, as Virchow's card does).
    norm_eps
        LayerNorm epsilon.
    """

    def __init__(
        self,
        *,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        init_values: float | None = None,
        reg_tokens: int = 0,
        no_embed_class: bool = False,
        mlp: MlpKind = "gelu",
        pool: Pool = "cls",
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        if patch_size < 1 or img_size % patch_size:
            raise ValueError(f"`patch_size` ({patch_size}) must divide `img_size` ({img_size}).")
        if embed_dim % num_heads:
            raise ValueError(f"`embed_dim` ({embed_dim}) must be divisible by `num_heads` ({num_heads}).")
        if pool not in ("cls", "mean", "cls+mean"):
            raise ValueError(f"`pool` must be 'cls', 'mean' or 'cls+mean', got {pool!r}.")
        self.img_size, self.pool, self.no_embed_class = img_size, pool, no_embed_class
        self.num_prefix_tokens = 1 + reg_tokens
        num_patches = (img_size // patch_size) ** 2
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.reg_token = nn.Parameter(torch.zeros(1, reg_tokens, embed_dim)) if reg_tokens else None
        embed_len = num_patches if no_embed_class else num_patches + self.num_prefix_tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_len, embed_dim))
        hidden = int(embed_dim * mlp_ratio)
        self.blocks = nn.Sequential(
            *(Block(embed_dim, num_heads, hidden, qkv_bias, init_values, mlp, norm_eps) for _ in range(depth))
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.out_dim = 2 * embed_dim if pool == "cls+mean" else embed_dim
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.reg_token is not None:
            nn.init.normal_(self.reg_token, std=1e-6)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """All tokens after the final norm: ``(batch, prefix tokens + patches, embed_dim)``."""
        if x.ndim != 4 or x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(
                f"Expected images of shape (batch, channels, {self.img_size}, {self.img_size}), got {tuple(x.shape)}; "
                "resample crops to the encoder's `input_size`."
            )
        x = self.patch_embed(x)
        prefix = [self.cls_token.expand(x.shape[0], -1, -1)]
        if self.reg_token is not None:
            prefix.append(self.reg_token.expand(x.shape[0], -1, -1))
        if self.no_embed_class:
            x = torch.cat([*prefix, x + self.pos_embed], dim=1)
        else:
            x = torch.cat([*prefix, x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(batch, out_dim)``."""
        tokens = self.forward_features(x)
        if self.pool == "cls":
            return tokens[:, 0]
        mean = tokens[:, self.num_prefix_tokens :].mean(dim=1)
        return mean if self.pool == "mean" else torch.cat([tokens[:, 0], mean], dim=1)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint without unpickling code: ``.safetensors`` via safetensors, else ``torch.load(weights_only=True)``.

    A checkpoint that wraps its tensors in a ``"state_dict"`` or ``"model"`` entry is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at '{path}'.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TypeError(f"'{path}' does not hold a state dict (a mapping of parameter names to tensors).")
    return dict(state)


def load_state_dict_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str = "") -> None:
    """Load ``state_dict`` into ``module`` with exact key and shape matching; floats are cast to float32.

    Uses ``assign=True``, so ``module`` may live on the ``meta`` device (no random initialisation of large models).
    Raises a ``ValueError`` that lists the missing, unexpected and mis-shaped keys.
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state_dict))
        if state_dict[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{label} ({len(keys)}): {keys[:_MAX_LISTED]}{' ...' if len(keys) > _MAX_LISTED else ''}"
            for label, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", shapes),
            )
            if keys
        ]
        raise ValueError(
            f"Checkpoint {source!r} does not match the architecture; " + "; ".join(parts) + ". "
            "Check that the weights belong to the selected model (timm VisionTransformer layout)."
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    module.load_state_dict(state, strict=True, assign=True)
