"""The Poincaré disk's distance rings are named in the title, not by labels over the points (issue 23)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle

import hyperst as hst

from .test_poincare import _table


def test_ring_distances_are_listed_outside_the_disk():
    table = _table()
    fig = hst.pl.poincare(table, return_fig=True)
    disk = fig.axes[0]
    assert len(disk.texts) == 0  # nothing written inside the disk, over the points
    rings = [p for p in disk.patches if isinstance(p, Circle) and p.get_linestyle() == ":"]
    title = disk.get_title()
    assert rings and "dotted rings at distance d = " in title
    listed = [float(d) for d in title.split("d = ")[-1].split(", ")]
    curv = float(table.uns["hyperst"]["curvature"])
    radii = sorted(p.get_radius() for p in rings)
    np.testing.assert_allclose(radii, np.tanh(np.sqrt(curv) * np.array(listed) / 2))
    plt.close(fig)
