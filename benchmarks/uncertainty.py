"""Ensembles, calibrated sd and out-of-distribution scores on her2st: how much they help and how honest they are.

Every fold trains on all her2st sections but one (the frozen ``squidpy`` features at 64 px of
``benchmarks/accuracy.py``, its panel rule and training schedule) with ``hst.tl.fit(n_models=K)`` and scores the
held-out section through ``hst.tl.predict`` and ``hst.tl.evaluate``. Early stopping and calibration use the
package's default validation split (one whole training section held out), so the calibration spots come from
another section than the training spots, as the test spots do:

- accuracy of the ensemble against one member (``K = 1``; same epochs per member), raw and library-size normalised;
- coverage of ``predicted +- 1.645 x predicted_sd`` (goal 0.85-0.95) and the mean over genes of
  Spearman(``predicted_sd``, ``|error|``) (a constant sd scores 0), on the model's ``log2(1 + count)`` scale;
- the share of held-out spots flagged out of distribution (``obs["hyperst_ood_flag"]``; nominal 0.01);
- on the held-out patient (B4), AUROC of ``obs["hyperst_ood"]`` separating B4's spots from the spots of another
  tissue (the synthetic toy slide) and from B4's own spots on the image with a stain shift (hue rotated by
  ``--hue-shift`` turns, and a mild HED recolouring);
- fit time and size of the ensemble against one member.

::

    OMP_NUM_THREADS=1 python benchmarks/uncertainty.py --data-dir ../shared/data --out /tmp/uncertainty.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hyperst as hst

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import FEATURES, FIT_OPTIONS, _subset, add_image_features, fold_panel, load_her2st

ENCODER = {"encoder": "features", "encoder_kwargs": {"spot_key": FEATURES[0], "niche_key": FEATURES[1]}}


def shifted(sdata, section: str, how: str, hue_shift: float):
    """A copy of one section whose image is recoloured: ``"hue"`` rotates the hue, ``"hed"`` rescales the stains."""
    import dask.array as da
    import spatialdata
    from skimage.color import hed2rgb, hsv2rgb, rgb2hed, rgb2hsv

    copy = spatialdata.deepcopy(_subset(sdata, [section]))
    image = copy.images[f"{section}_image"]
    pixels = image.data.transpose(1, 2, 0).rechunk((2048, 2048, 3))

    def recolour(block: np.ndarray) -> np.ndarray:
        rgb = block.astype(np.float32) / 255
        if how == "hue":
            hsv = rgb2hsv(rgb)
            hsv[..., 0] = (hsv[..., 0] + hue_shift) % 1.0
            out = hsv2rgb(hsv)
        else:  # haematoxylin weaker, eosin stronger: another lab's staining
            hed = rgb2hed(rgb) * np.array([0.7, 1.3, 1.0])
            out = hed2rgb(hed)
        return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)

    new = da.map_blocks(recolour, pixels, dtype=np.uint8).transpose(2, 0, 1)
    copy.images[f"{section}_image"] = image.copy(data=da.from_array(new.compute(), chunks=image.data.chunksize))
    return copy


def ood_scores(sdata, model, spots_keys: list[str]) -> np.ndarray:
    out = hst.tl.predict(sdata, model, spots_key=spots_keys, inplace=False, device="cpu")
    return out.obs["hyperst_ood"].to_numpy()


def run_fold(sdata, section: str, n_models: int, seed: int, epochs: int, shifts: dict | None) -> dict:
    """Train on all sections but ``section`` with ``n_models`` members; score accuracy, calibration and OOD."""
    from sklearn.metrics import roc_auc_score

    sections = sorted(set(sdata.tables["table"].obs["section"].astype(str)) - {section})
    genes = fold_panel(sdata, [section])
    options = ENCODER | FIT_OPTIONS | {"max_epochs": epochs, "n_models": n_models}
    start = time.perf_counter()
    model = hst.tl.fit(
        _subset(sdata, sections),
        genes=genes,
        seed=seed,
        progress_bar=False,
        **options,
    )
    seconds = time.perf_counter() - start
    out = hst.tl.predict(sdata, model, spots_key=[f"{section}_spots"], inplace=False, device="cpu")
    hst.tl.evaluate(out)
    summary = out.uns["hyperst"]["metrics"]
    row = {
        "held_out": section,
        "n_models": n_models,
        "seed": seed,
        "raw_pcc_mean": summary["raw"]["pcc_mean"],
        "norm_pcc_mean": summary["normalised"]["pcc_mean"],
        "fit_seconds": seconds,
        "parameters": sum(p.numel() for m in model.members for p in m.parameters()),
        "ood_flagged": float(out.obs["hyperst_ood_flag"].mean()),
    }
    if "uncertainty" in summary:
        row |= {k: summary["uncertainty"][k] for k in ("coverage", "coverage_min_gene", "sd_error_spearman")}
    if shifts is not None:  # out-of-distribution AUROC against other tissue and stain shifts
        inside = out.obs["hyperst_ood"].to_numpy()
        for name, (other, keys) in shifts.items():
            outside = ood_scores(other, model, keys)
            labels = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
            row[f"auroc_{name}"] = roc_auc_score(labels, np.r_[inside, outside])
            row[f"flagged_{name}"] = float(np.mean(outside > 0.99))
    return row


def main(args: argparse.Namespace) -> pd.DataFrame:
    sdata = load_her2st(args.data_dir)
    add_image_features(sdata, input_size=64, seed=0, cache=args.features_cache)
    shifts = {}
    toy = hst.datasets.toy(n_sections=1, n_spots=300, seed=1)
    add_image_features(toy, input_size=64, seed=0)
    shifts["other tissue (toy)"] = (toy, None)
    for how in ("hue", "hed"):
        other = shifted(sdata, args.patient_section, how, args.hue_shift)
        add_image_features(other, input_size=64, seed=0)
        shifts[f"stain shift ({how})"] = (other, [f"{args.patient_section}_spots"])
    sections = sorted(sdata.tables["table"].obs["section"].astype(str).unique())
    jobs = [(s, k, 0) for s in sections for k in args.members]
    jobs += [(args.patient_section, k, seed) for seed in args.patient_seeds for k in args.members]
    jobs += [(args.patient_section, k, 0) for k in args.patient_members]
    jobs = list(dict.fromkeys(jobs))
    rows = []
    for section, k, seed in jobs:
        row = run_fold(sdata, section, k, seed, args.epochs, shifts if section == args.patient_section else None)
        rows.append(row)
        print(pd.Series(row).to_string(), flush=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)
    return pd.DataFrame(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data", help="folder holding her2st/<section>/")
    parser.add_argument("--patient-section", default="B4")
    parser.add_argument("--members", nargs="+", type=int, default=[1, 5], help="ensemble sizes of every fold")
    parser.add_argument("--patient-seeds", nargs="*", type=int, default=[1, 2], help="extra seeds of the B4 fold")
    parser.add_argument("--patient-members", nargs="*", type=int, default=[3, 10], help="extra sizes on B4")
    parser.add_argument("--epochs", type=int, default=FIT_OPTIONS["max_epochs"])
    parser.add_argument("--hue-shift", type=float, default=0.1, help="hue rotation of the shifted image, in turns")
    parser.add_argument("--features-cache", default=None, help=".npz file of the her2st features (accuracy.py's)")
    parser.add_argument("--out", default="uncertainty.csv")
    return parser


if __name__ == "__main__":
    main(_parser().parse_args())
