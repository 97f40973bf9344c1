"""Slides as other labs export them: HyperST trained on C2-C6, predicting B4 as shipped and B4 degraded.

Degradations of B4 (each alone and all together), made from the shared her2st files:

- ``black``: the glass connected to the image border painted black, as a tissue-masked export shows it (fat and
  lumina inside the tissue keep their colour). "Glass" is grey > 0.82 and channel sd < 0.06 on 0-1 RGB, opened
  twice, the components touching the border;
- ``black_all``: every glass-like pixel painted black, inside the tissue too (a harsher mask);
- ``coarser``: pixels 3.4x coarser (a lower-resolution scan): the image downsampled with anti-aliasing, its scale
  recorded in its transformation, so the spots keep their coordinates;
- ``stain``: a mild stain shift (HED: haematoxylin x0.85, eosin x1.15);
- ``all``: black + coarser + stain.

Every configuration (``--configs``: ``name=JSON`` of ``hst.tl.fit`` keyword arguments, side by side in one run)
trains on C2-C6 with the 100 HMHVG genes ``hst.pp.select_genes`` picks there, for each seed, and predicts every
variant of B4 with ``hst.tl.predict``; ``hst.tl.evaluate`` scores it on both scales. The same fit's prediction of the
clean B4 gives the C -> B4 interval row (coverage of the 90 % intervals and Spearman(sd, |error|)). Output: one row
per configuration, seed and variant, with the ratio to the same fit's clean B4::

    OMP_NUM_THREADS=1 python benchmarks/degraded.py --data-dir ../shared/data --seeds 0 1 2 --out /tmp/degraded.csv

``--train C2 C3 C4 C5 --test C6 --variants clean`` gives the within-patient interval row.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

import hyperst as hst

TRAIN = ["C2", "C3", "C4", "C5", "C6"]
TEST = "B4"
VARIANTS = ("clean", "black", "black_all", "coarser", "stain", "all")
COARSER = 3.4
STAIN = (0.85, 1.15, 1.0)  # multipliers of the haematoxylin, eosin and DAB channels (skimage.color.rgb2hed)


def glass(rgb: np.ndarray) -> np.ndarray:
    """Glass-like pixels of an ``(h, w, 3)`` uint8 image: bright and grey, opened twice."""
    from scipy import ndimage

    values = rgb.astype(np.float32) / 255
    mask = (values.mean(axis=2) > 0.82) & (values.std(axis=2) < 0.06)
    return ndimage.binary_opening(mask, iterations=2)


def border_glass(rgb: np.ndarray) -> np.ndarray:
    """The glass components touching the image border (a tissue mask's background), at full resolution."""
    from scipy import ndimage

    step = 4  # labelled on every 4th pixel: the components are large
    small = glass(rgb[::step, ::step])
    labels, _ = ndimage.label(small)
    edge = np.unique(np.r_[labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    outside = np.isin(labels, edge[edge > 0])
    full = np.repeat(np.repeat(outside, step, axis=0), step, axis=1)[: rgb.shape[0], : rgb.shape[1]]
    return full & glass(rgb)


def stain_shift(rgb: np.ndarray) -> np.ndarray:
    """Rescale the stains of an ``(h, w, 3)`` uint8 image in HED space, in row blocks (memory)."""
    from skimage.color import hed2rgb, rgb2hed

    out = np.empty_like(rgb)
    for start in range(0, rgb.shape[0], 1024):
        block = rgb[start : start + 1024].astype(np.float32) / 255
        shifted = hed2rgb(rgb2hed(block) * np.array(STAIN))
        out[start : start + 1024] = (np.clip(shifted, 0, 1) * 255).round().astype(np.uint8)
    return out


def degrade(sdata, section: str, variant: str):
    """A copy of one section whose image is degraded as ``variant`` says (spots and table unchanged)."""
    import dask.array as da
    from skimage.transform import resize
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import Scale, Sequence, get_transformation

    copy = sdata.subset([f"{section}_image", f"{section}_spots"], filter_tables=True)
    if variant == "clean":
        return copy
    key = f"{section}_image"
    image = copy.images[key]
    rgb = np.asarray(image.data.compute()).transpose(1, 2, 0)
    steps = {"all": ("stain", "black", "coarser")}.get(variant, (variant,))
    if "stain" in steps:
        rgb = stain_shift(rgb)
    if "black" in steps:
        rgb = np.where(border_glass(rgb)[..., None], 0, rgb).astype(np.uint8)
    if "black_all" in steps:
        rgb = np.where(glass(rgb)[..., None], 0, rgb).astype(np.uint8)
    transformations = get_transformation(image, get_all=True)
    if "coarser" in steps:
        shape = (round(rgb.shape[0] / COARSER), round(rgb.shape[1] / COARSER), 3)
        rgb = (resize(rgb, shape, anti_aliasing=True, preserve_range=True)).round().astype(np.uint8)
        scale = Scale([COARSER, COARSER], axes=("y", "x"))  # a coarse pixel covers 3.4 x 3.4 original ones
        transformations = {system: Sequence([scale, t]) for system, t in transformations.items()}
    pixels = da.from_array(rgb.transpose(2, 0, 1), chunks=(3, 2048, 2048))
    copy.images[key] = Image2DModel.parse(
        pixels, dims=("c", "y", "x"), transformations=transformations, c_coords=["r", "g", "b"]
    )
    return copy


def with_tissue_labels(sdata, key: str):
    """``sdata`` with the tissue label element squidpy's stain functions read, from hyperst's background rule.

    squidpy's ``detect_tissue`` takes a black background for tissue (docs/data.md), so the mask is made here.
    """
    from spatialdata.models import Labels2DModel
    from spatialdata.transformations import get_transformation

    from hyperst.data import background_mask

    pixels = np.asarray(sdata.images[key].data.compute())
    rows = range(0, pixels.shape[1], 1024)
    tissue = ~np.concatenate([background_mask(pixels[None, :, i : i + 1024])[0] for i in rows])
    transformations = get_transformation(sdata.images[key], get_all=True)
    labels = Labels2DModel.parse(tissue.astype(np.uint8), dims=("y", "x"), transformations=transformations)
    sdata.labels[f"{key}_tissue"] = labels
    return sdata


def fit_reference(sdata, section: str, method: str):
    """squidpy's stain reference fitted on one training section's image."""
    from squidpy.experimental.im import fit_stain_reference

    key = f"{section}_image"
    return fit_stain_reference(with_tissue_labels(sdata.subset([key]), key), key, method=method)


def stain_normalised(sdata, reference):
    """``sdata`` with every image normalised to ``reference`` by squidpy's ``normalize_stains`` (tissue only)."""
    import dask.array as da
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import get_transformation
    from squidpy.experimental.im import normalize_stains

    for key in list(sdata.images):
        with_tissue_labels(sdata, key)
        normalised = normalize_stains(sdata, key, reference, inplace=False, preserve_background=True)
        data = da.from_array(np.asarray(normalised.data), chunks=(3, 2048, 2048))
        transformations = get_transformation(sdata.images[key], get_all=True)
        sdata.images[key] = Image2DModel.parse(
            data, dims=("c", "y", "x"), transformations=transformations, c_coords=["r", "g", "b"]
        )
        del sdata.labels[f"{key}_tissue"]
    return sdata


def run(args: argparse.Namespace) -> pd.DataFrame:
    sdata = hst.datasets.her2st([*args.train, args.test], data_dir=args.data_dir)
    train = sdata.subset([f"{s}_{kind}" for s in args.train for kind in ("image", "spots")], filter_tables=True)
    genes = hst.pp.select_genes(train, args.n_genes, method="hmhvg", inplace=False)
    tests = {variant: degrade(sdata, args.test, variant) for variant in args.variants}
    if args.stain_normalise:  # squidpy's stain normalisation of every slide, training and test, to one reference
        reference = fit_reference(sdata, args.train[0], args.stain_normalise)
        train = stain_normalised(train, reference)
        tests = {variant: stain_normalised(test, reference) for variant, test in tests.items()}
    # name=JSON: the JSON object starts at the first "={" (a name may hold "=", as in "n_views=4={}")
    configs = {name: json.loads("{" + value) for name, value in (c.split("={", 1) for c in args.configs)}
    rows = []
    for seed in args.seeds:
        for name, options in configs.items():
            start = time.perf_counter()
            model = hst.tl.fit(train, genes=genes, seed=seed, progress_bar=False, **options)
            fit_s = time.perf_counter() - start
            for variant, test in tests.items():
                out = hst.tl.predict(test, model, inplace=False, device="cpu")
                hst.tl.evaluate(out)
                metrics = out.uns["hyperst"]["metrics"]
                row = {
                    "config": name,
                    "seed": seed,
                    "variant": variant,
                    "raw": metrics["raw"]["pcc_mean"],
                    "normalised": metrics["normalised"]["pcc_mean"],
                    "ood_flagged": float(out.obs["hyperst_ood_flag"].mean()),
                    "fit_s": fit_s,
                }
                if "hyperst_tissue_fraction" in out.obs:
                    row["tissue_fraction"] = float(out.obs["hyperst_tissue_fraction"].mean())
                for key, value in metrics.get("uncertainty", {}).items():
                    if isinstance(value, int | float):
                        row[f"interval_{key}"] = value
                rows.append(row)
                print(json.dumps(row), flush=True)
                pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    clean = table[table["variant"] == "clean"].set_index(["config", "seed"])[["raw", "normalised"]]
    for scale in ("raw", "normalised"):
        table[f"{scale}_vs_clean"] = (
            table[scale] / clean[scale].reindex(pd.MultiIndex.from_frame(table[["config", "seed"]])).to_numpy()
        )
    table.to_csv(args.out, index=False)
    print(report(table))
    return table


def report(table: pd.DataFrame) -> str:
    """Markdown table: per configuration and variant, mean ± sd over seeds of the scores and their ratio to clean."""
    columns = {
        "raw": "raw r",
        "raw_vs_clean": "raw vs clean",
        "normalised": "normalised r",
        "normalised_vs_clean": "normalised vs clean",
        "ood_flagged": "flagged OOD",
        "interval_coverage": "90 % interval coverage",
        "interval_sd_error_spearman": "Spearman(sd, |error|)",
    }
    columns = {k: v for k, v in columns.items() if k in table}
    groups = table.groupby(["config", "variant"], sort=False)[list(columns)]
    mean, sd = groups.mean(), groups.std()
    cells = mean.map("{:.3f}".format) + " ± " + sd.fillna(0).map("{:.3f}".format)
    cells["seeds"] = groups.size()
    return cells.rename(columns=columns).to_markdown()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data", help="folder holding her2st/<section>/")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--train", nargs="+", default=TRAIN, help="training sections")
    parser.add_argument("--test", default=TEST, help="the section predicted (and degraded)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--n-genes", type=int, default=100)
    parser.add_argument(
        "--configs", nargs="+", default=["defaults={}"], help="name=JSON of hst.tl.fit options, compared side by side"
    )
    parser.add_argument(
        "--stain-normalise", choices=["macenko", "reinhard"], default=None, help="squidpy stain normalisation first"
    )
    parser.add_argument("--out", default="degraded.csv")
    return parser


if __name__ == "__main__":
    run(_parser().parse_args())
