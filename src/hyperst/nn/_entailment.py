"""HEA: hierarchical entailment alignment, MERU's entailment-cone loss over four parent -> child pairs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from hyperst._constants import IMAGE_GENE_PAIRS, SPOT_NICHE_PAIRS, HEAReduction
from hyperst.geometry import exterior_angle, half_aperture, no_autocast


def entailment_pairs(
    *, eta_image_gene: float = 0.7, eta_spot_niche: float = 1.2, image_gene: bool = True
) -> tuple[tuple[str, str, float], ...]:
    """Return the ``(parent, child, eta)`` pairs of HyperST (docs/method.md, "HEA").

    The pairs are :data:`hyperst._constants.HIERARCHY_PAIRS`. The image entails the gene profile at both levels, ``(Is -> Gs)`` and ``(In -> Gn)`` with
    ``eta_image_gene``; the spot entails its niche within each modality, ``(Is -> In)`` and ``(Gs -> Gn)``
    with ``eta_spot_niche``. Parents end up closer to the origin (more generic) than their children.

    Parameters
    ----------
    eta_image_gene
        Aperture multiplier of the image -> gene pairs.
    eta_spot_niche
        Aperture multiplier of the spot -> niche pairs.
    image_gene
        Include the image -> gene pairs (``False`` is the paper's "without image->gene HEA" ablation).

    Returns
    -------
    Tuple of ``(parent stream, child stream, eta)``.
    """
    cross = tuple((parent, child, eta_image_gene) for parent, child in IMAGE_GENE_PAIRS)
    within = tuple((parent, child, eta_spot_niche) for parent, child in SPOT_NICHE_PAIRS)
    return (cross if image_gene else ()) + within


def entailment_loss(parent: Tensor, child: Tensor, curv: float | Tensor, *, eta: float, min_radius: float) -> Tensor:
    """Mean over the batch of ``max(0, ext(parent, child) - eta * aper(parent))``.

    Parameters
    ----------
    parent
        Lorentz space components of the parents, shape ``(B, D)``.
    child
        Lorentz space components of the children, shape ``(B, D)``.
    curv
        Curvature parameter ``c`` (the curvature is ``-c``).
    eta
        Multiplier of the half-aperture (below 1 narrows the cone, above 1 widens it).
    min_radius
        ``K`` of the half-aperture.

    Returns
    -------
    0-d float32 tensor; exactly 0 when every child lies inside its parent's (scaled) cone.
    """
    angle = exterior_angle(parent, child, curv)
    aperture = half_aperture(parent, curv, min_radius=min_radius)
    return torch.clamp(angle - eta * aperture, min=0).mean()


class HierarchicalEntailmentLoss(nn.Module):
    """Entailment-cone loss summed over ``(parent, child, eta)`` pairs of streams.

    Parameters
    ----------
    pairs
        ``(parent stream, child stream, eta)`` triples; :func:`entailment_pairs` gives HyperST's.
    min_radius
        ``K`` of the half-aperture (MERU and HyperST: 0.1).
    reduction
        How the pair terms combine. ``"mean"``: their mean, as the paper writes it. ``"reference"``:
        ``0.5 * sum``, as the public reference code computes it (twice the mean for four pairs, i.e. twice
        the HEA weight).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, str, float]] | None = None,
        *,
        min_radius: float = 0.1,
        reduction: HEAReduction = "mean",
    ):
        super().__init__()
        if reduction not in ("mean", "reference"):
            raise ValueError(f"`reduction` must be 'mean' (paper) or 'reference' (0.5 * sum); got {reduction!r}.")
        if min_radius <= 0:
            raise ValueError(f"`min_radius` must be positive; got {min_radius}.")
        self.pairs = tuple(
            (str(p), str(c), float(eta)) for p, c, eta in (entailment_pairs() if pairs is None else pairs)
        )
        if not self.pairs or any(eta <= 0 for *_, eta in self.pairs):
            raise ValueError("`pairs` must hold at least one (parent, child, eta) triple, with eta > 0.")
        self.min_radius = min_radius
        self.reduction = reduction

    def forward(self, embeddings: Mapping[str, Tensor], curv: float | Tensor) -> Tensor:
        """Combine the per-pair entailment losses.

        Parameters
        ----------
        embeddings
            Map from stream name to Lorentz space components of shape ``(B, D)``.
        curv
            Curvature parameter ``c`` of the embeddings.

        Returns
        -------
        0-d float32 tensor.
        """
        missing = sorted({s for p, c, _ in self.pairs for s in (p, c)} - set(embeddings))
        if missing:
            raise ValueError(f"HEA needs embeddings of the streams {missing}; pass the gene inputs too.")
        device_type = next(iter(embeddings.values())).device.type
        with no_autocast(device_type):
            terms = torch.stack(
                [
                    entailment_loss(embeddings[p], embeddings[c], curv, eta=eta, min_radius=self.min_radius)
                    for p, c, eta in self.pairs
                ]
            )
        return terms.mean() if self.reduction == "mean" else 0.5 * terms.sum()
