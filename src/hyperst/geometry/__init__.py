"""Hyperbolic geometry in pure torch: the Lorentz model (see :mod:`hyperst.geometry.lorentz` for the convention)."""

from __future__ import annotations

from hyperst.geometry._common import no_autocast
from hyperst.geometry.lorentz import (
    dist,
    dist0,
    exp_map0,
    exterior_angle,
    half_aperture,
    inner,
    log_map0,
    pairwise_dist,
    pairwise_inner,
    time_component,
    to_poincare,
)

__all__ = [
    "dist",
    "dist0",
    "exp_map0",
    "exterior_angle",
    "half_aperture",
    "inner",
    "log_map0",
    "no_autocast",
    "pairwise_dist",
    "pairwise_inner",
    "time_component",
    "to_poincare",
]
