"""The model learns the toy slide's planted image -> gene signal on a section it never saw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hyperst as hst


@pytest.mark.slow
def test_cross_validate_learns_held_out_section(toy_sdata, fast_fit_kwargs):
    options = {**fast_fit_kwargs, "encoder": "squidpy", "encoder_kwargs": {"input_size": 32}}
    cv = hst.tl.cross_validate(toy_sdata, groupby="section", max_epochs=20, validation="spatial", **options)
    assert list(cv["held_out"]) == ["S1", "S2"]
    assert (cv["n_test"] == 120).all()
    expected = {"pcc_mean", "pcc@10", "pcc@50", "mse", "mae", "rvd", "pcc_mean_norm", "mse_norm"}
    # the frozen encoder's default ensemble is calibrated and scored on every held-out section
    expected |= {"coverage", "sd_error_spearman", "ood_flagged"}
    assert expected <= set(cv.columns)
    # calibrated on spatial blocks of the one training section, tested on the other: the section's shift is not in
    # the calibration (her2st, calibrated on a held-out section: 0.90 on another section and on another patient)
    assert cv["coverage"].between(0.35, 1.0).all(), cv["coverage"]
    # well above chance on a section the model never saw, on raw and on depth-normalised values
    assert (cv["pcc_mean"] > 0.3).all(), cv["pcc_mean"]
    assert (cv["pcc_mean_norm"] > 0.2).all(), cv["pcc_mean_norm"]


def test_fit_is_bit_identical_for_a_seed(toy_sdata, fast_fit_kwargs):
    models = [hst.tl.fit(toy_sdata, max_epochs=1, seed=7, **fast_fit_kwargs) for _ in range(2)]
    states = [m.network.state_dict() for m in models]
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0)
    other = hst.tl.fit(toy_sdata, max_epochs=1, seed=8, **fast_fit_kwargs)
    weight = "head.decoder.1.weight"
    assert not torch.equal(other.network.state_dict()[weight], states[0][weight])
    assert np.array_equal(models[0].history.to_numpy(), models[1].history.to_numpy())
