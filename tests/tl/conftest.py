"""A small model trained once on the toy slide, shared by the tl tests (which must not modify it)."""

from __future__ import annotations

import pytest

import hyperst as hst

# Tiny but complete: every stream, loss term and the hyperbolic geometry, at CPU-test speed.
FAST = {
    "encoder": "cnn",
    "encoder_kwargs": {"input_size": 32, "n_blocks": 3, "width": 8},
    "embed_dim": 32,
    "batch_size": 32,
    "lr": 3e-3,
    "progress_bar": False,
}


@pytest.fixture(scope="session")
def fast_fit_kwargs():
    return dict(FAST)


@pytest.fixture(scope="session")
def toy_model(toy_sdata):
    return hst.tl.fit(toy_sdata, max_epochs=3, **FAST)
