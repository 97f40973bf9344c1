"""``hst.io.read_hest``: samples of a HEST-1k folder as one SpatialData object (one section per sample).

A HEST-1k folder (Jaume et al., NeurIPS 2024; ``huggingface.co/datasets/MahmoodLab/hest``) holds, per sample id,
``st/{id}.h5ad`` (raw counts, ``obsm["spatial"]`` = spot centres in level-0 pixels), ``wsis/{id}.tif`` (the
pyramidal H&E slide) and ``metadata/{id}.json`` (pixel size, spot diameter, organ, technology, patient). Other
folders (``tissue_seg/``, ``patches/``, ``cellvit_seg/``, ...) are optional and not read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from hyperst._constants import Key
from hyperst._logging import logger
from hyperst.io._duplicates import warn_duplicates
from hyperst.io._wsi import read_wsi

if TYPE_CHECKING:
    from spatialdata import SpatialData

# Metadata keys of a HEST sample that hyperst reads (metadata/{id}.json).
_PIXEL_SIZE = "pixel_size_um_estimated"
_SPOT_DIAMETER = "spot_diameter"
_TECHNOLOGY = "st_technology"
_REQUIRED = (_PIXEL_SIZE, _SPOT_DIAMETER)
_OBS_FROM_H5AD = ("in_tissue", "array_row", "array_col")  # per-spot columns of st/{id}.h5ad that are kept


def read_hest(
    hest_dir: str | Path,
    ids: str | Sequence[str] | None = None,
    *,
    join: Literal["union", "inner"] = "union",
) -> SpatialData:
    """Read samples of a HEST-1k folder as one SpatialData object, one section per sample.

    The slides are read lazily (the TIFF pyramid as a multiscale image), the spots become circles at the sample's
    spot diameter, and the counts of all samples one table that hyperst trains and predicts on directly. The pixel
    size of each slide is HEST's ``pixel_size_um_estimated``, recorded in ``table.uns["hyperst_microns_per_pixel"]``
    where :func:`hyperst.tl.fit` and :func:`hyperst.tl.predict` find it. Samples that look duplicated (byte-identical
    files, or one section under two ids) are named in a warning: keep one of each before splitting by patient.

    Parameters
    ----------
    hest_dir
        The HEST folder, holding ``st/``, ``wsis/`` and ``metadata/``.
    ids
        Sample ids to read (e.g. ``["TENX95", "NCBI783"]``); default every sample in ``st/``.
    join
        Genes of the table: ``"union"`` of the samples' genes (a gene a sample did not measure counts 0 there) or
        ``"inner"`` (genes of every sample; use it for samples of different panels or species).

    Returns
    -------
    Per sample ``S``: the image ``"{S}_image"`` (``c, y, x``, dask-backed, multiscale when the TIFF has a pyramid)
    and the circles ``"{S}_spots"`` (in level-0 pixels), both mapping to a coordinate system ``S`` in µm; one table
    ``"table"`` of raw counts (``X``, CSR float32) annotating all spots, with ``obs["section"]`` (the id),
    ``obs["patient"]`` (HEST's patient, else the id), ``obs["organ"]``, ``obs["technology"]``, ``obsm["spatial"]``
    (pixel centres) and ``uns["hest"]`` (the samples' metadata).

    Examples
    --------
    >>> sdata = hst.io.read_hest("hest_data", ids=["TENX95"])  # doctest: +SKIP
    >>> model = hst.tl.fit(sdata)  # doctest: +SKIP
    """
    if join not in ("union", "inner"):
        raise ValueError(f"`join` must be 'union' or 'inner', got {join!r}.")
    root = Path(hest_dir)
    ids = _resolve_ids(root, ids)
    metadata = {sample: _read_metadata(root, sample) for sample in ids}
    for sample in ids:
        if not (root / "wsis" / f"{sample}.tif").is_file():
            raise FileNotFoundError(
                f"HEST sample {sample!r} has no slide {str(root / 'wsis' / f'{sample}.tif')!r}; download its "
                f"`wsis/{sample}.tif` (e.g. `hst.datasets.hest(ids=[{sample!r}])`) or leave the id out."
            )
    parts = [_read_sample(root, sample, metadata[sample]) for sample in ids]
    warn_duplicates(root, parts)
    return _assemble(parts, join)


def _resolve_ids(root: Path, ids: str | Sequence[str] | None) -> list[str]:
    if not root.is_dir():
        raise FileNotFoundError(f"HEST folder {str(root)!r} does not exist.")
    if not (root / "st").is_dir():
        raise ValueError(
            f"{str(root)!r} is not a HEST folder: it has no `st/` folder of counts (`st/{{id}}.h5ad`). Pass the "
            "folder that holds `st/`, `wsis/` and `metadata/`."
        )
    available = sorted(path.stem for path in (root / "st").glob("*.h5ad"))
    if ids is None:
        if not available:
            raise ValueError(f"{str(root / 'st')!r} holds no `.h5ad` file: no HEST sample to read.")
        return available
    ids = [ids] if isinstance(ids, str) else list(ids)
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"`ids` must be distinct sample ids, got {ids}.")
    unknown = [sample for sample in ids if sample not in available]
    if unknown:
        shown = available[:10] + (["..."] if len(available) > 10 else [])
        raise KeyError(
            f"HEST samples {unknown} are not in {str(root / 'st')!r} ({len(available)} samples there: {shown}). "
            "Check the ids against HEST's metadata table, or download them first with `hst.datasets.hest`."
        )
    return ids


def _read_metadata(root: Path, sample: str) -> dict[str, Any]:
    path = root / "metadata" / f"{sample}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"HEST sample {sample!r} has no metadata file {str(path)!r}: its pixel size and spot diameter are "
            f"unknown. Download `metadata/{sample}.json` with the sample (`hst.datasets.hest(ids=[{sample!r}])`)."
        )
    metadata = json.loads(path.read_text())
    for key in _REQUIRED:
        value = metadata.get(key)
        if not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"HEST metadata {str(path)!r} needs a positive number {key!r}, got {value!r}.")
    return metadata


def _read_sample(root: Path, sample: str, metadata: dict[str, Any]) -> dict[str, Any]:
    import anndata as ad
    from scipy import sparse
    from spatialdata.transformations import Scale

    counts = ad.read_h5ad(root / "st" / f"{sample}.h5ad")
    if Key.SPATIAL not in counts.obsm:
        raise KeyError(f"HEST counts st/{sample}.h5ad have no `obsm['spatial']` (spot centres in slide pixels).")
    if not counts.var_names.is_unique:
        logger.info("HEST sample %r: gene names repeat; made unique with `var_names_make_unique`.", sample)
        counts.var_names_make_unique()
    mpp = float(metadata[_PIXEL_SIZE])
    to_um = {sample: Scale([mpp, mpp], axes=("y", "x"))}
    patient = metadata.get(Key.PATIENT)
    if patient is None or pd.isna(patient) or not str(patient).strip():
        logger.info("HEST sample %r names no patient: its id stands for the patient in group splits.", sample)
        patient = sample
    centres = np.asarray(counts.obsm[Key.SPATIAL], dtype=float)[:, :2]
    obs = pd.DataFrame(
        {
            Key.REGION: f"{sample}_spots",
            Key.INSTANCE: np.arange(counts.n_obs),
            Key.SECTION: sample,
            Key.PATIENT: str(patient),
            Key.ORGAN: str(metadata.get("organ", "unknown")),
            Key.TECHNOLOGY: str(metadata.get(_TECHNOLOGY, "unknown")),
        },
        index=f"{sample}_" + counts.obs_names.astype(str),
    )
    for column in _OBS_FROM_H5AD:
        if column in counts.obs:
            obs[column] = counts.obs[column].to_numpy()
    table = ad.AnnData(
        X=sparse.csr_matrix(counts.X, dtype=np.float32), obs=obs, var=pd.DataFrame(index=counts.var_names.astype(str))
    )
    table.obsm[Key.SPATIAL] = centres
    logger.info(
        "HEST sample %r: %d spots of %g µm, %d genes, %.4g µm/px (%s, %s).",
        sample, counts.n_obs, metadata[_SPOT_DIAMETER], counts.n_vars, mpp,
        obs[Key.TECHNOLOGY].iloc[0], obs[Key.ORGAN].iloc[0],
    )  # fmt: skip
    return {
        "sample": sample,
        "metadata": metadata,
        "microns_per_pixel": mpp,
        "table": table,
        "image": read_wsi(root / "wsis" / f"{sample}.tif", transformations=to_um),
        "transformations": to_um,
    }


def _assemble(parts: list[dict[str, Any]], join: str) -> SpatialData:
    import anndata as ad
    from scipy import sparse
    from spatialdata import SpatialData
    from spatialdata.models import ShapesModel, TableModel

    images, shapes = {}, {}
    for part in parts:
        sample, table = part["sample"], part["table"]
        radius_px = part["metadata"][_SPOT_DIAMETER] / 2 / part["microns_per_pixel"]
        images[f"{sample}_image"] = part["image"]
        shapes[f"{sample}_spots"] = ShapesModel.parse(
            table.obsm[Key.SPATIAL],
            geometry=0,
            radius=np.full(table.n_obs, radius_px),
            index=pd.RangeIndex(table.n_obs),
            transformations=part["transformations"],
        )
    # anndata's concat aligns the genes (outer: a gene a sample lacks counts 0 there)
    table = ad.concat([p["table"] for p in parts], join="outer" if join == "union" else "inner", fill_value=0)
    table.X = sparse.csr_matrix(table.X, dtype=np.float32)
    for column in (Key.REGION, Key.SECTION, Key.PATIENT, Key.ORGAN, Key.TECHNOLOGY):
        table.obs[column] = pd.Categorical(table.obs[column])
    table.uns[Key.PIXEL_SIZES] = {f"{p['sample']}_spots": p["microns_per_pixel"] for p in parts}
    table.uns["hest"] = {
        "ids": [p["sample"] for p in parts],
        "join": join,
        "metadata": {p["sample"]: _json_safe(p["metadata"]) for p in parts},
        "reference": "Jaume et al., NeurIPS 2024 (HEST-1k); huggingface.co/datasets/MahmoodLab/hest",
    }
    table = TableModel.parse(table, region=sorted(shapes), region_key=Key.REGION, instance_key=Key.INSTANCE)
    return SpatialData(images=images, shapes=shapes, tables={Key.TABLE: table})


def _json_safe(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata values that AnnData writes to zarr/h5ad: numbers and strings, missing values as empty strings."""
    safe = {}
    for key, value in metadata.items():
        if isinstance(value, bool | int | float | str) and not (isinstance(value, float) and np.isnan(value)):
            safe[key] = value
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            safe[key] = ""
        else:
            safe[key] = json.dumps(value)
    return safe
