"""Datasets: a synthetic toy slide built offline and real data downloaded through a checksummed registry."""

from __future__ import annotations

from hyperst.datasets._her2st import her2st
from hyperst.datasets._toy import toy

__all__ = ["her2st", "toy"]
