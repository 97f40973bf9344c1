"""Image comparison shared by the plot tests (scanpy's pattern): draw under a fixed style, compare with a baseline.

After an intended change of a compared plot, regenerate its baseline with
``HYPERST_UPDATE_IMAGES=1 .venv/bin/python -m pytest tests/pl`` and look at the new image before committing it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.testing import set_font_settings_for_testing
from matplotlib.testing.compare import compare_images

IMAGES = Path(__file__).parent / "_images"
UPDATE = os.environ.get("HYPERST_UPDATE_IMAGES") == "1"
TOLERANCE = 2.0  # RMS over 0-255 pixel values; a changed line or point colour scores 4.4-6.0 (checked by hand)


@pytest.fixture
def matches_baseline(tmp_path) -> Callable[[Callable, str], None]:
    """``check(draw, name)``: draw a figure under a fixed style and compare it with ``_images/<name>.png``."""

    def check(draw: Callable, name: str) -> None:
        with matplotlib.rc_context():
            plt.style.use("default")
            set_font_settings_for_testing()
            fig = draw()
            actual = tmp_path / f"{name}.png"
            fig.savefig(actual, dpi=60)
        expected = IMAGES / f"{name}.png"
        if UPDATE:
            IMAGES.mkdir(exist_ok=True)
            shutil.copyfile(actual, expected)
        assert expected.exists(), f"No baseline {expected}; create it with HYPERST_UPDATE_IMAGES=1 (see conftest)."
        failure = compare_images(str(expected), str(actual), tol=TOLERANCE)
        assert failure is None, f"{failure}\nactual image: {actual}"

    return check
