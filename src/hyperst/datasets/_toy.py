"""A synthetic multi-section SpatialData slide with a planted image -> gene signal, built offline in seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hyperst._constants import Key, Unit
from hyperst.datasets import _synthetic_tissue as tissue

if TYPE_CHECKING:
    from spatialdata import SpatialData


def toy(
    n_sections: int = 2,
    n_spots: int = 200,
    *,
    n_genes: int = 60,
    seed: int = 0,
    n_patients: int | None = None,
    microns_per_pixel: float = 2.0,
) -> SpatialData:
    """Build a small Visium-like slide whose gene expression is written in its H&E image.

    Each section gets an H&E-like RGB image, a circles element of spots on a hexagonal grid (55 µm spots,
    100 µm apart) and rows in one shared ``table`` of negative-binomial counts. Three latent tissue fields
    (nuclear density, eosin intensity, nuclear size) set both the image's colour and texture and the genes'
    expression: some genes follow the tissue under the spot, some the ~255 µm neighbourhood (niche), some
    both and some nothing (``table.var["signal"]``). Sections differ in sequencing depth, as real ones do.

    Parameters
    ----------
    n_sections
        Number of tissue sections.
    n_spots
        Spots per section.
    n_genes
        Genes in the table.
    seed
        Seed of the random generator; the same seed gives the same object.
    n_patients
        Number of patients the sections are spread over (round robin); defaults to one patient per section.
    microns_per_pixel
        Pixel size of the images.

    Returns
    -------
    A :class:`~spatialdata.SpatialData` with, per section ``S``, the image ``"{S}_image"`` (``c, y, x`` uint8)
    and the circles ``"{S}_spots"`` in a coordinate system named ``S`` whose unit is the micrometre, plus one
    table ``"table"`` annotating all spots elements (``obs["region"]``, ``obs["spot_id"]``, ``obs["section"]``,
    ``obs["patient"]``; raw counts in ``X``; pixel centres in ``obsm["spatial"]``).

    Examples
    --------
    >>> import hyperst as hst
    >>> sdata = hst.datasets.toy(n_sections=2, n_spots=100, seed=0)
    >>> sdata.tables["table"].n_obs
    200
    """
    _check_positive(n_sections=n_sections, n_spots=n_spots, n_genes=n_genes, microns_per_pixel=microns_per_pixel)
    n_patients = n_sections if n_patients is None else n_patients
    if not 1 <= n_patients <= n_sections:
        raise ValueError(f"`n_patients` must be between 1 and `n_sections` ({n_sections}), got {n_patients}.")

    section_seeds, programme_seed = np.random.SeedSequence(seed).spawn(2)
    programme = tissue.gene_programme(n_genes, np.random.default_rng(programme_seed))
    section_rngs = [np.random.default_rng(s) for s in section_seeds.spawn(n_sections)]

    sections = [f"S{i + 1}" for i in range(n_sections)]
    patients = [f"P{i % n_patients + 1}" for i in range(n_sections)]
    parts = [
        _simulate_section(name, patient, programme, n_spots, microns_per_pixel, rng)
        for name, patient, rng in zip(sections, patients, section_rngs, strict=True)
    ]
    return _assemble(parts, programme, microns_per_pixel)


def _simulate_section(section, patient, programme, n_spots, microns_per_pixel, rng) -> dict:
    px = 1 / microns_per_pixel  # pixels per µm
    grid = tissue.hexagonal_spots(n_spots, Unit.VISIUM_SPOT_SPACING_UM * px, margin_px=300 * px, rng=rng)
    fields = tissue.latent_fields(grid.tissue_mask.shape, fine_px=30 * px, coarse_px=150 * px, rng=rng)
    image = tissue.render_he(fields, grid.tissue_mask, microns_per_pixel, rng)
    spot_signal = tissue.sample_window_means(fields, grid.xy, Unit.VISIUM_SPOT_DIAMETER_UM * px, disk=True)
    niche_signal = tissue.sample_window_means(fields, grid.xy, 255 * px, disk=False)
    depth = float(np.exp(rng.normal(0, 0.5)))
    counts = tissue.sample_counts(programme, spot_signal, niche_signal, depth, rng)
    return {
        "section": section,
        "patient": patient,
        "grid": grid,
        "image": image,
        "counts": counts,
        "spot_signal": spot_signal,
        "niche_signal": niche_signal,
    }


def _assemble(parts: list[dict], programme: tissue.GeneProgramme, microns_per_pixel: float) -> SpatialData:
    import anndata as ad
    import pandas as pd
    from scipy import sparse
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, ShapesModel, TableModel
    from spatialdata.transformations import Scale

    images, shapes, obs_frames, counts, spatial, spot_signal, niche_signal = {}, {}, [], [], [], [], []
    radius_px = Unit.VISIUM_SPOT_DIAMETER_UM / 2 / microns_per_pixel
    for part in parts:
        section, grid = part["section"], part["grid"]
        pixel_to_um = {section: Scale([microns_per_pixel, microns_per_pixel], axes=("y", "x"))}
        images[f"{section}_image"] = Image2DModel.parse(
            part["image"], dims=("c", "y", "x"), c_coords=["r", "g", "b"], transformations=pixel_to_um
        )
        n = len(grid.xy)
        shapes[f"{section}_spots"] = ShapesModel.parse(
            grid.xy, geometry=0, radius=np.full(n, radius_px), index=pd.RangeIndex(n), transformations=pixel_to_um
        )
        obs_frames.append(
            pd.DataFrame(
                {
                    Key.REGION: f"{section}_spots",
                    Key.INSTANCE: np.arange(n),
                    Key.SECTION: section,
                    Key.PATIENT: part["patient"],
                    "array_row": grid.array_row,
                    "array_col": grid.array_col,
                },
                index=[f"{section}_{i}" for i in range(n)],
            )
        )
        counts.append(part["counts"])
        spatial.append(grid.xy)
        spot_signal.append(part["spot_signal"])
        niche_signal.append(part["niche_signal"])

    obs = pd.concat(obs_frames)
    for column in (Key.REGION, Key.SECTION, Key.PATIENT):
        obs[column] = pd.Categorical(obs[column])
    var = pd.DataFrame(
        {"signal": pd.Categorical(programme.signal, categories=tissue.GENE_SIGNALS)},
        index=[f"G{i:03d}" for i in range(len(programme.signal))],
    )
    table = ad.AnnData(
        X=sparse.csr_matrix(np.concatenate(counts).astype(np.float32)),
        obs=obs,
        var=var,
        obsm={
            Key.SPATIAL: np.concatenate(spatial),
            "toy_spot_signal": np.concatenate(spot_signal).astype(np.float32),
            "toy_niche_signal": np.concatenate(niche_signal).astype(np.float32),
        },
        uns={"toy": {"latent_names": list(tissue.LATENT_NAMES), "microns_per_pixel": microns_per_pixel}},
    )
    table = TableModel.parse(table, region=sorted(shapes), region_key=Key.REGION, instance_key=Key.INSTANCE)
    return SpatialData(images=images, shapes=shapes, tables={Key.TABLE: table})


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"`{name}` must be positive, got {value}.")
