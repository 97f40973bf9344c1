"""The subcommands of ``hyperst``: read the store, call ``hst.pp`` / ``hst.tl``, write the output atomically.

Heavy imports (torch, spatialdata) happen inside the commands, so ``--help``, ``--version`` and argument errors
answer at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import redirect_stdout
from typing import TYPE_CHECKING, Any

from hyperst._constants import TILES_SUFFIX, Key
from hyperst._distributed import process_rank
from hyperst._logging import logger
from hyperst.cli._store import check_input, check_output, read_store, write_store, write_text

if TYPE_CHECKING:
    from spatialdata import SpatialData

# `hyperst fit` options with a flag of their own, by `hst.tl.fit` keyword (not to be given again with --set).
FIT_FLAGS = {
    "table_key": "--table-key",
    "layer": "--layer",
    "image_key": "--image-key",
    "genes": "--genes / --n-genes",
    "encoder": "--encoder",
    "max_epochs": "--max-epochs",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "validation": "--validation",
    "target": "--target",
    "checkpoint": "--checkpoint",
    "n_models": "--n-models",
    "device": "--device",
    "progress_bar": "--progress / --no-progress",
}


def fit(args: argparse.Namespace) -> None:
    """``hyperst fit DATA.zarr --out MODEL_DIR``: train on the store's spots and save the model."""
    import hyperst as hst

    out = check_output(args.out, args.overwrite)
    settings = dict(args.settings)
    clash = sorted(set(settings) & set(FIT_FLAGS))
    if clash:
        raise ValueError(f"--set {clash[0]}=... has its own option: use {FIT_FLAGS[clash[0]]}.")
    hst.tl.check_fit_options(settings, prefix="--set ")  # before the store is read and genes are selected
    genes = _read_genes(args.genes) if args.genes else None
    sdata = read_store(args.data)
    if args.n_genes is not None:
        _check_table(sdata, args.table_key)
        hst.pp.select_genes(sdata, n_genes=args.n_genes, table_key=args.table_key, layer=args.layer)
    options: dict[str, Any] = {
        "table_key": args.table_key,
        "layer": args.layer,
        "image_key": _image_key(args.image_key),
        "genes": genes,
        "encoder": args.encoder,
        "max_epochs": args.max_epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "validation": args.validation,
        "target": args.target,
        "checkpoint": args.checkpoint,
        "n_models": args.n_models,
        "device": args.device,
        "progress_bar": _progress(args),
    }
    with redirect_stdout(sys.stderr):  # progress bars of the training loop belong on stderr
        model = hst.tl.fit(sdata, **options, **settings)
    model.save(out, overwrite=args.overwrite)
    logger.info("Saved the model (%d genes, encoder %r) to %s.", len(model.genes), args.encoder, out)


def predict(args: argparse.Namespace) -> None:
    """``hyperst predict DATA.zarr --model MODEL_DIR --out OUT.zarr``: predict and write the store with the table."""
    import hyperst as hst

    out = check_output(args.out, args.overwrite)
    check_input(args.data, "The input")  # the cheap checks before loading the model
    model_dir = check_input(args.model, "The model folder")
    tiling = args.tile_tissue is not None
    if tiling and (args.evaluate or args.table_key is not None):
        raise ValueError(
            "--tile-tissue predicts a new grid without measurements: drop --evaluate and --table-key, or predict "
            "the measured spots with --spots."
        )
    model = hst.HyperST.load(model_dir)
    sdata = read_store(args.data)
    table_key = _predict_table_key(args, sdata, tiling)
    spots_key, diameter, mpp = args.spots, args.spot_diameter_um, args.microns_per_pixel
    if tiling:
        spots_key, diameter, mpp = _tile(args, sdata)
    with redirect_stdout(sys.stderr):
        hst.tl.predict(
            sdata,
            model,
            table_key=table_key,
            image_key=_image_key(args.image_key),
            spots_key=spots_key,
            key_added=args.key_added,
            overwrite=args.overwrite,
            layer=args.layer,
            batch_size=args.batch_size,
            device=args.device,
            spot_diameter_um=diameter,
            microns_per_pixel=mpp,
            accelerator=args.accelerator,
            devices=args.devices,
            strategy=args.strategy,
        )
    if process_rank() != 0:  # several processes predicted: every one holds the table, the first writes it
        return
    n_spots = sdata.tables[args.key_added].n_obs
    logger.info("Predicted %d genes at %d spots.", len(model.genes), n_spots)
    if args.evaluate:
        hst.tl.evaluate(sdata, table_key=args.key_added)
        summary = sdata.tables[args.key_added].uns[Key.UNS][Key.METRICS]
        logger.info(
            "pcc_mean %.4f (raw), %.4f (normalised).", summary["raw"]["pcc_mean"], summary["normalised"]["pcc_mean"]
        )
    if args.without_images:
        from spatialdata import SpatialData

        sdata = SpatialData(
            labels=dict(sdata.labels), points=dict(sdata.points), shapes=dict(sdata.shapes), tables=dict(sdata.tables)
        )
    write_store(sdata, out, overwrite=args.overwrite)


def _predict_table_key(args: argparse.Namespace, sdata: SpatialData, tiling: bool) -> str | None:
    """Return the checked table ``hyperst predict`` reads counts from (``None``: spots without measurements)."""
    table_key = args.table_key
    if table_key is None and not tiling:
        table_key = Key.TABLE if Key.TABLE in sdata.tables else None
        if table_key is None:
            logger.info("No table %r: predicting for the spots without measured counts.", Key.TABLE)
    elif table_key is not None and table_key not in sdata.tables:
        raise KeyError(f"--table-key {table_key!r} is not a table of {args.data} (tables: {list(sdata.tables)}).")
    if table_key is None and not (args.spots or tiling):
        raise ValueError(f"{args.data} has no table: name the spots with --spots KEY, or use --tile-tissue IMAGE_KEY.")
    if args.evaluate and table_key is None:
        raise ValueError("--evaluate needs a table of measured counts (--table-key).")
    return table_key


def _tile(args: argparse.Namespace, sdata: SpatialData) -> tuple[str, float, float]:
    """Lay ``--tile-tissue``'s spot grid; return its shapes key, spot diameter (µm) and pixel size (µm)."""
    import hyperst as hst
    from hyperst.data import PLATFORM_UM

    image_key = args.tile_tissue or _only_image(sdata, args.data)
    diameter = args.spot_diameter_um or PLATFORM_UM[args.grid][0]
    spots_key = f"{image_key}{TILES_SUFFIX}"
    hst.pp.tile_tissue(
        sdata,
        image_key,
        spots_key_added=spots_key,
        spacing_um=args.spacing_um,
        spot_diameter_um=diameter,
        microns_per_pixel=args.microns_per_pixel,
        grid=args.grid,
        min_tissue_fraction=args.min_tissue_fraction,
        overwrite=args.overwrite,
    )
    # the grid's radius fixes the pixel size it was laid at: predict needs no lattice to infer it
    return spots_key, diameter, diameter / 2 / float(sdata.shapes[spots_key]["radius"].iloc[0])


def evaluate(args: argparse.Namespace) -> None:
    """``hyperst evaluate OUT.zarr``: score the predictions, print the summary on stdout, optionally as JSON / CSV."""
    import hyperst as hst

    sdata = read_store(args.data)
    if args.table_key not in sdata.tables:
        raise KeyError(
            f"{args.data} has no table {args.table_key!r} (tables: {list(sdata.tables)}); run `hyperst predict` first."
        )
    per_gene = hst.tl.evaluate(sdata, table_key=args.table_key, groupby=args.groupby)
    summary = sdata.tables[args.table_key].uns[Key.UNS][Key.METRICS]
    if args.per_gene:
        write_text(per_gene.to_csv(), args.per_gene)
    text = json.dumps(summary, indent=2, default=float)
    if args.json == "-":
        sys.stdout.write(text + "\n")
        return
    if args.json:
        write_text(text + "\n", args.json)
    sys.stdout.write(summary_table(summary) + "\n")


def summary_table(summary: dict[str, Any]) -> str:
    """Format the summary metrics as a text table: one row per metric, a column per scale (and per group)."""
    import pandas as pd

    columns = {"raw": summary["raw"], "normalised": summary["normalised"]}
    for group, scores in summary.get("per_group", {}).items():
        columns |= {f"{group} raw": scores["raw"], f"{group} normalised": scores["normalised"]}
    table = pd.DataFrame(columns).rename_axis("metric")
    counts = [metric for metric in table.index if metric.startswith("n_")]  # counts print as whole numbers
    text = table.astype(object).apply(
        lambda row: row.map(lambda value: f"{value:.0f}" if row.name in counts else f"{value:.4f}"), axis=1
    )
    footer = f"{summary['n_spots']} spots with measured counts; normalised by {summary.get('normalisation')}."
    return text.to_string() + "\n" + footer


def _check_table(sdata: Any, table_key: str) -> None:
    if table_key not in sdata.tables:
        raise KeyError(f"No table {table_key!r} (tables: {list(sdata.tables)}); pass --table-key.")


def _only_image(sdata: Any, path: str) -> str:
    images = list(sdata.images)
    if len(images) != 1:
        raise ValueError(f"{path} has {len(images)} images ({images}); name one: --tile-tissue IMAGE_KEY.")
    return images[0]


def _read_genes(path: str) -> list[str]:
    """Read the gene panel from a text file: one gene per line, blank lines and ``#`` comments skipped."""
    lines = check_input(path, "The gene list").read_text().splitlines()
    genes = [line.split("#")[0].strip() for line in lines]
    genes = [gene for gene in genes if gene]
    if not genes:
        raise ValueError(f"The gene list {path} is empty.")
    return genes


def _image_key(values: list[str] | None) -> str | dict[str, str] | None:
    """``--image-key KEY`` (one image) or repeated ``--image-key SPOTS=IMAGE`` (a mapping)."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    pairs = [value.partition("=") for value in values]
    if any(not sep or not spots or not image for spots, sep, image in pairs):
        raise ValueError(f"--image-key: give one KEY, or SPOTS=IMAGE pairs (got {values}).")
    return {spots: image for spots, _, image in pairs}


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars when asked for, else only on a terminal (batch logs stay readable)."""
    return sys.stderr.isatty() if args.progress is None else args.progress
