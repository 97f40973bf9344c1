"""Niches: a spot with its first ring of neighbours, and the niche expression (mean raw counts over the niche).

Neighbours come from :mod:`squidpy` on a throw-away AnnData per section, so the user's table is never written:
on a hexagonal (Visium) grid the 6 spots one spacing away, on a square (legacy ST) grid the 8 spots up to
sqrt(2) spacings away, for Visium HD bins the bins within a Visium spot's disk (55 µm) around the bin, otherwise
the ``n_neighbours`` nearest spots.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceType
from typing import TYPE_CHECKING

import numpy as np

from hyperst._logging import quiet_loggers
from hyperst.data._grid import niche_radius_um

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from hyperst.data._sections import Section

DEFAULT_GENERIC_NEIGHBOURS = 6


def section_neighbours(section: Section, *, n_neighbours: int = DEFAULT_GENERIC_NEIGHBOURS) -> csr_matrix:
    """Binary ``(n, n)`` neighbour graph of one section's spots (no self loops).

    Parameters
    ----------
    section
        The section (spot centres, grid kind and spacing).
    n_neighbours
        Neighbours per spot on a generic (non-lattice) layout.

    Returns
    -------
    A symmetric CSR matrix with ones where two spots are neighbours.
    """
    import anndata as ad
    import pandas as pd
    import squidpy as sq
    from scipy import sparse

    n = section.n_spots
    if n < 2:
        return sparse.csr_matrix((n, n), dtype=np.float32)
    adata = ad.AnnData(obs=pd.DataFrame(index=pd.RangeIndex(n).astype(str)), obsm={"spatial": section.centres_px})
    with quiet_loggers("spatialdata._logging"):  # squidpy announces every graph it builds through spatialdata's logger
        radius_um = niche_radius_um(section.grid, section.spot_spacing_um)
        if radius_um is not None:
            result = sq.gr.spatial_neighbors_radius(adata, radius=radius_um / section.microns_per_pixel, copy=True)
        else:
            result = sq.gr.spatial_neighbors_knn(adata, n_neighs=min(n_neighbours, n - 1), copy=True)
    graph = sparse.csr_matrix(result.connectivities, dtype=np.float32)
    graph = ((graph + graph.T) > 0).astype(np.float32)
    graph.setdiag(0)
    graph.eliminate_zeros()
    return graph.tocsr()


def neighbour_graph(sections: SequenceType[Section], **kwargs: int) -> csr_matrix:
    """Block-diagonal neighbour graph over the spots of all sections, in section order (spots never cross sections)."""
    from scipy import sparse

    blocks = [section_neighbours(section, **kwargs) for section in sections]
    return sparse.block_diag(blocks, format="csr", dtype=np.float32) if blocks else sparse.csr_matrix((0, 0))


def niche_means(counts: np.ndarray, graph: csr_matrix) -> np.ndarray:
    """Mean raw counts over each spot and its neighbours, ``(n, n_genes)`` float32.

    Parameters
    ----------
    counts
        ``(n, n_genes)`` raw counts, rows in the order of ``graph``.
    graph
        ``(n, n)`` neighbour graph without self loops (:func:`neighbour_graph`).
    """
    from scipy import sparse

    with_self = (graph + sparse.identity(graph.shape[0], dtype=np.float32, format="csr")).tocsr()
    size = np.asarray(with_self.sum(axis=1)).ravel()
    mean = sparse.diags(1.0 / size) @ with_self
    return np.asarray(mean @ counts, dtype=np.float32)
