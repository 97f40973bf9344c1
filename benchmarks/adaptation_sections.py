"""Adapting to a new lab where it counts: adapt on one section of a new patient, predict its *other* sections.

The adaptation benchmark (``adaptation.py``) scores the spots of the slide that was adapted on: the easy case. Here
the base model trains on B4 alone (patient B; defaults, the 100 HMHVG genes ``hst.pp.select_genes`` picks there),
the "new lab" is patient C exported as ``degraded.py``'s ``all`` variant (black background, 3.4x coarser, stain
shift), ``hst.tl.adapt`` adapts on every measured spot of one degraded section (``--adapt``) and each method
predicts the other degraded C sections, scored per section with ``hst.tl.evaluate`` (mean over sections of the mean
per-gene r, raw and normalised). Compared: the base model unadapted, ``adapt`` with its defaults and the variants of
:data:`ADAPT_OPTIONS` (the networks alone, the former learning rate, other parts, ``refit_scaler``), and a ridge on
the adapted section alone (``hyperst.baselines.ridge_probe`` on the frozen ``squidpy`` spot and niche features)::

    OMP_NUM_THREADS=1 python benchmarks/adaptation_sections.py --data-dir ../shared/data --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import hyperst as hst
from hyperst import baselines, metrics

sys.path.insert(0, str(Path(__file__).parent))
from degraded import degrade

BASE_SECTION = "B4"
NEW_SECTIONS = ("C2", "C3", "C4", "C5", "C6")
# hst.tl.adapt options compared (its defaults otherwise: train="all", lr 1e-4, a ridge probe blended in)
ADAPT_OPTIONS = {
    "adapt() (defaults)": {},
    "adapt(refit_scaler=True)": {"refit_scaler": True},
    "adapt(blend=None)": {"blend": None},
    "adapt(blend=None, refit_scaler=True)": {"blend": None, "refit_scaler": True},
    "adapt(lr=1e-5, blend=None) (the former defaults)": {"lr": 1e-5, "blend": None},
    "adapt(train='image', blend=None)": {"train": "image", "blend": None},
    "adapt(train='head', blend=None)": {"train": "head", "blend": None},
}


def score(sdata, model) -> dict[str, float]:
    out = hst.tl.predict(sdata, model, inplace=False, device="cpu")
    hst.tl.evaluate(out)
    summary = out.uns["hyperst"]["metrics"]
    return {"raw": summary["raw"]["pcc_mean"], "normalised": summary["normalised"]["pcc_mean"]}


def ridge_scores(adapted, tests: dict, genes: list[str]) -> dict[str, dict[str, float]]:
    """A ridge on the adapted section's frozen features, scored on each test section as ``evaluate`` scores."""
    from hyperst.data import expression, log2p, prepare_spots

    encoder = hst.HyperST(genes, encoder="squidpy")

    def arrays(sdata):
        spots = prepare_spots(sdata, genes=genes, background="white")
        features = np.concatenate(encoder.frozen_features(spots), axis=1)
        return spots, features

    spots, x = arrays(adapted)
    fitted = spots.trainable
    scores = {}
    for section, sdata in tests.items():
        test_spots, x_test = arrays(sdata)
        predicted = baselines.ridge_probe(x[fitted], log2p(spots.counts[fitted]), x_test)
        summary = metrics.score(
            log2p(test_spots.counts),
            predicted,
            genes,
            normalised_observed=expression(test_spots.counts, "normalised", test_spots.library_size, 1e4),
        )[1]
        scores[section] = {"raw": summary["raw"]["pcc_mean"], "normalised": summary["normalised"]["pcc_mean"]}
    return scores


def run(args: argparse.Namespace) -> pd.DataFrame:
    sdata = hst.datasets.her2st([BASE_SECTION, *NEW_SECTIONS], data_dir=args.data_dir)
    base_data = sdata.subset([f"{BASE_SECTION}_image", f"{BASE_SECTION}_spots"], filter_tables=True)
    genes = hst.pp.select_genes(base_data, args.n_genes, method="hmhvg", inplace=False)
    new = {section: degrade(sdata, section, "all") for section in NEW_SECTIONS}
    tests = {section: new[section] for section in NEW_SECTIONS if section != args.adapt}
    rows = []

    def record(seed, method, scores):
        for section, value in scores.items():
            rows.append({"seed": seed, "method": method, "section": section, **value})
            print(json.dumps(rows[-1]), flush=True)

    if not args.no_ridge:
        record(0, "ridge on the adapted section alone", ridge_scores(new[args.adapt], tests, genes))
    for seed in args.seeds:
        model = hst.tl.fit(base_data, genes=genes, seed=seed, progress_bar=False)
        record(seed, "base model, unadapted", {s: score(d, model) for s, d in tests.items()})
        for name in args.methods:
            adapted = hst.tl.adapt(new[args.adapt], model, seed=seed, progress_bar=False, **ADAPT_OPTIONS[name])
            record(seed, name, {s: score(d, adapted) for s, d in tests.items()})
        pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    per_seed = table.groupby(["method", "seed"])[["raw", "normalised"]].mean()
    summary = per_seed.groupby("method").agg(["mean", "std"]).round(3)
    print(summary.to_markdown())
    return table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data", help="folder holding her2st/<section>/")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--adapt", default="C2", choices=NEW_SECTIONS, help="the new lab's measured section")
    parser.add_argument("--n-genes", type=int, default=100)
    parser.add_argument("--methods", nargs="+", default=list(ADAPT_OPTIONS), choices=list(ADAPT_OPTIONS))
    parser.add_argument("--no-ridge", action="store_true", help="skip the ridge row (run once per set of seeds)")
    parser.add_argument("--out", default="adaptation_sections.csv")
    return parser


if __name__ == "__main__":
    run(_parser().parse_args())
