"""Prediction across devices: Lightning's ``Trainer.predict`` gives the one-process prediction, split and gathered."""

from __future__ import annotations

import re

import numpy as np
import pytest
import spatialdata

import hyperst as hst

# Every output of `hst.tl.predict` that the network computes: compared between one and several processes (and
# written by the script below, which names them again).
OBSM = ("hyperst_image_spot", "hyperst_image_niche", "hyperst_gene_spot", "hyperst_gene_niche")


def _outputs(table) -> dict[str, np.ndarray]:
    values = {"predicted": table.layers["predicted"], "predicted_sd": table.layers["predicted_sd"]}
    values |= {"hyperst_ood": table.obs["hyperst_ood"].to_numpy()} | {key: table.obsm[key] for key in OBSM}
    return {key: np.asarray(value) for key, value in values.items()}


def _assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("devices", [0, -1, [], True, "two"])
def test_devices_must_be_a_positive_count(toy_sdata, toy_model, devices):
    sdata = spatialdata.deepcopy(toy_sdata)
    with pytest.raises(ValueError, match="`devices` must be a number of devices >= 1"):
        hst.tl.predict(sdata, toy_model, devices=devices)
    assert "hyperst" not in sdata.tables


def test_spawning_strategies_are_refused(toy_sdata, toy_model):
    with pytest.raises(ValueError, match="strategy='ddp' from a script"):
        hst.tl.predict(toy_sdata, toy_model, inplace=False, devices=2, accelerator="cpu", strategy="ddp_spawn")


def test_lightning_in_one_process_equals_the_default(toy_sdata, toy_ensemble):
    expected = _outputs(hst.tl.predict(toy_sdata, toy_ensemble, inplace=False))
    table = hst.tl.predict(toy_sdata, toy_ensemble, inplace=False, devices="auto", accelerator="cpu")
    _assert_same(_outputs(table), expected)


def test_a_frozen_encoder_encodes_on_the_devices_alike(toy_sdata):
    """Without stored features, each process encodes its own batches' crops: the same features as encoded at once."""
    model = hst.tl.fit(
        toy_sdata, encoder="squidpy", encoder_kwargs={"input_size": 32}, embed_dim=16, max_epochs=1, progress_bar=False
    )
    expected = hst.tl.predict(toy_sdata, model, inplace=False)
    table = hst.tl.predict(toy_sdata, model, inplace=False, devices="auto", accelerator="cpu")
    np.testing.assert_allclose(table.layers["predicted"], expected.layers["predicted"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table.obs["hyperst_ood"], expected.obs["hyperst_ood"])
    np.testing.assert_allclose(table.obsm["hyperst_image_spot"], expected.obsm["hyperst_image_spot"], atol=1e-6)


SCRIPT = """
import logging
import sys

import numpy as np
import torch.distributed as dist

import hyperst as hst

OBSM = ("hyperst_image_spot", "hyperst_image_niche", "hyperst_gene_spot", "hyperst_gene_niche")
hst.settings.verbosity = "info"  # hyperst's lines say what each process predicted

sdata = hst.datasets.toy(n_sections=2, n_spots=120, n_genes=30, seed=0)  # the `toy_sdata` fixture's slide
model = hst.HyperST.load(sys.argv[1])
table = hst.tl.predict(sdata, model, inplace=False, batch_size=16, accelerator="cpu", devices=2, strategy="ddp")
outputs = {"predicted": table.layers["predicted"], "predicted_sd": table.layers["predicted_sd"]}
outputs |= {"hyperst_ood": table.obs["hyperst_ood"].to_numpy()} | {k: table.obsm[k] for k in OBSM}
np.savez(f"{sys.argv[2]}-{dist.get_rank()}.npz", **outputs)  # every process holds all of it
"""


@pytest.mark.slow
def test_two_cpu_processes_predict_as_one(toy_sdata, toy_ensemble, tmp_path, run_script):
    toy_ensemble.save(tmp_path / "model")
    result = run_script(SCRIPT, str(tmp_path / "model"), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes (DDPStrategy)" in result.stderr
    shares = {int(r): int(n) for r, n in re.findall(r"Process (\d) of 2 predicted (\d+) spots", result.stderr)}
    assert set(shares) == {1, 2} and min(shares.values()) > 0, result.stderr[-3000:]  # both predicted a share
    assert sum(shares.values()) == 240  # of the toy slide's 2 x 120 spots, none twice
    expected = _outputs(hst.tl.predict(toy_sdata, toy_ensemble, inplace=False, batch_size=16))
    for rank in (0, 1):
        with np.load(tmp_path / f"out-{rank}.npz") as got:
            _assert_same(dict(got), expected)
