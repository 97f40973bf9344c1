"""``hst.tl.predict``: predict the model's gene panel for spots of a (new) slide and write the ``hyperst`` table."""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._constants import DEFAULT_N_JOBS, INTERVAL_COVERAGE, INTERVAL_Z, OOD_THRESHOLD, STREAMS, Key
from hyperst._docs import doc_image_key, doc_layer, doc_params
from hyperst._logging import logger

# `predict` warns when more than this share of spots is flagged (five times the rate of training-like slides).
OOD_WARN_FRACTION = 0.05

if TYPE_CHECKING:
    from anndata import AnnData
    from spatialdata import SpatialData

    from hyperst.data import SpotData
    from hyperst.model import HyperST


@doc_params(layer=doc_layer, image_key=doc_image_key)
def predict(
    sdata: SpatialData,
    model: HyperST,
    *,
    table_key: str | None = Key.TABLE,
    image_key: str | dict[str, str] | None = None,
    spots_key: str | list[str] | None = None,
    key_added: str = Key.OUTPUT_TABLE,
    inplace: bool = True,
    overwrite: bool = False,
    layer: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    spot_diameter_um: float | None = None,
    microns_per_pixel: float | None = None,
    n_jobs: int = DEFAULT_N_JOBS,
    accelerator: str | None = None,
    devices: int | str | list[int] = 1,
    strategy: str | Any = "auto",
) -> AnnData | None:
    """Predict the model's genes for every spot from its spot and niche H&E crops, on the model's scale.

    The scale is ``log2(1 + count)`` for a model fitted with ``target="raw"`` and library-size normalised
    ``log2(1 + count / library size x reference)`` for ``target="normalised"`` (``uns["hyperst"]["target"]``).

    Works on sections the model never saw and on images of any pixel size (crops are cut at physical size).
    With measured counts of every model gene in ``table_key`` the output also holds them (``layers["observed"]``)
    and the gene embeddings; a table that lacks some of the model's genes gets predictions only, with a warning
    naming the missing genes. Without a table, give the spots element(s) with ``spots_key`` (e.g. a grid made by
    ``hst.pp.tile_tissue``) and pass ``table_key=None``.

    Parameters
    ----------
    sdata
        SpatialData with the H&E image(s) and the spots.
    model
        A trained :class:`~hyperst.HyperST`.
    table_key
        Table with the spots (and their counts); ``None`` to predict for ``spots_key`` without measurements.
    {image_key}
    spots_key
        Spots element(s) to predict; default every element the table annotates.
    key_added
        Name of the output table.
    inplace
        Write the table into ``sdata``; ``False`` returns it instead.
    overwrite
        Replace an existing ``key_added`` table.
    {layer}
    batch_size
        Spots per forward pass (memory stays flat in the number of spots).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``.
    spot_diameter_um
        Spot diameter in µm where the data cannot tell (no lattice to recognise).
    microns_per_pixel
        Pixel size of the image in µm, overriding what the spot grid implies.
    n_jobs
        Processes reading crops (and computing ``"squidpy"`` features); see :func:`hyperst.tl.fit`. A frozen
        encoder's features of these spots are read from the feature store when an earlier call stored them.
    accelerator
        Lightning accelerator for a multi-device prediction; overrides ``device`` (e.g. ``"gpu"``).
    devices
        Devices to split the spots across: ``1`` (default) predicts in this process on ``device``; more (e.g.
        ``4``, ``[0, 1]``, ``"auto"``) run Lightning's ``Trainer.predict`` with ``strategy``, each process
        predicting (and encoding, for a frozen encoder) its share of the batches. Every process then holds the
        whole table, equal to one device's: in a script, write it from rank 0.
    strategy
        Lightning strategy for ``devices`` other than 1: ``"ddp"`` from a script, under ``torchrun`` or SLURM
        (strategies that spawn processes from a notebook, ``"ddp_spawn"``/``"ddp_notebook"``, cannot hand the
        predictions back and are refused).

    Returns
    -------
    ``None`` with ``inplace=True``, otherwise the table. It has one row per spot annotating the same
    shapes element(s), ``var_names`` = the model's genes, and:

    - ``layers["predicted"]`` (and ``X``): predicted values on the model's scale, float32, clipped at 0 (the
      network's output is unbounded; expression, and a count derived from it, is never negative);
    - ``layers["predicted_sd"]``: for an ensemble (``n_models > 1``) calibrated on validation spots, the sd of
      the spot's expected expression per spot and gene (at the training spots' median depth): with count
      sampling at a spot's own depth added, 90 % of measured values fall in the interval it implies
      (:func:`hyperst.tl.evaluate` checks exactly that); not written for a single model, or an ensemble fitted
      with ``validation="none"``;
    - ``obs["hyperst_ood"]``: how far the spot's image lies from the training spots', in [0, 1]: the share of
      training spots that lie closer to the training data (0.99: further than 99 % of them); from the image only,
      so H&E-only slides get it too; ``obs["hyperst_ood_flag"]``: ``hyperst_ood > 0.99``;
    - ``obs["hyperst_tissue_fraction"]``: the share of the spot crop that is stained tissue (low at tissue edges
      and over glass; computed once per slide and kept with its stored features);
    - ``layers["observed"]``: the measured values on the same scale, when the table has counts;
    - ``obs["hyperst_library_size"]``: each spot's total count over all genes of its row, when the table has
      counts (:func:`hyperst.tl.evaluate` normalises with it);
    - ``obsm["hyperst_image_spot"]``, ``obsm["hyperst_image_niche"]`` (and ``..._gene_spot``,
      ``..._gene_niche`` with counts): Lorentz space components of the embeddings;
    - ``obsm["spatial"]``: spot centres in full-resolution image pixels;
    - ``uns["hyperst"]``: JSON-safe provenance (version, curvature, genes, encoder, crop sizes, target scale,
      training) and ``"uncertainty"``: the ensemble's size, the calibration (method, nominal coverage, factor per
      gene), the out-of-distribution reference's size, threshold and the share of spots flagged.
    """
    from hyperst.data import check_n_jobs, check_spatialdata, prepare_spots, spot_tissue_fraction
    from hyperst.tl._checks import check_model
    from hyperst.train import check_devices

    check_spatialdata(sdata, "hst.tl.predict")
    check_n_jobs(n_jobs)
    check_devices(devices)
    check_model(model, "hst.tl.predict")
    if not model.is_trained:
        raise ValueError("The model is untrained; run `hst.tl.fit` first (or load a trained model).")
    if inplace and key_added in sdata.tables and not overwrite:
        raise ValueError(f"Table {key_added!r} exists; pass `overwrite=True` to replace it or another `key_added`.")
    if table_key is not None and table_key not in sdata.tables:
        raise KeyError(
            f"No table {table_key!r} in the SpatialData object (tables: {list(sdata.tables)}). To predict for spots "
            "without measurements pass `table_key=None, spots_key=...`."
        )
    with_counts = table_key is not None and _has_model_genes(sdata.tables[table_key], model, table_key)
    spots = prepare_spots(
        sdata,
        table_key=table_key,
        genes=model.genes if with_counts else None,
        layer=layer,
        spots_key=spots_key,
        image_key=image_key,
        spot_diameter_um=spot_diameter_um,
        microns_per_pixel=microns_per_pixel,
        with_counts=with_counts,
        out_of_bounds="pad",
        background=model.background,
    )
    outputs = model.predict(
        spots,
        batch_size=batch_size,
        device=device,
        n_jobs=n_jobs,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
    )
    _report_coarse_scans(spots, model)
    outputs["tissue_fraction"] = spot_tissue_fraction(spots)
    table = _output_table(sdata, table_key, spots, outputs, model)
    if not inplace:
        return table
    if key_added in sdata.tables:
        del sdata.tables[key_added]
    sdata.tables[key_added] = table
    return None


COARSE_SCAN_WARNING = 1.5  # pixels this many times coarser than the working ones: a warning, not info


def _report_coarse_scans(spots: SpotData, model: HyperST) -> None:
    """Say when a section's pixels are coarser than those the model reads spot crops at (they are upsampled).

    A warning from :data:`COARSE_SCAN_WARNING` times the working pixel size on (crops visibly blurred), unless the
    model trained on views of scans that coarse (a frozen encoder's ``n_views``); info otherwise.
    """
    from hyperst.data import CropView

    if not model.input_size:  # features read from the table: no crops
        return
    trained_on = CropView.max_pixel_um if model.encoder.frozen and model.n_views else 0.0
    for section in spots.sections:
        working = section.crop_um("spot") / model.input_size
        if section.microns_per_pixel <= working * 1.05:
            continue
        seen = section.microns_per_pixel <= max(COARSE_SCAN_WARNING * working, trained_on)
        logger.log(
            logging.INFO if seen else logging.WARNING,
            "Image %r has %.2f µm pixels, coarser than the %.2f µm the model reads spot crops at: its crops are "
            "upsampled, blurrier than the training crops%s. %s",
            section.image_key,
            section.microns_per_pixel,
            working,
            f" (its training views simulated scans up to {trained_on:.1f} µm)" if trained_on else "",
            "On her2st a 2.3 µm scan predicted as well as its 0.69 µm original."
            if seen
            else "Expect lower accuracy; read a finer pyramid level or scan of the slide if there is one.",
        )


def _has_model_genes(table: AnnData, model: HyperST, table_key: str) -> bool:
    """Whether the table measures every gene of the model; warn (naming the missing ones) when it does not.

    One rule, whatever the number missing: predictions need only the image, so ``predict`` always goes on; measured
    values are paired with them (``layers["observed"]``, gene embeddings) only for a table with all the genes.
    """
    from hyperst.data import check_genes

    return check_genes(
        table, model.genes, table_key, panel="model", warn=True,
        fix="Predicting all of them without `layers['observed']`, so `hst.tl.evaluate` cannot score this table. "
        "Rename the table's genes to match `model.genes` (same symbols, same case) to score it.",
    )  # fmt: skip


def _output_table(sdata, table_key, spots: SpotData, outputs: dict[str, np.ndarray], model: HyperST) -> AnnData:
    import anndata as ad
    import pandas as pd
    from spatialdata.models import TableModel, get_table_keys

    from hyperst.data import log2p

    if table_key is not None:
        _, region_key, instance_key = get_table_keys(sdata.tables[table_key])
    else:
        region_key, instance_key = Key.REGION, Key.INSTANCE
    obs = spots.obs.copy()
    obs[region_key] = pd.Categorical([s.spots_key for s in spots.sections for _ in range(s.n_spots)])
    obs[instance_key] = np.concatenate([s.instance_ids for s in spots.sections])
    obs.index = obs.index.astype(str)
    predicted = outputs["predicted"].astype(np.float32, copy=False)
    table = ad.AnnData(X=predicted.copy(), obs=obs, var=pd.DataFrame(index=pd.Index(model.genes)))
    table.layers[Key.PREDICTED] = predicted
    if "predicted_sd" in outputs:
        table.layers[Key.PREDICTED_SD] = outputs["predicted_sd"]
    table.obs[Key.TISSUE_FRACTION] = outputs["tissue_fraction"]
    if "ood" in outputs:
        table.obs[Key.OOD] = outputs["ood"]
        table.obs[Key.OOD_FLAG] = outputs["ood"] > OOD_THRESHOLD
    if spots.counts is not None:  # the measured values on the model's scale, and what `evaluate` normalises with
        table.layers[Key.OBSERVED] = log2p(model.scaled_counts(spots)[0])
        table.obs[Key.LIBRARY_SIZE] = spots.library_size
    for stream in STREAMS:
        if stream in outputs:
            table.obsm[Key.embedding(stream)] = outputs[stream].astype(np.float32, copy=False)
    table.obsm[Key.SPATIAL] = spots.centres_px.astype(np.float64)
    table.uns[Key.UNS] = _provenance(spots, model, table_key) | {
        "uncertainty": _json_safe(_uncertainty(model, outputs))
    }
    regions = sorted({s.spots_key for s in spots.sections})
    return TableModel.parse(table, region=regions, region_key=region_key, instance_key=instance_key)


def _provenance(spots: SpotData, model: HyperST, table_key: str | None) -> dict[str, Any]:
    head = model.network.head
    return _json_safe(
        {
            "version": version("hyperst"),
            "curvature": head.curvature,
            "geometry": head.geometry,
            "genes": list(model.genes),
            "encoder": {
                "name": model.encoder.name,
                "config": model.encoder.config(),
                "input_size_px": model.input_size,
            },
            "config": model.config.to_dict(),
            "target": model.target_record(),
            "sections": {
                s.spots_key: {
                    "image_key": s.image_key,
                    "spot_crop_um": float(s.crop_um("spot")),
                    "niche_crop_um": float(s.crop_um("niche")),
                    "microns_per_pixel": float(s.microns_per_pixel),
                    "grid": s.grid,
                }
                for s in spots.sections
            },
            "source_table": table_key,
            "training": model.train_params,
            "adapted_from": model.adapted_from,  # base model and spots of `hst.tl.adapt`; dropped when None
        }
    )


def _uncertainty(model: HyperST, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Record the ensemble, its calibration and the OOD reference; warn when many spots lie outside the latter."""
    record: dict[str, Any] = {"n_models": model.n_models}
    if model.calibration is not None:
        record["calibration"] = {
            "method": "factor[gene] x sqrt(members' sd^2 + floor[gene]^2): an sd of the expected expression, the "
            "factor fitted so that Poisson counts at each validation spot's depth cover its measured values",
            "coverage": INTERVAL_COVERAGE,
            "z": INTERVAL_Z,
        } | model.calibration.record()
    elif model.n_models > 1:
        logger.info("The ensemble was fitted without validation spots: no calibrated `predicted_sd` is written.")
    if model.ood_reference is None:
        logger.info("The model has no out-of-distribution reference: no obs['%s'] is written.", Key.OOD)
        return record
    flagged = float(np.mean(outputs["ood"] > OOD_THRESHOLD)) if len(outputs["ood"]) else 0.0
    record["ood"] = {
        "n_reference": model.ood_reference.n_reference,
        "threshold": OOD_THRESHOLD,
        "fraction_flagged": flagged,
    }
    if flagged > OOD_WARN_FRACTION:
        logger.warning(
            "%.0f%% of the spots lie further from the training data than %.0f%% of the training spots "
            "(obs['%s']): the slide differs from the training slides (stain, scanner, tissue type, folds). "
            "Predictions there are extrapolations: check obs['%s'] and `layers['predicted_sd']`, and adapt the model "
            "with a few measured spots or train on similar slides.",
            100 * flagged,
            100 * OOD_THRESHOLD,
            Key.OOD,
            Key.OOD_FLAG,
        )
    return record


def _json_safe(value: Any) -> Any:
    """Make ``value`` writable to uns, h5ad, zarr and JSON: plain strings, numbers, lists and dicts of them.

    numpy scalars become Python numbers, unknown objects strings, ``None`` entries are dropped; a list of records
    (dicts with the same keys, e.g. an ensemble's members) becomes a dict of columns, and a list mixing kinds a list of
    strings, since h5ad stores a list as one typed array.
    """
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        items = [_json_safe(v) for v in value if v is not None]
        if items and all(isinstance(v, dict) for v in items):
            keys = list(items[0])
            if all(list(v) == keys for v in items):
                return {k: _json_safe([v[k] for v in items]) for k in keys}
            return {str(i): v for i, v in enumerate(items)}
        kinds = {bool if isinstance(v, bool) else float if isinstance(v, int | float) else type(v) for v in items}
        return [str(v) for v in items] if len(kinds) > 1 else items
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, str | int | float | bool) else str(value)
