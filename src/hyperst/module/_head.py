"""The HyperST network as a plain torch module: image features (and, in training, gene vectors) in; tensors out.

It never sees AnnData or SpatialData, and it does not contain the image encoder: it takes the encoder's spot
and niche features (width ``image_dim``). The maths is in docs/method.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hyperst._constants import IMAGE_STREAMS, STREAMS
from hyperst._docs import doc_params
from hyperst.geometry import no_autocast
from hyperst.nn import (
    EuclideanAlignment,
    HierarchicalContrastiveLoss,
    HierarchicalEntailmentLoss,
    HyperbolicAlignment,
    HyperSTConfig,
    ResidualMLP,
    entailment_pairs,
)

_IMAGE_FEATURES = """\
image_spot
    Image-encoder features of the spot crops, shape ``(B, image_dim)``.
image_niche
    Image-encoder features of the niche crops, shape ``(B, image_dim)``."""


@dataclass(frozen=True)
class StreamTensors:
    """One optional tensor per stream: image-spot, image-niche, gene-spot, gene-niche (each ``(B, E)``)."""

    image_spot: Tensor | None = None
    image_niche: Tensor | None = None
    gene_spot: Tensor | None = None
    gene_niche: Tensor | None = None

    def as_dict(self) -> dict[str, Tensor]:
        """Return the tensors that are present, keyed by stream name."""
        return {s: getattr(self, s) for s in STREAMS if getattr(self, s) is not None}


@dataclass(frozen=True)
class HyperSTLoss:
    """Loss terms (0-d float32 tensors): ``total = mse + alpha * (hca + beta * hea)``; disabled terms are 0."""

    total: Tensor
    mse: Tensor
    hca: Tensor
    hea: Tensor


@dataclass(frozen=True)
class HyperSTOutput:
    """Output of :meth:`HyperSTHead.forward`.

    ``features`` are the Euclidean aligned features ``f_s`` (gene ones ``None`` without gene input or without
    alignment). ``embeddings`` are Lorentz space components when ``geometry == "lorentz"``, unit vectors when
    ``geometry == "euclidean"``, all ``None`` when ``geometry is None`` (alignment ``"none"``).
    ``prediction`` is ``(B, n_genes)`` on the ``log2(1 + count)`` scale; ``loss`` is set when genes are given.
    """

    prediction: Tensor
    features: StreamTensors
    embeddings: StreamTensors
    geometry: str | None
    loss: HyperSTLoss | None = None


class HyperSTHead(nn.Module):
    """HyperST after the image encoder: projectors, gene encoders, alignment heads and losses, decoder.

    Parameters
    ----------
    n_genes
        Size of the gene panel (width of gene inputs and predictions).
    image_dim
        Width of the image features given for the spot and niche crops.
    config
        Hyperparameters; defaults to ``HyperSTConfig()`` (:class:`~hyperst.nn.HyperSTConfig`).

    Notes
    -----
    Choices the paper leaves open, or where this module departs from it (docs/method.md, "What `hyperst` adds
    or changes"):

    - The learned scalars (log-curvature, per-modality log-scales, log inverse temperature) are clamped where
      they are used and, at each training forward pass, also in place (as MERU does), so that a value pushed
      onto a bound can come back.
    - ``alignment="none"`` builds no gene branch at all (the paper's "alpha = 0" computes one and ignores it):
      same training signal, and no parameter without a gradient (which distributed training rejects).
    - ``alignment="euclidean"`` embeds ``f / ||f||`` and uses cosine logits with the same learnable
      temperature; cones do not exist there, so ``hea`` is 0 whatever ``entailment`` says.
    - :meth:`parameter_groups` exempts biases, LayerNorm gains and the learned scalars from weight decay
      (MERU's practice; the paper does not say), since decay would drag ``c``, the scales and ``tau`` to 1.
    """

    def __init__(self, n_genes: int, image_dim: int, config: HyperSTConfig | None = None):
        super().__init__()
        if n_genes < 1 or image_dim < 1:
            raise ValueError(f"n_genes and image_dim must be positive; got {n_genes} and {image_dim}.")
        self.n_genes, self.image_dim = n_genes, image_dim
        self.config = cfg = HyperSTConfig() if config is None else config
        width = cfg.embed_dim
        self.image_projectors = nn.ModuleDict({lvl: nn.Linear(image_dim, width) for lvl in ("spot", "niche")})
        heads = {"embed_dim": width, "n_blocks": cfg.n_blocks, "hidden_ratio": cfg.hidden_ratio, "dropout": cfg.dropout}
        self.gene_encoders: nn.ModuleDict | None = None
        self.hca_loss: HierarchicalContrastiveLoss | None = None
        self.hea_loss: HierarchicalEntailmentLoss | None = None
        if cfg.alignment == "none":
            self.alignment = EuclideanAlignment(**heads, streams=IMAGE_STREAMS)
        else:
            self.gene_encoders = nn.ModuleDict({lvl: nn.Linear(n_genes, width) for lvl in ("spot", "niche")})
            if cfg.alignment == "euclidean":
                self.alignment = EuclideanAlignment(**heads)
            else:
                self.alignment = HyperbolicAlignment(
                    **heads,
                    curv_init=cfg.curv_init,
                    curv_range=(cfg.curv_min, cfg.curv_max),
                    learn_curv=cfg.learn_curv,
                    scale_init=cfg.scale_init,
                )
            self.hca_loss = HierarchicalContrastiveLoss(
                temperature_init=cfg.temperature_init, max_inverse_temperature=cfg.max_inverse_temperature
            )
        if cfg.alignment == "hyperbolic" and cfg.entailment:
            pairs = entailment_pairs(
                eta_image_gene=cfg.eta_image_gene,
                eta_spot_niche=cfg.eta_spot_niche,
                image_gene=cfg.image_gene_entailment,
            )
            self.hea_loss = HierarchicalEntailmentLoss(pairs, min_radius=cfg.entailment_k, reduction=cfg.hea_reduction)
        decoder_in = 2 * width if cfg.decoder_input == "spot+niche" else width
        self.linear_head: nn.Linear | None = None
        if cfg.linear_head:  # a linear probe beside the decoder, starting from the paper's model (zero output)
            self.linear_head = nn.Linear((2 if cfg.decoder_input == "spot+niche" else 1) * image_dim, n_genes)
            nn.init.zeros_(self.linear_head.weight)
            nn.init.zeros_(self.linear_head.bias)
        self.decoder = nn.Sequential(
            ResidualMLP(decoder_in, width, n_blocks=cfg.n_blocks, hidden_ratio=cfg.hidden_ratio, dropout=cfg.dropout),
            nn.Linear(width, n_genes),
        )

    @property
    def geometry(self) -> str | None:
        """``"lorentz"``, ``"euclidean"`` or ``None`` (no alignment): what the embeddings are."""
        return None if self.config.alignment == "none" else self.alignment.geometry

    @property
    def curvature(self) -> float | None:
        """Current curvature parameter ``c`` (the curvature is ``-c``); ``None`` unless hyperbolic."""
        curv = self.alignment.curv
        return None if curv is None else float(curv.detach())

    @property
    def temperature(self) -> float | None:
        """Current InfoNCE temperature ``tau``; ``None`` without alignment."""
        return None if self.hca_loss is None else float(1 / self.hca_loss.inverse_temperature.detach())

    def learned_scalars(self) -> dict[str, float]:
        """Return the learned scalars worth logging per epoch: curvature, temperature, per-modality scales."""
        values = {"curvature": self.curvature, "temperature": self.temperature}
        if isinstance(self.alignment, HyperbolicAlignment):
            values |= {f"scale_{m}": float(self.alignment.scale(m).detach()) for m in self.alignment.modalities}
        return {k: v for k, v in values.items() if v is not None}

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Split trainable parameters into AdamW groups: decay on weight matrices only.

        Biases, LayerNorm gains and the learned log-curvature, log-scales and log inverse temperature get no
        weight decay (as in MERU): decay would pull them towards ``c = 1``, scale 1 and ``tau = 1``.

        Parameters
        ----------
        weight_decay
            Weight decay of the matrices (HyperST: 0.01).

        Returns
        -------
        Two parameter groups for :class:`torch.optim.AdamW`.
        """
        trainable = [p for p in self.parameters() if p.requires_grad]
        return [
            {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
        ]

    def _check(self, name: str, x: Tensor | None, width: int, batch: int | None) -> None:
        if x is None:
            return
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != width or batch not in (None, x.shape[0]):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"`{name}` must be a tensor of shape ({batch or 'B'}, {width}); got {shape}.")

    def _encode(
        self, image_spot: Tensor, image_niche: Tensor, gene_spot: Tensor | None, gene_niche: Tensor | None
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        self._check("image_spot", image_spot, self.image_dim, None)
        batch = image_spot.shape[0]
        self._check("image_niche", image_niche, self.image_dim, batch)
        self._check("gene_spot", gene_spot, self.n_genes, batch)
        self._check("gene_niche", gene_niche, self.n_genes, batch)
        if gene_spot is None and gene_niche is not None:
            raise ValueError("`gene_niche` was given without `gene_spot`; pass both (or neither, to predict).")
        inputs = {"image_spot": self.image_projectors["spot"](image_spot)}
        inputs["image_niche"] = self.image_projectors["niche"](image_niche)
        if self.gene_encoders is not None and gene_spot is not None:
            if gene_niche is None:
                raise ValueError("Alignment needs `gene_niche` with `gene_spot`; pass it, or use alignment='none'.")
            inputs["gene_spot"] = self.gene_encoders["spot"](gene_spot)
            inputs["gene_niche"] = self.gene_encoders["niche"](gene_niche)
        features, embeddings = self.alignment(inputs)
        return features, ({} if self.geometry is None else embeddings)

    @doc_params(image_features=_IMAGE_FEATURES)
    def forward(
        self,
        image_spot: Tensor,
        image_niche: Tensor,
        gene_spot: Tensor | None = None,
        gene_niche: Tensor | None = None,
        *,
        with_loss: bool = True,
    ) -> HyperSTOutput:
        """Predict genes from image features; with gene vectors, also embed them and compute the loss.

        Parameters
        ----------
        {image_features}
        gene_spot
            The spots' expression on the model's scale (``log2(1 + count)``, raw or library-size normalised),
            shape ``(B, n_genes)``: gene input of the alignment and target of the prediction. Without it no loss
            is computed.
        gene_niche
            The niches' expression (``log2(1 + mean count)`` on the same scale), shape ``(B, n_genes)``; needed with ``gene_spot`` unless
            ``alignment == "none"`` (where it is ignored).
        with_loss
            Compute the loss when gene vectors are given; ``False`` embeds them only (prediction).

        Returns
        -------
        A :class:`HyperSTOutput`.
        """
        features, embeddings = self._encode(image_spot, image_niche, gene_spot, gene_niche)
        if self.config.decoder_input == "spot+niche":
            decoder_input = torch.cat([features["image_spot"], features["image_niche"]], dim=-1)
        else:
            decoder_input = features[f"image_{self.config.decoder_input}"]
        prediction = self.decoder(decoder_input)
        if self.linear_head is not None:
            images = {"spot": [image_spot], "niche": [image_niche], "spot+niche": [image_spot, image_niche]}
            prediction = prediction + self.linear_head(torch.cat(images[self.config.decoder_input], dim=-1))
        loss = None if gene_spot is None or not with_loss else self.loss(prediction, gene_spot, embeddings)
        return HyperSTOutput(prediction, StreamTensors(**features), StreamTensors(**embeddings), self.geometry, loss)

    def loss(self, prediction: Tensor, target: Tensor, embeddings: dict[str, Tensor]) -> HyperSTLoss:
        """Combine ``mse + alpha * (hca + beta * hea)``, computed in float32.

        Parameters
        ----------
        prediction
            Predicted ``log2(1 + count)``, shape ``(B, n_genes)``.
        target
            Measured ``log2(1 + count)``, shape ``(B, n_genes)``.
        embeddings
            Embeddings of the four streams (ignored without alignment).

        Returns
        -------
        A :class:`HyperSTLoss`.
        """
        with no_autocast(prediction.device.type):
            mse = F.mse_loss(prediction.float(), target.float())
            zero = mse.new_zeros(())
            hca = zero if self.hca_loss is None else self.hca_loss(embeddings, self.alignment.similarity)
            hea = zero if self.hea_loss is None else self.hea_loss(embeddings, self.alignment.curv)
            total = mse + self.config.alpha * (hca + self.config.beta * hea)
        return HyperSTLoss(total=total, mse=mse, hca=hca, hea=hea)

    @doc_params(image_features=_IMAGE_FEATURES)
    def predict(self, image_spot: Tensor, image_niche: Tensor) -> Tensor:
        """Predict ``log2(1 + count)`` of the panel from image features only (call ``eval()`` first).

        Parameters
        ----------
        {image_features}

        Returns
        -------
        Tensor of shape ``(B, n_genes)``.
        """
        return self.forward(image_spot, image_niche).prediction

    @doc_params(image_features=_IMAGE_FEATURES)
    def embed(
        self, image_spot: Tensor, image_niche: Tensor, gene_spot: Tensor | None = None, gene_niche: Tensor | None = None
    ) -> StreamTensors:
        """Embed image features (and gene vectors when given) without computing a loss.

        Parameters
        ----------
        {image_features}
        gene_spot
            Optional spot gene vectors, shape ``(B, n_genes)``.
        gene_niche
            Optional niche gene vectors (required with ``gene_spot``), shape ``(B, n_genes)``.

        Returns
        -------
        The embeddings (see :class:`HyperSTOutput` for what they are in each geometry).
        """
        return StreamTensors(**self._encode(image_spot, image_niche, gene_spot, gene_niche)[1])
