"""``hst.datasets.her2st``: HER2-positive breast cancer sections (legacy Spatial Transcriptomics), downloaded once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from hyperst._constants import DATA_DIR_ENV, Key, Unit
from hyperst._logging import logger
from hyperst.datasets import _registry

if TYPE_CHECKING:
    from spatialdata import SpatialData

_CHUNK = 2048  # image chunk side (pixels)


def her2st(
    sections: Sequence[str] | None = None,
    *,
    join: Literal["union", "inner"] = "union",
    data_dir: str | Path | None = None,
) -> SpatialData:
    """Load sections of the her2st dataset (Andersson et al., Nat. Commun. 2021) as a SpatialData object.

    Files come from the public repository ``almaan/her2st`` through a checksummed registry (pooch) and are cached
    in ``$HYPERST_DATA_DIR`` (default: the user cache folder); present files with the right checksum are never
    downloaded again, so a filled cache works offline. Legacy ST arrays: 100 µm spots, 200 µm apart on a square
    grid; the pixel size of each image is derived from the spot spacing in pixels, never assumed.

    Parameters
    ----------
    sections
        Sections to load, of ``"B4"``, ``"C2"``, ``"C3"``, ``"C4"``, ``"C5"``, ``"C6"``; default all six.
    join
        Genes of the table: ``"union"`` of the sections' genes (a gene absent from a section's file had no
        counts in that array and is filled with 0) or ``"inner"`` (genes present in every section).
    data_dir
        Cache folder, overriding ``$HYPERST_DATA_DIR``.

    Returns
    -------
    Per section ``S``: the image ``"{S}_image"`` (``c, y, x`` uint8, dask-backed), the circles ``"{S}_spots"``, both
    in a coordinate system ``S`` in µm; one table ``"table"`` of raw counts (``X``, CSR float32) annotating all
    spots, with ``obs["section"]``, ``obs["patient"]`` (first letter of the section), ``obs["array_x"]``,
    ``obs["array_y"]`` and ``obsm["spatial"]`` (pixel centres).

    Examples
    --------
    >>> sdata = hst.datasets.her2st(sections=["C2", "C3"])  # doctest: +SKIP
    """
    available = list(_registry.HER2ST_IMAGES)
    sections = available if sections is None else [sections] if isinstance(sections, str) else list(sections)
    unknown = [s for s in sections if s not in available]
    if unknown or not sections or len(set(sections)) != len(sections):
        raise ValueError(f"`sections` must be distinct names among {available}, got {sections}.")
    if join not in ("union", "inner"):
        raise ValueError(f"`join` must be 'union' or 'inner', got {join!r}.")
    files = {}
    for section in sections:
        files |= _registry.her2st_files(section)
    fetcher = _registry.make_pooch(
        files, _registry.HER2ST_SHA256, _registry.HER2ST_BASE_URL, None if data_dir is None else str(data_dir)
    )
    parts = []
    for section in sections:
        paths = {name.rsplit("/", 1)[1]: _fetch(fetcher, name) for name in _registry.her2st_files(section)}
        parts.append(_read_section(section, paths))
    return _assemble(parts, join)


def _fetch(fetcher, name: str) -> Path:
    try:
        return Path(fetcher.fetch(name))
    except OSError as error:  # network errors (requests' exceptions are OSErrors)
        raise OSError(
            f"Could not download {name!r} from {fetcher.get_url(name)} ({error}). Check the connection, or put the "
            f"files in ${DATA_DIR_ENV}/{name} (checked against their sha256) to work offline."
        ) from error


def _read_section(section: str, paths: dict[str, Path]) -> dict:
    counts = pd.read_csv(paths["counts.tsv.gz"], sep="\t", index_col=0)
    spots = pd.read_csv(paths["spots.tsv"], sep="\t")
    spots.index = spots["x"].astype(int).astype(str) + "x" + spots["y"].astype(int).astype(str)
    spots = spots[~spots.index.duplicated()]
    missing = counts.index.difference(spots.index)
    if len(missing):
        raise ValueError(f"her2st {section}: {len(missing)} spots of the counts table have no pixel position.")
    spots = spots.loc[counts.index]
    array_xy = spots[["x", "y"]].to_numpy(dtype=float)
    pixel_xy = spots[["pixel_x", "pixel_y"]].to_numpy(dtype=float)
    # pixel = array @ M + t; one array step is one spot spacing, so |det M| is the spacing squared in pixels
    design = np.column_stack([array_xy, np.ones(len(array_xy))])
    coefficients = np.linalg.lstsq(design, pixel_xy, rcond=None)[0]
    spacing_px = float(np.sqrt(abs(np.linalg.det(coefficients[:2]))))
    microns_per_pixel = Unit.LEGACY_ST_SPOT_SPACING_UM / spacing_px
    logger.info(
        "her2st %s: %d spots, spacing %.1f px -> %.4f µm/px.", section, len(counts), spacing_px, microns_per_pixel
    )
    return {
        "section": section,
        "counts": counts,
        "array_xy": array_xy.astype(int),
        "pixel_xy": pixel_xy,
        "image": _read_jpeg(
            paths["he.jpg"], f"her2st-{section}-{_registry.HER2ST_SHA256[f'her2st/{section}/he.jpg'][:16]}"
        ),
        "microns_per_pixel": microns_per_pixel,
    }


def _read_jpeg(path: Path, name: str):
    """Decode the JPEG once and wrap it as a chunked ``(c, y, x)`` dask array."""
    import dask.array as da

    try:
        import imagecodecs

        pixels = imagecodecs.jpeg8_decode(path.read_bytes())  # about twice as fast as PIL -> numpy here
    except ImportError:  # pragma: no cover - imagecodecs ships with the spatialdata stack
        from PIL import Image

        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # ~92 Mpx slides exceed PIL's bomb limit
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    # inline_array: no defensive copy of the decoded slide; the transpose to (c, y, x) happens per chunk on read
    return da.from_array(pixels, chunks=(_CHUNK, _CHUNK, 3), name=name, inline_array=True).transpose(2, 0, 1)


def _assemble(parts: list[dict], join: str) -> SpatialData:
    import anndata as ad
    from scipy import sparse
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, ShapesModel, TableModel
    from spatialdata.transformations import Scale

    genes = pd.Index(parts[0]["counts"].columns)
    for part in parts[1:]:
        columns = pd.Index(part["counts"].columns)
        genes = genes.union(columns, sort=False) if join == "union" else genes.intersection(columns, sort=False)
    images, shapes, obs, blocks, spatial = {}, {}, [], [], []
    for part in parts:
        section, mpp, n = part["section"], part["microns_per_pixel"], len(part["counts"])
        to_um = {section: Scale([mpp, mpp], axes=("y", "x"))}
        images[f"{section}_image"] = Image2DModel.parse(
            part["image"], dims=("c", "y", "x"), c_coords=["r", "g", "b"], transformations=to_um
        )
        radius_px = Unit.LEGACY_ST_SPOT_DIAMETER_UM / 2 / mpp
        shapes[f"{section}_spots"] = ShapesModel.parse(
            part["pixel_xy"], geometry=0, radius=np.full(n, radius_px), index=pd.RangeIndex(n), transformations=to_um
        )
        obs.append(
            pd.DataFrame(
                {
                    Key.REGION: f"{section}_spots",
                    Key.INSTANCE: np.arange(n),
                    Key.SECTION: section,
                    Key.PATIENT: section[0],
                    "array_x": part["array_xy"][:, 0],
                    "array_y": part["array_xy"][:, 1],
                },
                index=f"{section}_" + part["counts"].index.astype(str),
            )
        )
        counts = part["counts"].reindex(columns=genes, fill_value=0)
        blocks.append(sparse.csr_matrix(counts.to_numpy(dtype=np.float32)))
        spatial.append(part["pixel_xy"])
    obs = pd.concat(obs)
    for column in (Key.REGION, Key.SECTION, Key.PATIENT):
        obs[column] = pd.Categorical(obs[column])
    table = ad.AnnData(
        X=sparse.vstack(blocks, format="csr"),
        obs=obs,
        var=pd.DataFrame(index=genes.astype(str)),
        obsm={Key.SPATIAL: np.concatenate(spatial)},
    )
    table.uns["her2st"] = {
        "sections": [p["section"] for p in parts],
        "microns_per_pixel": {p["section"]: p["microns_per_pixel"] for p in parts},
        "join": join,
        "reference": "Andersson et al., Nat. Commun. 12, 6012 (2021); github.com/almaan/her2st",
    }
    table = TableModel.parse(table, region=sorted(shapes), region_key=Key.REGION, instance_key=Key.INSTANCE)
    return SpatialData(images=images, shapes=shapes, tables={Key.TABLE: table})
