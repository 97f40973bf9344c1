"""Shared fixtures: tiny synthetic data built once per session, and the path to the shared real data."""

from __future__ import annotations

import logging
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
def black_toy_sdata(toy_sdata):
    """``toy_sdata`` as a tissue-masked export shows it: its glass (bright grey pixels) black; do not modify."""
    import dask.array as da
    import numpy as np
    import spatialdata

    copy = spatialdata.deepcopy(toy_sdata)
    for key, image in copy.images.items():
        pixels = np.asarray(image.data.compute())
        glass = (pixels.mean(axis=0) > 215) & (np.ptp(pixels, axis=0) < 25)
        black = np.where(glass, 0, pixels).astype(np.uint8)
        copy.images[key] = image.copy(data=da.from_array(black, chunks=image.data.chunksize))
    return copy


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
    """Options of ``hst.tl.fit`` for a tiny model (a fresh copy per test)."""
    return dict(FAST)


@pytest.fixture(scope="session")
def toy_model(toy_sdata):
    """A tiny model trained once on ``toy_sdata`` (3 epochs); tests must not modify it."""
    import hyperst as hst

    return hst.tl.fit(toy_sdata, max_epochs=3, **FAST)


@pytest.fixture(scope="session")
def toy_ensemble(toy_sdata):
    """A tiny three-member ensemble trained once on ``toy_sdata`` (2 epochs); tests must not modify it."""
    import hyperst as hst

    return hst.tl.fit(toy_sdata, max_epochs=2, n_models=3, **FAST)


@pytest.fixture(scope="session")
def predicted_sdata(toy_sdata, toy_model):
    """A copy of ``toy_sdata`` with the ``hyperst`` table of ``toy_model`` (evaluated); tests must not modify it."""
    import spatialdata

    import hyperst as hst

    sdata = spatialdata.deepcopy(toy_sdata)
    hst.tl.predict(sdata, toy_model)
    hst.tl.evaluate(sdata, groupby="section")
    return sdata


@pytest.fixture(scope="session")
def her2st_dir() -> Path:
    """Folder of the shared her2st sections; skips the test where it is absent."""
    path = SHARED_DATA / "her2st"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture
def library_log():
    """``capture(name)`` collects the records of a library's logger, which may not propagate to caplog's handler."""
    attached = []

    def capture(name: str) -> list[logging.LogRecord]:
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger(name).addHandler(handler)
        attached.append((name, handler))
        return records

    yield capture
    for name, handler in attached:
        logging.getLogger(name).removeHandler(handler)


@pytest.fixture
def run_script(tmp_path):
    """``run_script(source, *args)``: run a Python script in a fresh process (one torch thread), e.g. a DDP launch.

    The script is written to ``tmp_path`` and run there; returns the completed process, output captured as text.
    """
    import os
    import subprocess
    import sys
    import textwrap

    def run(source: str, *args: str):
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(source))
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env={**os.environ, "OMP_NUM_THREADS": "1"},  # two processes on two cores: one thread each
        )

    return run
