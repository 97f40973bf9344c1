"""The full saved network: image encoder, feature scaler and HyperST head, fed by named batches.

Pure torch: it reads batches of tensors under the :data:`BATCH_IMAGE` / :data:`BATCH_FEATURES` /
:data:`BATCH_GENES` keys and never sees AnnData. :class:`hyperst.HyperST` builds it, the Lightning plan trains it,
and its ``state_dict`` is what a saved model stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from hyperst._constants import AdaptParts, check_choice
from hyperst.module._head import HyperSTHead, HyperSTOutput
from hyperst.nn.encoders import ImageEncoder

BATCH_IMAGE = ("spot_image", "niche_image")  # crops (B, 3, H, W) in [0, 1] for trainable encoders
BATCH_FEATURES = ("spot_features", "niche_features")  # cached features (B, D) for frozen encoders
BATCH_GENES = ("spot_genes", "niche_genes")  # targets of the spot and its niche (B, n_genes), on the model's scale
# Parameter-name prefixes each training part moves (`hst.tl.adapt`): the decoder (and linear head); the image path
# after the encoder (projectors, image alignment heads, projection and scale, decoder); everything.
_DECODER = ("head.decoder.", "head.linear_head.")
PART_PREFIXES: dict[str, tuple[str, ...]] = {
    "head": _DECODER,
    "image": _DECODER
    + (
        "head.image_projectors.",
        "head.alignment.heads.image_",
        "head.alignment.projections.image",
        "head.alignment.log_scale.image",
    ),
    "all": ("",),
}


class FeatureScaler(nn.Module):
    """Standardise frozen-encoder features with statistics of the training spots (saved with the model)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> FeatureScaler:
        """Set mean and scale from ``(n, dim)`` training features; constant features keep scale 1."""
        self.mean.copy_(features.mean(0))
        std = features.std(0)
        self.scale.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))
        return self

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.scale


class ImageToExpression(nn.Module):
    """Image encoder (+ feature scaler when frozen) followed by the HyperST head: everything that is saved.

    Parameters
    ----------
    encoder
        The image encoder (frozen or trainable).
    head
        The :class:`HyperSTHead` on the encoder's spot and niche features.
    """

    def __init__(self, encoder: ImageEncoder, head: HyperSTHead):
        super().__init__()
        self.encoder = encoder
        self.scaler = FeatureScaler(encoder.out_dim)
        self.head = head

    def image_features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Spot and niche features of a batch: cached features when present, else the encoder on the crops."""
        if BATCH_FEATURES[0] in batch:
            spot, niche = (batch[k] for k in BATCH_FEATURES)
        else:
            spot, niche = (self.encoder(batch[k]) for k in BATCH_IMAGE)
        if self.encoder.frozen:
            spot, niche = self.scaler(spot.float()), self.scaler(niche.float())
        return spot, niche

    def forward(self, batch: dict[str, torch.Tensor]) -> HyperSTOutput:
        """Run the head on a batch; gene targets are used (alignment and loss) when the batch has them."""
        return self.forward_with_features(batch)[0]

    def forward_with_features(
        self, batch: dict[str, torch.Tensor], *, with_loss: bool = True
    ) -> tuple[HyperSTOutput, tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`forward`, also returning the spot and niche image features the head read (for distance scores).

        ``with_loss=False`` skips the loss (prediction: the gene streams are still embedded).
        """
        features = self.image_features(batch)
        genes = [batch.get(k) for k in BATCH_GENES]
        return self.head(*features, *genes, with_loss=with_loss), features

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Predicted expression of a batch from its images alone (gene vectors in the batch are not read)."""
        return self.head.predict(*self.image_features(batch))

    def saved_state_keys(self) -> list[str]:
        """State-dict keys a saved model stores: all, except the frozen weights of a pretrained encoder."""
        keys = list(self.state_dict())
        if not self.encoder.pretrained:
            return keys
        trainable = {f"encoder.{name}" for name, p in self.encoder.named_parameters() if p.requires_grad}
        return [k for k in keys if not k.startswith("encoder.") or k in trainable]

    def part_parameters(self, part: AdaptParts) -> list[str]:
        """Names of the trainable parameters that training ``part`` moves (see :data:`PART_PREFIXES`)."""
        check_choice("part", part, AdaptParts)
        prefixes = PART_PREFIXES[part]
        return [n for n, p in self.named_parameters() if p.requires_grad and n.startswith(prefixes)]

    @contextmanager
    def training_only(self, part: AdaptParts) -> Iterator[None]:
        """Within the block, only ``part``'s parameters require gradients (the optimiser sees only those).

        Normalisation layers with running statistics (batch norm) outside ``part`` stay in eval mode, so their
        statistics do not move either: the parts outside ``part`` end bit-identical.
        """
        moved = set(self.part_parameters(part))
        held = [p for n, p in self.named_parameters() if p.requires_grad and n not in moved]
        norms = [
            m
            for name, m in self.named_modules()
            if isinstance(m, nn.modules.batchnorm._NormBase)
            and m.track_running_stats
            and not any(f"{name}.{n}" in moved for n, _ in m.named_parameters())
        ]
        for parameter in held:
            parameter.requires_grad_(False)
        for norm in norms:  # Lightning calls train() on the whole network every epoch: pin these to eval
            norm.train = _eval_only.__get__(norm)
            norm.eval()
        try:
            yield
        finally:
            for parameter in held:
                parameter.requires_grad_(True)
            for norm in norms:
                del norm.train


def _eval_only(module: nn.Module, mode: bool = True) -> nn.Module:
    """``train()`` of a module held in eval mode (see :meth:`ImageToExpression.training_only`)."""
    return nn.Module.train(module, False)
