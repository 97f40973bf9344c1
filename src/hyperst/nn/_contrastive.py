"""HCA: hierarchical contrastive alignment, four InfoNCE terms between image and gene embeddings."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hyperst.geometry import no_autocast
from hyperst.nn._utils import clamp_parameter_

#: (query stream, key stream) of each InfoNCE term (docs/method.md, "HCA: hierarchical contrastive alignment"). Cross-level terms go from niche to spot
#: only: one spot can sit in several niches of a batch, so spot -> niche would create false negatives.
HCA_PAIRS: tuple[tuple[str, str], ...] = (
    ("image_spot", "gene_spot"),
    ("gene_spot", "image_spot"),
    ("image_niche", "gene_spot"),
    ("gene_niche", "image_spot"),
)


def info_nce(logits: Tensor) -> Tensor:
    """InfoNCE with the matching pairs on the diagonal: ``cross_entropy(logits, arange(N))`` in float32.

    Parameters
    ----------
    logits
        Tensor of shape ``(N, N)``: row ``i`` scores query ``i`` against every key; key ``i`` is its positive.

    Returns
    -------
    0-d tensor; ``ln N`` when all logits of a row are equal.
    """
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"InfoNCE needs square logits (queries x keys); got shape {tuple(logits.shape)}.")
    with no_autocast(logits.device.type):
        targets = torch.arange(logits.shape[0], device=logits.device)
        return F.cross_entropy(logits.float(), targets)


class HierarchicalContrastiveLoss(nn.Module):
    """Mean of the InfoNCE terms of :data:`~hyperst.nn.HCA_PAIRS` with logits ``similarity(query, key) / tau``.

    The inverse temperature is learnable: ``log(1 / tau)`` starts at ``log(1 / temperature_init)`` and is
    clamped so that ``1 / tau <= max_inverse_temperature`` (in place at each training forward, as in MERU).

    Parameters
    ----------
    temperature_init
        Initial temperature ``tau`` (HyperST and CLIP: 0.07).
    max_inverse_temperature
        Upper bound of ``1 / tau`` (HyperST and CLIP: 100).
    learn_temperature
        Learn ``tau``; otherwise it stays at ``temperature_init``.
    pairs
        ``(query, key)`` stream pairs, one InfoNCE term each.
    """

    def __init__(
        self,
        *,
        temperature_init: float = 0.07,
        max_inverse_temperature: float = 100.0,
        learn_temperature: bool = True,
        pairs: Sequence[tuple[str, str]] = HCA_PAIRS,
    ):
        super().__init__()
        if not 0 < 1 / max_inverse_temperature <= temperature_init:
            raise ValueError(
                "Need 0 < 1 / max_inverse_temperature <= temperature_init; "
                f"got temperature_init={temperature_init}, max_inverse_temperature={max_inverse_temperature}."
            )
        if not pairs:
            raise ValueError("`pairs` must name at least one (query, key) pair of streams.")
        self.pairs = tuple((str(q), str(k)) for q, k in pairs)
        self.log_inverse_temperature = nn.Parameter(
            torch.tensor(math.log(1 / temperature_init)), requires_grad=learn_temperature
        )
        self._max_log = math.log(max_inverse_temperature)

    @property
    def inverse_temperature(self) -> Tensor:
        """``1 / tau`` (0-d tensor, differentiable, clamped)."""
        return self.log_inverse_temperature.clamp(max=self._max_log).exp()

    def forward(self, embeddings: Mapping[str, Tensor], similarity: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        """Average the InfoNCE terms.

        Parameters
        ----------
        embeddings
            Map from stream name to embeddings of shape ``(B, E)``; row ``i`` of every stream is spot ``i``.
        similarity
            Pairwise similarity ``(N, E), (M, E) -> (N, M)``, e.g.
            :meth:`~hyperst.nn.HyperbolicAlignment.similarity` (negative Lorentz distance).

        Returns
        -------
        0-d float32 tensor.
        """
        missing = sorted({s for pair in self.pairs for s in pair} - set(embeddings))
        if missing:
            raise ValueError(f"HCA needs embeddings of the streams {missing}; pass the gene inputs too.")
        if self.training:
            clamp_parameter_(self.log_inverse_temperature, None, self._max_log)
        scale = self.inverse_temperature
        terms = [info_nce(similarity(embeddings[q], embeddings[k]) * scale) for q, k in self.pairs]
        return torch.stack(terms).mean()
