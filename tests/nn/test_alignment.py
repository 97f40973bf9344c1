"""Alignment heads: per-stream MLPs, per-modality maps, and the two geometries."""

from __future__ import annotations

import math

import pytest
import torch

from hyperst.geometry import exp_map0, pairwise_dist
from hyperst.nn import STREAMS, EuclideanAlignment, HyperbolicAlignment, modality_of

E = 16


def _inputs(batch: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {s: torch.randn(batch, E, generator=gen) for s in STREAMS}


def test_streams_and_modalities():
    assert [modality_of(s) for s in STREAMS] == ["image", "image", "gene", "gene"]
    with pytest.raises(ValueError, match="Unknown stream"):
        modality_of("text_spot")


@pytest.mark.parametrize("cls", [EuclideanAlignment, HyperbolicAlignment])
def test_one_head_per_stream_one_bias_free_map_per_modality(cls):
    heads = cls(E, dropout=0.0)
    assert set(heads.heads) == set(STREAMS)
    assert set(heads.projections) == {"image", "gene"}
    assert all(p.bias is None for p in heads.projections.values())
    features, embeddings = heads(_inputs())
    assert set(features) == set(embeddings) == set(STREAMS)
    # Both image streams go through the same projection, through different heads.
    features["image_spot"].sum().backward()
    assert heads.projections["image"].weight.grad is not None
    assert heads.projections["gene"].weight.grad is None
    assert heads.heads["image_niche"].input[1].weight.grad is None
    heads.zero_grad()
    features["image_niche"].sum().backward()
    assert heads.projections["image"].weight.grad is not None


def test_streams_can_be_restricted():
    heads = EuclideanAlignment(E, streams=("image_spot", "image_niche"))
    assert set(heads.projections) == {"image"}
    with pytest.raises(ValueError, match="No head for stream 'gene_spot'"):
        heads({"gene_spot": torch.randn(2, E)})


def test_euclidean_embeddings_are_unit_vectors_compared_by_cosine():
    heads = EuclideanAlignment(E).eval()
    features, embeddings = heads(_inputs())
    for s in STREAMS:
        torch.testing.assert_close(embeddings[s], torch.nn.functional.normalize(features[s], dim=-1))
    sim = heads.similarity(embeddings["image_spot"], embeddings["gene_spot"])
    expected = torch.nn.functional.cosine_similarity(
        features["image_spot"][:, None], features["gene_spot"][None], dim=-1
    )
    torch.testing.assert_close(sim, expected)
    assert heads.curv is None and not heads.has_cones


def test_hyperbolic_embeddings_scale_then_exponential_map():
    heads = HyperbolicAlignment(E, curv_init=2.0).eval()
    features, embeddings = heads(_inputs())
    assert heads.has_cones and heads.geometry == "lorentz"
    torch.testing.assert_close(heads.curv, torch.tensor(2.0))
    torch.testing.assert_close(heads.scale("image"), torch.tensor(E**-0.5))
    for s in STREAMS:
        torch.testing.assert_close(embeddings[s], exp_map0(features[s] * E**-0.5, 2.0))
    sim = heads.similarity(embeddings["image_spot"], embeddings["gene_niche"])
    torch.testing.assert_close(sim, -pairwise_dist(embeddings["image_spot"], embeddings["gene_niche"], 2.0))


def test_hyperbolic_parameters_are_clamped_in_training():
    heads = HyperbolicAlignment(E, curv_init=1.0, curv_range=(0.1, 10.0))
    with torch.no_grad():
        heads.log_curv.fill_(5.0)  # c = e^5 > 10
        heads.log_scale["gene"].fill_(1.0)  # scale e > 1
    assert heads.curv.item() == pytest.approx(10.0)  # clamped where used, even before a training step
    assert heads.scale("gene").item() == pytest.approx(1.0)
    heads.train()(_inputs())
    assert heads.log_curv.item() == pytest.approx(math.log(10.0))  # and stored back in range
    assert heads.log_scale["gene"].item() == 0.0
    with torch.no_grad():
        heads.log_curv.fill_(-5.0)
    heads(_inputs())
    assert heads.curv.item() == pytest.approx(0.1)


def test_curvature_and_scales_are_learned():
    heads = HyperbolicAlignment(E)
    features, embeddings = heads(_inputs())
    heads.similarity(embeddings["image_spot"], embeddings["gene_spot"]).diagonal().sum().backward()
    assert heads.log_curv.grad is not None and heads.log_curv.grad != 0
    assert heads.log_scale["image"].grad != 0 and heads.log_scale["gene"].grad != 0
    frozen = HyperbolicAlignment(E, learn_curv=False)
    assert not frozen.log_curv.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"curv_init": 20.0}, "curv_init"),
        ({"curv_range": (0.0, 10.0)}, "curv_init"),
        ({"scale_init": 2.0}, "scale_init"),
        ({"scale_init": 0.0}, "scale_init"),
    ],
)
def test_bad_hyperbolic_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HyperbolicAlignment(E, **kwargs)
