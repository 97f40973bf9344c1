"""Hyperparameters of the HyperST head (:class:`hyperst.module.HyperSTHead`), with the method's defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hyperst._constants import Alignment, DecoderInput, HEAReduction, check_choice

_CHOICES = {"alignment": Alignment, "decoder_input": DecoderInput, "hea_reduction": HEAReduction}


@dataclass(frozen=True)
class HyperSTConfig:
    """Hyperparameters of :class:`~hyperst.module.HyperSTHead`, with the defaults of the method (docs/method.md).

    Data sizes (``n_genes``, ``image_dim``) are not here: they come from the data.

    Parameters
    ----------
    embed_dim
        Width ``E`` of the projections, heads and decoder.
    n_blocks
        Residual blocks in every residual MLP (heads and decoder).
    hidden_ratio
        Hidden width of a block's MLP as a multiple of ``E``.
    dropout
        Dropout probability in the residual blocks.
    alpha
        Weight of the alignment losses: ``total = mse + alpha * (hca + beta * hea)``.
    beta
        Weight of HEA relative to HCA.
    alignment
        ``"hyperbolic"`` (HyperST), ``"euclidean"`` (ablation: unit-sphere embeddings, cosine logits, no cones,
        so ``hea`` is 0) or ``"none"`` (ablation: no gene branch, ``hca = hea = 0``; the paper's "alpha = 0").
    entailment
        Use HEA (hyperbolic alignment only).
    image_gene_entailment
        Include the image -> gene HEA pairs (the spot -> niche pairs stay).
    decoder_input
        Aligned image features the decoder reads: ``"spot+niche"`` (concatenated), ``"spot"`` or ``"niche"``.
    entailment_k
        ``K`` of the cone half-aperture ``arcsin(2K / (sqrt(c) ||x||))``.
    eta_image_gene
        Aperture multiplier of the image -> gene pairs.
    eta_spot_niche
        Aperture multiplier of the spot -> niche pairs.
    hea_reduction
        ``"mean"`` of the HEA pair terms (paper) or ``"reference"``: ``0.5 * sum`` (reference code).
    curv_init
        Initial curvature parameter ``c`` (curvature ``-c``).
    curv_min
        Lower clamp of ``c``.
    curv_max
        Upper clamp of ``c``.
    learn_curv
        Learn ``c``.
    temperature_init
        Initial InfoNCE temperature ``tau``.
    max_inverse_temperature
        Upper clamp of ``1 / tau``.
    scale_init
        Initial per-modality scale ``exp(alpha_m)`` before the exponential map; ``None`` means ``E ** -0.5``.
    linear_head
        Add a linear map of the image features (spot and niche, as the decoder reads them) to the decoder's
        prediction, initialised at zero: a linear probe trained jointly with HyperST (not in the paper).
    """

    embed_dim: int = 1024
    n_blocks: int = 2
    hidden_ratio: float = 2.0
    dropout: float = 0.1
    alpha: float = 0.2
    beta: float = 0.4
    alignment: Alignment = "hyperbolic"
    entailment: bool = True
    image_gene_entailment: bool = True
    decoder_input: DecoderInput = "spot+niche"
    entailment_k: float = 0.1
    eta_image_gene: float = 0.7
    eta_spot_niche: float = 1.2
    hea_reduction: HEAReduction = "mean"
    curv_init: float = 1.0
    curv_min: float = 0.1
    curv_max: float = 10.0
    learn_curv: bool = True
    temperature_init: float = 0.07
    max_inverse_temperature: float = 100.0
    scale_init: float | None = None
    linear_head: bool = False

    def __post_init__(self) -> None:
        for name, literal in _CHOICES.items():
            check_choice(name, getattr(self, name), literal)
        for name in ("entailment", "image_gene_entailment", "learn_curv", "linear_head"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"`{name}` must be a bool; got {getattr(self, name)!r}.")
        rules = [
            (isinstance(self.embed_dim, int) and self.embed_dim >= 1, "embed_dim an integer >= 1"),
            (isinstance(self.n_blocks, int) and self.n_blocks >= 0, "n_blocks an integer >= 0"),
            (self.hidden_ratio > 0, "hidden_ratio > 0"),
            (0 <= self.dropout < 1, "0 <= dropout < 1"),
            (self.alpha >= 0 and self.beta >= 0, "alpha >= 0 and beta >= 0"),
            (self.entailment_k > 0, "entailment_k > 0"),
            (self.eta_image_gene > 0 and self.eta_spot_niche > 0, "eta_image_gene > 0 and eta_spot_niche > 0"),
            (0 < self.curv_min <= self.curv_init <= self.curv_max, "0 < curv_min <= curv_init <= curv_max"),
            (
                self.max_inverse_temperature > 0 and 1 / self.max_inverse_temperature <= self.temperature_init,
                "0 < 1 / max_inverse_temperature <= temperature_init",
            ),
            (self.scale_init is None or 0 < self.scale_init <= 1, "scale_init None or in (0, 1]"),
        ]
        failed = [rule for ok, rule in rules if not ok]
        if failed:
            names = [f.name for f in dataclasses.fields(self) if any(f.name in rule.split() for rule in failed)]
            given = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
            raise ValueError(f"Invalid HyperSTConfig: need {'; '.join(failed)}; got {given}.")

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-safe dict (for saving a model)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HyperSTConfig:
        """Build a config from :meth:`to_dict` output, rejecting unknown keys.

        Parameters
        ----------
        values
            Field names and values.

        Returns
        -------
        The validated config.
        """
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"Unknown HyperSTConfig fields {unknown}.")
        return cls(**values)
