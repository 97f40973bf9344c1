"""The planted image -> gene signal is learnable from the pixels, at the spot and at the niche level."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold, cross_val_predict

import hyperst as hst


def _crop_colour_stats(sdata, half_px: int) -> np.ndarray:
    """Mean and sd of RGB in a square crop around every spot (numpy only: no package crop code)."""
    table = sdata.tables["table"]
    features = np.empty((table.n_obs, 6))
    for section in table.obs["section"].cat.categories:
        image = np.asarray(sdata.images[f"{section}_image"]).astype(np.float32)
        rows = np.flatnonzero(table.obs["section"] == section)
        for i, (x, y) in zip(rows, table.obsm["spatial"][rows], strict=True):
            x, y = int(round(x)), int(round(y))
            crop = image[:, y - half_px : y + half_px, x - half_px : x + half_px].reshape(3, -1)
            features[i] = np.concatenate([crop.mean(1), crop.std(1)])
    return features


def _pearson_per_gene(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0) + 1e-12)


@pytest.fixture(scope="module")
def signal_data():
    sdata = hst.datasets.toy(n_sections=2, n_spots=200, n_genes=40, seed=1)
    table = sdata.tables["table"]
    counts = table.X.toarray()
    target = np.log2(1 + counts / counts.sum(1, keepdims=True) * np.median(counts.sum(1)))
    spot = _crop_colour_stats(sdata, half_px=14)  # the 55 µm spot
    niche = _crop_colour_stats(sdata, half_px=64)  # the ~255 µm neighbourhood
    return table, target, spot, niche


def _held_out_r(features, target, groups) -> np.ndarray:
    pred = cross_val_predict(RidgeCV(alphas=np.logspace(-2, 3, 12)), features, target, groups=groups, cv=GroupKFold(2))
    return _pearson_per_gene(pred, target)


def test_ridge_on_colour_beats_shuffled_control(signal_data):
    table, target, spot, niche = signal_data
    groups = table.obs["section"].to_numpy()
    features = np.concatenate([spot, niche], axis=1)
    informative = table.var["signal"].to_numpy() != "none"

    r = _held_out_r(features, target, groups)
    shuffled = np.random.default_rng(0).permutation(len(features))
    r_control = _held_out_r(features[shuffled], target, groups)

    assert np.nanmean(r[informative]) > 0.3
    assert np.nanmean(r[informative]) > np.nanmean(r_control[informative]) + 0.25
    assert abs(np.nanmean(r_control)) < 0.1


def test_spot_and_niche_both_carry_signal(signal_data):
    table, target, spot, niche = signal_data
    groups = table.obs["section"].to_numpy()
    signal = table.var["signal"].to_numpy()
    r_spot = _held_out_r(spot, target, groups)
    r_both = _held_out_r(np.concatenate([spot, niche], axis=1), target, groups)
    niche_genes = signal == "niche"
    # niche-driven genes gain from the neighbourhood crop beyond what the spot crop shows
    assert np.nanmean(r_both[niche_genes]) > np.nanmean(r_spot[niche_genes]) + 0.05
    # spot-driven genes are predicted from the spot crop alone
    assert np.nanmean(r_spot[signal == "spot"]) > 0.25
