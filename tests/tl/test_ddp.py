"""Distributed data-parallel training on two CPU processes (gloo), as a user script would run it."""

from __future__ import annotations

import pytest

import hyperst as hst

SCRIPT = """
import logging
import sys

import hyperst as hst

logging.basicConfig(level=logging.INFO)  # hyperst's own line says how many processes trained

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
