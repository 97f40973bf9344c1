"""``hst.tl.adapt``: a new model fine-tuned on a few spots; the base model untouched; only the named parts move."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spatialdata import deepcopy as sd_deepcopy

import hyperst as hst
from hyperst.data import prepare_spots, spatial_sample
from hyperst.model import model_digest
from hyperst.module._network import PART_PREFIXES

OPTIONS = {"max_epochs": 3, "progress_bar": False, "device": "cpu"}


@pytest.fixture(scope="module")
def lab(toy_sdata):
    """The toy slide with precomputed image features in obsm (a frozen encoder, fast to train)."""
    sdata = sd_deepcopy(toy_sdata)
    table = sdata.tables["table"]
    signal = np.concatenate([table.obsm["toy_spot_signal"], table.obsm["toy_niche_signal"]], axis=1)
    table.obsm["emb"] = signal.astype(np.float32)
    return sdata


@pytest.fixture(scope="module")
def base(lab):
    options = {"encoder": "features", "encoder_kwargs": {"spot_key": "emb"}, "embed_dim": 32, "batch_size": 32}
    return hst.tl.fit(lab, max_epochs=3, lr=3e-3, progress_bar=False, **options)


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.network.state_dict().items()}


def _changed(model, before: dict[str, torch.Tensor]) -> set[str]:
    return {k for k, v in model.network.state_dict().items() if not torch.equal(v, before[k])}


@pytest.mark.parametrize("train", ["head", "image", "all"])
def test_adapt_moves_only_its_part(lab, base, train):
    before = _state(base)
    new = hst.tl.adapt(lab, base, spots=0.5, train=train, **OPTIONS)
    assert new is not base and new.is_trained
    assert not _changed(base, before)  # the base model is bit-identical
    moved = set(new.network.part_parameters(train))
    changed = _changed(new, before)
    assert changed <= moved  # frozen parameters and the scaler are bit-identical
    decoder = {k for k in moved if k.startswith("head.decoder.")}
    assert decoder and decoder <= changed
    if train != "head":
        assert any(k.startswith("head.image_projectors.") for k in changed)
    if train == "all":
        assert any(k.startswith("head.gene_encoders.") for k in changed)
    else:
        assert not any(k.startswith(("head.gene_encoders.", "head.alignment.heads.gene_")) for k in moved)
    # the restriction ends with training: every parameter of the new model can be trained again
    assert all(p.requires_grad for n, p in new.network.named_parameters() if n in dict(base.network.named_parameters()))


def test_parts_nest(base):
    names = {part: set(base.network.part_parameters(part)) for part in PART_PREFIXES}
    assert names["head"] < names["image"] < names["all"]
    assert names["all"] == {n for n, p in base.network.named_parameters() if p.requires_grad}


def test_refit_scaler(lab, base):
    before = _state(base)
    new = hst.tl.adapt(lab, base, spots=0.5, refit_scaler=True, **OPTIONS)
    assert {"scaler.mean", "scaler.scale"} <= _changed(new, before)
    assert not _changed(base, before)
    kept = hst.tl.adapt(lab, base, spots=0.5, **OPTIONS)
    assert not {"scaler.mean", "scaler.scale"} & _changed(kept, before)


def test_trainable_encoder_head_only(toy_sdata, toy_model):
    """A CNN model adapted on its decoder: the encoder's weights do not move."""
    before = _state(toy_model)
    new = hst.tl.adapt(toy_sdata, toy_model, spots=0.3, train="head", **(OPTIONS | {"max_epochs": 1}))
    changed = _changed(new, before)
    assert changed and all(k.startswith("head.decoder.") for k in changed)
    assert not _changed(toy_model, before)


def test_provenance_saved_and_predicted(lab, base, tmp_path):
    new = hst.tl.adapt(lab, base, spots=0.25, seed=1, train="image", **OPTIONS)
    record = new.adapted_from
    assert record["base"] == model_digest(base)
    assert record["train"] == "image" and record["refit_scaler"] is False
    assert base.train_params["lr"] == 3e-3 and new.train_params["lr"] == 1e-4  # 1e-4 whatever the base's rate
    assert record["n_spots"] == len(record["spots"]) and set(record["spots"]) <= set(lab.tables["table"].obs_names)
    new.save(tmp_path / "adapted")
    loaded = hst.HyperST.load(tmp_path / "adapted")
    assert loaded.adapted_from == record
    assert model_digest(loaded)["weights_sha256"] == model_digest(new)["weights_sha256"]
    out = hst.tl.predict(lab, loaded, inplace=False)
    assert out.uns["hyperst"]["adapted_from"]["base"] == record["base"]
    assert out.uns["hyperst"]["adapted_from"]["spots"] == record["spots"]
    assert "adapted_from" not in hst.tl.predict(lab, base, inplace=False).uns["hyperst"]


def test_spots_forms_agree(lab, base):
    table = lab.tables["table"]
    names = table.obs_names[::3]
    mask = np.zeros(table.n_obs, dtype=bool)
    mask[::3] = True
    records = [
        hst.tl.adapt(lab, base, spots=which, **(OPTIONS | {"max_epochs": 1})).adapted_from["spots"]
        for which in (list(names), mask, np.arange(0, table.n_obs, 3))
    ]
    assert records[0] == records[1] == records[2]
    assert set(records[0]) <= set(names)
    every = hst.tl.adapt(lab, base, **(OPTIONS | {"max_epochs": 1})).adapted_from
    assert every["n_spots"] > len(records[0])


def test_spatial_sample_blocks(lab):
    spots = prepare_spots(lab, genes=lab.tables["table"].var_names[:5].tolist())
    rows = np.flatnonzero(spots.trainable)
    chosen = spatial_sample(spots, rows, 0.25, seed=0)
    assert np.array_equal(chosen, spatial_sample(spots, rows, 0.25, seed=0))
    assert not np.array_equal(chosen, spatial_sample(spots, rows, 0.25, seed=1))
    for section in np.unique(spots.section_of[rows]):
        members = rows[spots.section_of[rows] == section]
        assert np.isin(chosen, members).sum() == round(0.25 * len(members))
    # blocks: a chosen spot's nearest neighbour (in its section) is chosen far more often than a quarter of the time
    together = []
    for section in np.unique(spots.section_of[rows]):
        members = rows[spots.section_of[rows] == section]
        xy = spots.centres_px[members]
        distance = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(members)) * 1e12
        picked = np.isin(members, chosen)
        together.append(np.isin(members[distance.argmin(axis=1)][picked], chosen))
    assert np.concatenate(together).mean() > 0.5
    assert np.array_equal(spatial_sample(spots, rows, 1.0), rows)


def test_refit_scaler_needs_frozen_features(toy_sdata, toy_model):
    with pytest.raises(ValueError, match="no feature scaler"):
        hst.tl.adapt(toy_sdata, toy_model, refit_scaler=True, **OPTIONS)


def test_bad_input_changes_nothing(lab, base):
    before, digest = _state(base), model_digest(base)
    table = lab.tables["table"]
    no_genes = sd_deepcopy(lab)
    no_genes.tables["table"] = no_genes.tables["table"][:, [g for g in table.var_names if g != base.genes[0]]].copy()
    with pytest.raises(KeyError, match="lacks 1 of the model's"):
        hst.tl.adapt(no_genes, base, **OPTIONS)
    for spots in ([], [table.obs_names[0]], np.zeros(table.n_obs, dtype=bool)):
        with pytest.raises(ValueError, match="at least 2 measured spots"):
            hst.tl.adapt(lab, base, spots=spots, **OPTIONS)
    for fraction in (0, 0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
            hst.tl.adapt(lab, base, spots=fraction, **OPTIONS)
    with pytest.raises(KeyError, match="not in the table's obs_names"):
        hst.tl.adapt(lab, base, spots=["no such spot", table.obs_names[0]], **OPTIONS)
    with pytest.raises(TypeError, match="`spots` must be"):
        hst.tl.adapt(lab, base, spots=[0.1, 0.2], **OPTIONS)
    with pytest.raises(ValueError, match="`train` must be one of"):
        hst.tl.adapt(lab, base, train="decoder", **OPTIONS)
    narrow = sd_deepcopy(lab)
    narrow.tables["table"].obsm["emb"] = narrow.tables["table"].obsm["emb"][:, :-1]
    with pytest.raises(ValueError, match="the model expects"):  # the slides give other features than the encoder's
        hst.tl.adapt(narrow, base, **OPTIONS)
    untrained = hst.HyperST(base.genes, encoder="features", encoder_kwargs=base.encoder.config(), embed_dim=32)
    with pytest.raises(ValueError, match="untrained"):
        hst.tl.adapt(lab, untrained, **OPTIONS)
    assert not _changed(base, before) and model_digest(base) == digest
    assert "hyperst" not in lab.tables


def test_adapting_an_ensemble_moves_every_member_and_keeps_the_ood_reference(toy_sdata, toy_ensemble):
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in toy_ensemble.members]
    adapted = hst.tl.adapt(toy_sdata, toy_ensemble, spots=0.5, max_epochs=2, progress_bar=False)
    assert adapted.n_models == toy_ensemble.n_models
    for member, old in zip(adapted.members, before, strict=True):
        assert any(not torch.equal(member.state_dict()[k], v) for k, v in old.items())
    for member, old in zip(toy_ensemble.members, before, strict=True):  # the base ensemble is untouched
        assert all(torch.equal(member.state_dict()[k], v) for k, v in old.items())
    np.testing.assert_array_equal(adapted.ood_reference.points, toy_ensemble.ood_reference.points)
    out = hst.tl.predict(toy_sdata, adapted, inplace=False)
    assert "hyperst_ood" in out.obs and out.uns["hyperst"]["adapted_from"]
