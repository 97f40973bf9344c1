"""Distributed data-parallel training on two CPU processes (gloo), as a user script would run it."""

from __future__ import annotations

import pytest

import hyperst as hst

SCRIPT = """
import logging
import sys

import hyperst as hst

hst.settings.verbosity = "info"  # hyperst's own line says how many processes trained

sdata = hst.datasets.toy(n_sections=2, n_spots=60, n_genes=12, seed=0)
model = hst.tl.fit(
    sdata,
    encoder="cnn",
    encoder_kwargs={"input_size": 32, "n_blocks": 3, "width": 8},
    embed_dim=16,
    batch_size=16,
    max_epochs=2,
    progress_bar=False,
    accelerator="cpu",
    devices=2,
    strategy="ddp",
)
import torch.distributed as dist

if not dist.is_initialized() or dist.get_rank() == 0:
    model.save(sys.argv[1], overwrite=True)
"""


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_gives_a_model(tmp_path, run_script):
    result = run_script(SCRIPT, str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes (DDPStrategy)" in result.stderr
    model = hst.HyperST.load(tmp_path / "model")
    assert model.is_trained and len(model.history) >= 1
    assert model.train_params["n_train_spots"] > 0


FROZEN_SCRIPT = """
import logging
import sys

import numpy as np
import torch.distributed as dist

import hyperst as hst
from hyperst.data import prepare_spots

hst.settings.verbosity = "info"  # hyperst's lines say what each process encoded

sdata = hst.datasets.toy(n_sections=2, n_spots=60, n_genes=12, seed=0)
model = hst.tl.fit(
    sdata,
    encoder="squidpy",
    encoder_kwargs={"input_size": 32},
    n_models=1,
    embed_dim=16,
    batch_size=16,
    max_epochs=1,
    progress_bar=False,
    accelerator="cpu",
    devices=2,
    strategy="ddp",
)
spot, niche = model.frozen_features(prepare_spots(sdata, background=model.background))  # fit's, kept in memory
np.savez(f"{sys.argv[1]}-{dist.get_rank()}.npz", spot=spot, niche=niche)
"""


@pytest.mark.slow
def test_a_frozen_encoder_encodes_split_across_the_processes(tmp_path, run_script):
    import re

    import numpy as np

    from hyperst.data import encode_crops, prepare_spots
    from hyperst.nn.encoders import build_encoder

    result = run_script(FROZEN_SCRIPT, str(tmp_path / "features"))
    assert result.returncode == 0, result.stderr[-3000:]
    shares = {int(r): int(n) for r, n in re.findall(r"Process (\d) of 2 encoded (\d+) spots", result.stderr)}
    assert set(shares) == {1, 2} and min(shares.values()) > 0, result.stderr[-3000:]
    assert sum(shares.values()) == 120  # each spot encoded once, by one of the processes
    assert "Reusing the stored 'squidpy' features of 120 spots (squidpy-" in result.stderr  # not encoded again
    sdata = hst.datasets.toy(n_sections=2, n_spots=60, n_genes=12, seed=0)
    encoder = build_encoder("squidpy", input_size=32)
    expected = encode_crops(prepare_spots(sdata, background="white"), encoder, size=32)
    for rank in (0, 1):
        with np.load(tmp_path / f"features-{rank}.npz") as got:
            np.testing.assert_allclose(got["spot"], expected[0], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got["niche"], expected[1], rtol=1e-5, atol=1e-5)
