"""Datasets: a synthetic toy slide built offline, real data through a checksummed registry, HEST-1k from the Hub."""

from __future__ import annotations

from hyperst.datasets._her2st import her2st
from hyperst.datasets._hest import hest
from hyperst.datasets._toy import toy

__all__ = ["her2st", "hest", "toy"]
