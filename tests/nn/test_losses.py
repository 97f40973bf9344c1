"""HCA (InfoNCE over four stream pairs) and HEA (entailment cones over four parent -> child pairs)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from hyperst.geometry import exp_map0, exterior_angle, half_aperture, pairwise_dist
from hyperst.nn import (
    HCA_PAIRS,
    STREAMS,
    HierarchicalContrastiveLoss,
    HierarchicalEntailmentLoss,
    entailment_loss,
    entailment_pairs,
    info_nce,
)

B, D = 32, 16


def _lorentz_similarity(x, y):
    return -pairwise_dist(x, y, 1.0)


def _random_embeddings(seed: int, radius: float) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {s: exp_map0(radius * F.normalize(torch.randn(B, D, generator=gen), dim=-1), 1.0) for s in STREAMS}


def test_info_nce_of_equal_logits_is_log_batch():
    torch.testing.assert_close(info_nce(torch.zeros(B, B)), torch.tensor(math.log(B)))
    assert info_nce(20 * torch.eye(B)) < 1e-6
    with pytest.raises(ValueError, match="square logits"):
        info_nce(torch.zeros(3, 4))


@pytest.mark.parametrize("seed", range(3))
def test_hca_is_about_log_batch_at_init(seed):
    loss = HierarchicalContrastiveLoss()
    assert loss.inverse_temperature.item() == pytest.approx(1 / 0.07)
    value = loss(_random_embeddings(seed, radius=1e-3), _lorentz_similarity)
    assert value.item() == pytest.approx(math.log(B), abs=0.02)


def test_hca_averages_the_four_directed_terms():
    assert HCA_PAIRS == (
        ("image_spot", "gene_spot"),
        ("gene_spot", "image_spot"),
        ("image_niche", "gene_spot"),
        ("gene_niche", "image_spot"),
    )
    emb = _random_embeddings(0, radius=1.0)
    loss = HierarchicalContrastiveLoss(temperature_init=0.5)
    expected = torch.stack(
        [
            F.cross_entropy(2.0 * _lorentz_similarity(emb[q], emb[k]), torch.arange(B))
            for q, k in [("image_spot", "gene_spot"), ("gene_spot", "image_spot")]
            + [("image_niche", "gene_spot"), ("gene_niche", "image_spot")]
        ]
    ).mean()
    torch.testing.assert_close(loss(emb, _lorentz_similarity), expected)


def test_hca_is_low_when_pairs_match():
    gen = torch.Generator().manual_seed(0)
    base = exp_map0(F.normalize(torch.randn(B, D, generator=gen), dim=-1) * 2, 1.0)
    emb = dict.fromkeys(STREAMS, base)
    assert HierarchicalContrastiveLoss()(emb, _lorentz_similarity) < 0.05


def test_hca_temperature_is_learned_and_clamped():
    loss = HierarchicalContrastiveLoss()
    value = loss(_random_embeddings(0, radius=1.0), _lorentz_similarity)
    value.backward()
    assert loss.log_inverse_temperature.grad != 0
    with torch.no_grad():
        loss.log_inverse_temperature.fill_(10.0)
    assert loss.inverse_temperature.item() == pytest.approx(100.0)
    loss.train()(_random_embeddings(0, radius=1.0), _lorentz_similarity)
    assert loss.log_inverse_temperature.item() == pytest.approx(math.log(100.0))


def test_hca_needs_all_streams():
    emb = _random_embeddings(0, radius=1.0)
    del emb["gene_niche"]
    with pytest.raises(ValueError, match="gene_niche"):
        HierarchicalContrastiveLoss()(emb, _lorentz_similarity)
    with pytest.raises(ValueError, match="temperature"):
        HierarchicalContrastiveLoss(temperature_init=0.001)


def _cone_embeddings(seed: int, noise: float) -> dict[str, torch.Tensor]:
    """Streams near one ray from the origin, in hierarchical order of norm; ``noise`` moves them off the ray."""
    gen = torch.Generator().manual_seed(seed)
    image_spot = F.normalize(torch.randn(B, D, generator=gen), dim=-1) * (0.5 + torch.rand(B, 1, generator=gen))

    def along(stretch):
        jitter = noise * image_spot.norm(dim=-1, keepdim=True) * torch.randn(B, D, generator=gen) / D**0.5
        return stretch * image_spot + jitter

    return {"image_spot": image_spot, "image_niche": along(1.3), "gene_spot": along(1.5), "gene_niche": along(2.5)}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("noise", [0.0, 0.002])
def test_hea_is_exactly_zero_when_children_are_inside_the_cones(seed, noise):
    emb = _cone_embeddings(seed, noise)
    for parent, child, eta in entailment_pairs():
        assert (exterior_angle(emb[parent], emb[child], 1.0) < eta * half_aperture(emb[parent], 1.0)).all()
    assert HierarchicalEntailmentLoss()(emb, 1.0).item() == 0.0
    assert HierarchicalEntailmentLoss(reduction="reference")(emb, 1.0).item() == 0.0
    assert HierarchicalEntailmentLoss()(_cone_embeddings(seed, noise=2.0), 1.0).item() > 0.1
    # Swapping parent and child roles breaks the order: the loss becomes positive.
    swapped = {"image_spot": emb["gene_niche"], "image_niche": emb["gene_spot"]}
    swapped |= {"gene_spot": emb["image_niche"], "gene_niche": emb["image_spot"]}
    assert HierarchicalEntailmentLoss()(swapped, 1.0).item() > 0.1


def test_entailment_loss_is_the_margin_beyond_the_scaled_aperture():
    gen = torch.Generator().manual_seed(0)
    parent = F.normalize(torch.randn(B, D, generator=gen), dim=-1)
    child = parent + 0.5 * torch.randn(B, D, generator=gen)
    angle, aperture = exterior_angle(parent, child, 1.0), half_aperture(parent, 1.0, min_radius=0.1)
    for eta in (0.7, 1.2):
        expected = (angle - eta * aperture).clamp(min=0).mean()
        torch.testing.assert_close(entailment_loss(parent, child, 1.0, eta=eta, min_radius=0.1), expected)
    wider = entailment_loss(parent, child, 1.0, eta=1.2, min_radius=0.1)
    assert wider < entailment_loss(parent, child, 1.0, eta=0.7, min_radius=0.1)


def test_hea_pairs_and_reductions():
    assert entailment_pairs() == (
        ("image_spot", "gene_spot", 0.7),
        ("image_niche", "gene_niche", 0.7),
        ("image_spot", "image_niche", 1.2),
        ("gene_spot", "gene_niche", 1.2),
    )
    assert entailment_pairs(image_gene=False) == entailment_pairs()[2:]
    emb = _cone_embeddings(0, noise=2.0)
    terms = torch.stack([entailment_loss(emb[p], emb[c], 1.0, eta=e, min_radius=0.1) for p, c, e in entailment_pairs()])
    torch.testing.assert_close(HierarchicalEntailmentLoss(reduction="mean")(emb, 1.0), terms.mean())
    torch.testing.assert_close(HierarchicalEntailmentLoss(reduction="reference")(emb, 1.0), 0.5 * terms.sum())
    only_within = HierarchicalEntailmentLoss(entailment_pairs(image_gene=False))(emb, 1.0)
    torch.testing.assert_close(only_within, terms[2:].mean())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"reduction": "sum"}, "reduction"), ({"min_radius": 0.0}, "min_radius"), ({"pairs": ()}, "at least one")],
)
def test_hea_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HierarchicalEntailmentLoss(**kwargs)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_losses_have_finite_float32_gradients_under_autocast(dtype):
    gen = torch.Generator().manual_seed(0)
    raw = {s: torch.randn(B, D, generator=gen, requires_grad=True) for s in STREAMS}
    weight = torch.randn(D, D, generator=gen, requires_grad=True)
    hca, hea = HierarchicalContrastiveLoss(), HierarchicalEntailmentLoss()
    try:
        with torch.autocast("cpu", dtype=dtype):
            projected = {s: x @ weight for s, x in raw.items()}
            assert projected["image_spot"].dtype == dtype
            emb = {s: exp_map0(x, 1.0) for s, x in projected.items()}
            value_hca, value_hea = hca(emb, _lorentz_similarity), hea(emb, 1.0)
    except RuntimeError as error:  # pragma: no cover - depends on the CPU autocast build
        pytest.skip(f"CPU autocast does not support {dtype}: {error}")
    assert value_hca.dtype == value_hea.dtype == torch.float32
    (value_hca + value_hea).backward()
    grads = [weight.grad, hca.log_inverse_temperature.grad, *(x.grad for x in raw.values())]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert weight.grad.abs().sum() > 0
