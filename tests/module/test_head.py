"""HyperSTHead and HyperSTConfig: contract, ablation switches, mixed precision, and a short training run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn import functional as F

from hyperst.geometry import dist0, inner, pairwise_dist
from hyperst.module import HyperSTConfig, HyperSTHead
from hyperst.nn import STREAMS, entailment_loss, entailment_pairs

N_GENES, IMAGE_DIM, E, BATCH = 16, 24, 32, 64


def synthetic(n: int = 256, *, group: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Image features and log2(1 + x) genes that are both noisy functions of a latent tissue state.

    Niches are groups of ``group`` consecutive spots: niche image features see the niche's mean latent,
    niche genes are the mean of the spots' genes.
    """
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randn(n, 6, generator=gen)
    groups = torch.arange(n) // group

    def niche_mean(x):
        return torch.zeros(n // group, x.shape[1]).index_add_(0, groups, x)[groups] / group

    to_image, to_genes = torch.randn(6, IMAGE_DIM, generator=gen), torch.randn(6, N_GENES, generator=gen)
    image_spot = latent @ to_image + 0.1 * torch.randn(n, IMAGE_DIM, generator=gen)
    image_niche = niche_mean(latent) @ to_image + 0.1 * torch.randn(n, IMAGE_DIM, generator=gen)
    genes = torch.log2(1 + 3 * F.softplus(latent @ to_genes)) + 0.1 * torch.randn(n, N_GENES, generator=gen)
    return image_spot, image_niche, genes, niche_mean(genes)


def _module(**config) -> HyperSTHead:
    torch.manual_seed(0)
    return HyperSTHead(N_GENES, IMAGE_DIM, HyperSTConfig(embed_dim=E, **config))


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, ...]:
    return tuple(x[:BATCH] for x in synthetic())


def test_config_defaults_follow_the_method():
    cfg = HyperSTConfig()
    assert (cfg.embed_dim, cfg.n_blocks, cfg.hidden_ratio, cfg.dropout) == (1024, 2, 2.0, 0.1)
    assert (cfg.alpha, cfg.beta) == (0.2, 0.4)
    assert (cfg.entailment_k, cfg.eta_image_gene, cfg.eta_spot_niche) == (0.1, 0.7, 1.2)
    assert (cfg.curv_init, cfg.curv_min, cfg.curv_max) == (1.0, 0.1, 10.0)
    assert (cfg.temperature_init, cfg.max_inverse_temperature, cfg.scale_init) == (0.07, 100.0, None)
    assert (cfg.alignment, cfg.entailment, cfg.image_gene_entailment) == ("hyperbolic", True, True)
    assert (cfg.decoder_input, cfg.hea_reduction) == ("spot+niche", "mean")
    with pytest.raises(AttributeError):
        cfg.alpha = 1.0  # frozen


def test_config_round_trips_through_json():
    cfg = HyperSTConfig(embed_dim=8, alignment="euclidean", scale_init=0.5)
    assert HyperSTConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="Unknown HyperSTConfig fields \\['typo'\\]"):
        HyperSTConfig.from_dict({"typo": 1})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alignment": "spherical"}, "`alignment` must be one of"),
        ({"decoder_input": "both"}, "`decoder_input` must be one of"),
        ({"hea_reduction": "sum"}, "`hea_reduction` must be one of"),
        ({"embed_dim": 0}, "embed_dim an integer >= 1"),
        ({"dropout": 1.0}, "0 <= dropout < 1"),
        ({"alpha": -0.1}, "alpha >= 0"),
        ({"entailment_k": 0.0}, "entailment_k > 0"),
        ({"eta_spot_niche": 0.0}, "eta_image_gene > 0 and eta_spot_niche > 0"),
        ({"curv_init": 20.0}, "0 < curv_min <= curv_init <= curv_max"),
        ({"curv_min": 0.0}, "0 < curv_min <= curv_init <= curv_max"),
        ({"temperature_init": 0.001}, "1 / max_inverse_temperature <= temperature_init"),
        ({"scale_init": 1.5}, "scale_init None or in \\(0, 1\\]"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HyperSTConfig(**kwargs)
    with pytest.raises(TypeError, match="`entailment` must be a bool"):
        HyperSTConfig(entailment="yes")


def test_forward_in_training(batch):
    module = _module()
    out = module(*batch)
    assert out.prediction.shape == (BATCH, N_GENES)
    assert out.geometry == "lorentz"
    for s in STREAMS:
        assert getattr(out.features, s).shape == (BATCH, E)
        emb = getattr(out.embeddings, s)
        assert emb.dtype == torch.float32
        torch.testing.assert_close(inner(emb, emb, module.curvature), torch.full((BATCH,), -1 / module.curvature))
    loss = out.loss
    torch.testing.assert_close(loss.mse, F.mse_loss(out.prediction, batch[2]))
    torch.testing.assert_close(loss.total, loss.mse + 0.2 * (loss.hca + 0.4 * loss.hea))
    assert loss.hca > 0 and loss.hea > 0
    loss.total.backward()
    missing = [name for name, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing}"


def test_inference_needs_only_image_features(batch):
    module = _module().eval()
    out = module(batch[0], batch[1])
    assert out.loss is None
    assert out.features.gene_spot is None and out.embeddings.gene_niche is None
    assert set(out.embeddings.as_dict()) == {"image_spot", "image_niche"}
    torch.testing.assert_close(module.predict(batch[0], batch[1]), out.prediction)
    # The genes change neither the prediction nor the image embeddings.
    with_genes = module(*batch)
    torch.testing.assert_close(with_genes.prediction, out.prediction)
    torch.testing.assert_close(with_genes.embeddings.image_spot, out.embeddings.image_spot)
    embedded = module.embed(*batch)
    torch.testing.assert_close(embedded.gene_niche, with_genes.embeddings.gene_niche)


def test_prediction_without_the_loss_is_bit_identical(batch):
    """What ``predict`` runs: members other than the first from images alone, the first without its loss."""
    module = _module().eval()
    with torch.inference_mode():
        full = module(*batch)
        no_loss = module(*batch, with_loss=False)
        images_only = module.predict(batch[0], batch[1])
    assert full.loss is not None and no_loss.loss is None
    assert torch.equal(no_loss.prediction, full.prediction) and torch.equal(images_only, full.prediction)
    for stream, embedding in full.embeddings.as_dict().items():
        assert torch.equal(no_loss.embeddings.as_dict()[stream], embedding), stream


def test_bad_inputs_raise(batch):
    module = _module()
    image_spot, image_niche, gene_spot, gene_niche = batch
    with pytest.raises(ValueError, match=r"`image_spot` must be a tensor of shape \(B, 24\)"):
        module(image_spot[:, :5], image_niche)
    with pytest.raises(ValueError, match=r"`image_niche` must be a tensor of shape \(64, 24\)"):
        module(image_spot, image_niche[:10])
    with pytest.raises(ValueError, match=r"`gene_spot` must be a tensor of shape \(64, 16\)"):
        module(image_spot, image_niche, gene_spot[:, :3], gene_niche)
    with pytest.raises(ValueError, match="`gene_niche` was given without `gene_spot`"):
        module(image_spot, image_niche, None, gene_niche)
    with pytest.raises(ValueError, match="Alignment needs `gene_niche`"):
        module(image_spot, image_niche, gene_spot)
    with pytest.raises(ValueError, match="n_genes and image_dim must be positive"):
        HyperSTHead(0, IMAGE_DIM)


def test_scalars_for_the_training_history():
    module = _module()
    assert module.curvature == pytest.approx(1.0)
    assert module.temperature == pytest.approx(0.07)
    assert module.learned_scalars() == pytest.approx(
        {"curvature": 1.0, "temperature": 0.07, "scale_image": E**-0.5, "scale_gene": E**-0.5}
    )
    assert _module(alignment="none").learned_scalars() == {}
    assert set(_module(alignment="euclidean").learned_scalars()) == {"temperature"}


def test_parameter_groups_exempt_scalars_from_weight_decay():
    module = _module()
    decay, no_decay = module.parameter_groups(0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    ids = [id(p) for group in (decay, no_decay) for p in group["params"]]
    assert sorted(ids) == sorted(id(p) for p in module.parameters())
    exempt = {id(p) for p in no_decay["params"]}
    assert id(module.alignment.log_curv) in exempt and id(module.hca_loss.log_inverse_temperature) in exempt
    assert id(module.alignment.log_scale["image"]) in exempt
    assert id(module.decoder[1].weight) not in exempt and id(module.decoder[1].bias) in exempt


def test_alignment_none_is_plain_regression(batch):
    module = _module(alignment="none")
    assert module.gene_encoders is None and module.hca_loss is None and module.hea_loss is None
    out = module(*batch)
    assert out.geometry is None and out.embeddings.as_dict() == {} and out.features.gene_spot is None
    assert out.loss.hca == 0 and out.loss.hea == 0
    torch.testing.assert_close(out.loss.total, out.loss.mse)
    out.loss.total.backward()
    assert all(p.grad is not None for p in module.parameters())  # no unused gene branch
    assert module(*batch[:3]).loss is not None  # gene_niche is not needed


def test_euclidean_alignment_differs_only_in_geometry(batch):
    module = _module(alignment="euclidean").eval()
    out = module(*batch)
    assert out.geometry == "euclidean" and module.curvature is None and module.hea_loss is None
    for emb in out.embeddings.as_dict().values():
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(BATCH))
    assert out.loss.hea == 0 and out.loss.hca > 0
    torch.testing.assert_close(out.loss.total, out.loss.mse + 0.2 * out.loss.hca)
    hyperbolic = {name for name, _ in _module().named_parameters()}
    euclidean = {name for name, _ in module.named_parameters()}
    assert hyperbolic - euclidean == {"alignment.log_curv", "alignment.log_scale.image", "alignment.log_scale.gene"}
    assert euclidean <= hyperbolic


def test_entailment_switches_change_only_hea(batch):
    full = _module().eval()(*batch)
    off = _module(entailment=False).eval()(*batch)
    assert off.loss.hea == 0
    torch.testing.assert_close(off.loss.hca, full.loss.hca)  # same weights, same contrastive term
    reference = _module(hea_reduction="reference").eval()(*batch)
    torch.testing.assert_close(reference.loss.hea, 2 * full.loss.hea)  # 0.5 * sum of 4 terms = 2 * mean
    within = _module(image_gene_entailment=False).eval()(*batch)
    emb, curv = full.embeddings.as_dict(), 1.0
    terms = [entailment_loss(emb[p], emb[c], curv, eta=e, min_radius=0.1) for p, c, e in entailment_pairs()]
    torch.testing.assert_close(full.loss.hea, torch.stack(terms).mean())
    torch.testing.assert_close(within.loss.hea, torch.stack(terms[2:]).mean())


@pytest.mark.parametrize(("decoder_input", "width"), [("spot+niche", 2 * E), ("spot", E), ("niche", E)])
def test_decoder_input(batch, decoder_input, width):
    module = _module(decoder_input=decoder_input).eval()
    assert module.decoder[0].in_features == width
    image_spot, image_niche = batch[:2]
    base = module.predict(image_spot, image_niche)
    spot_moves = not torch.allclose(module.predict(image_spot + 1, image_niche), base)
    niche_moves = not torch.allclose(module.predict(image_spot, image_niche + 1), base)
    assert (spot_moves, niche_moves) == (decoder_input != "niche", decoder_input != "spot")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("alignment", ["hyperbolic", "euclidean"])
def test_mixed_precision_keeps_the_losses_in_float32(batch, dtype, alignment):
    module = _module(alignment=alignment)
    with torch.autocast("cpu", dtype=dtype):
        out = module(*batch)
    assert out.prediction.dtype == dtype  # autocast is on for the network ...
    assert out.embeddings.image_spot.dtype == torch.float32  # ... but not for the geometry and the losses
    assert all(t.dtype == torch.float32 and torch.isfinite(t) for t in vars(out.loss).values())
    out.loss.total.backward()
    bad = [name for name, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not bad


@pytest.fixture(scope="module")
def trained():
    """300 AdamW steps on the synthetic data; returns the module and its full-data outputs before and after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    try:
        data = synthetic()
        module = _module()
        optimiser = torch.optim.AdamW(module.parameter_groups(0.01), lr=3e-3, foreach=True)
        with torch.no_grad():
            before = module.eval()(*data)
        module.train()
        order = torch.Generator().manual_seed(0)
        for _ in range(300):
            index = torch.randperm(len(data[0]), generator=order)[:BATCH]
            loss = module(*(x[index] for x in data)).loss.total
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            after = module.eval()(*data)
    finally:
        torch.set_num_threads(threads)
    return module, before, after


def test_training_lowers_the_losses(trained):
    module, before, after = trained
    assert after.loss.mse < 0.1 * before.loss.mse
    assert after.loss.hca < before.loss.hca - 1.0
    assert after.loss.hea < 0.25 * before.loss.hea
    # Image and gene embeddings of a spot find each other among all 256 spots.
    distances = pairwise_dist(after.embeddings.image_spot, after.embeddings.gene_spot, module.curvature)
    assert (distances.argmin(dim=1) == torch.arange(len(distances))).float().mean() > 0.5
    assert 0.1 <= module.curvature <= 10 and module.temperature >= 0.01


def test_training_builds_the_hierarchy(trained):
    module, _, after = trained
    radius = {s: dist0(e, module.curvature).mean().item() for s, e in after.embeddings.as_dict().items()}
    # Images are more generic than genes, spots more generic than niches: closer to the origin.
    assert radius["image_spot"] < radius["gene_spot"] and radius["image_niche"] < radius["gene_niche"]
    assert radius["image_spot"] < radius["image_niche"] and radius["gene_spot"] < radius["gene_niche"]
    assert math.fsum([radius["image_spot"], radius["image_niche"]]) < math.fsum(
        [radius["gene_spot"], radius["gene_niche"]]
    )


def test_linear_head_starts_at_zero_and_learns(batch):
    module = _module(linear_head=True).eval()
    image_spot, image_niche, gene_spot, gene_niche = batch
    out = module(image_spot, image_niche)
    decoder_only = module.decoder(torch.cat([out.features.image_spot, out.features.image_niche], dim=-1))
    torch.testing.assert_close(out.prediction, decoder_only)  # zero-initialised: the paper's model at the start
    module(image_spot, image_niche, gene_spot, gene_niche).loss.total.backward()
    assert module.linear_head.weight.grad.abs().sum() > 0
    assert module.linear_head.weight.shape == (N_GENES, 2 * IMAGE_DIM)
