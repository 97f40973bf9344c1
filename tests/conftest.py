"""Shared fixtures: tiny synthetic data built once per session, and the path to the shared real data."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _single_torch_thread():
    """Run torch on one thread: the suite trains tiny models, whose ops are far slower when two threads contend
    for two shared cores (measured: 5 epochs in 2.8 s on one thread against about 70 s on two, under load)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def toy_sdata():
    """A small two-section toy slide; tests that modify it must deep-copy it first."""
    import hyperst as hst

    return hst.datasets.toy(n_sections=2, n_spots=120, n_genes=30, seed=0)


@pytest.fixture(scope="session")
def her2st_dir() -> Path:
    """Folder of the shared her2st sections; skips the test where it is absent."""
    path = SHARED_DATA / "her2st"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path
