"""Plots: Poincaré-disk hierarchies, spatial gene maps, training and evaluation views."""

from __future__ import annotations

__all__: list[str] = []
