"""Plots: Poincaré-disk hierarchies, spatial gene maps, training and evaluation views."""

from __future__ import annotations

from hyperst.pl._cross_validation import cross_validation
from hyperst.pl._gene_metrics import gene_metrics
from hyperst.pl._history import training_history
from hyperst.pl._poincare import poincare
from hyperst.pl._spatial import spatial_genes

__all__: list[str] = ["cross_validation", "gene_metrics", "poincare", "spatial_genes", "training_history"]
