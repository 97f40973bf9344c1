"""How far can blend weights go? Each member of ``fit(blend=("ridge", "retrieval"))`` alone, and the best weights.

For every held-out her2st section (leave-one-section-out; the B4 fold is the held-out patient), one
``hst.tl.fit(blend=("ridge", "retrieval"))`` on the other five sections, then ``hst.tl.predict`` of the held-out
section with:

- ``blend``: the weights ``fit`` chose on its validation section (what a user gets);
- ``networks`` / ``ridge member`` / ``retrieval member``: one member alone (the model's blend weights set to it);
- ``best weights, raw`` / ``best weights, normalised``: the one weight vector of the simplex grid that scores best
  on the held-out section itself, on that scale. Chosen in hindsight, on the test spots: a ceiling for any rule
  that chooses global weights, not a method.

The ridge member is the ridge probe on the same frozen features, fitted on the same training spots, as
``cross_validate``'s ``"ridge"`` baseline. Scores: ``hyperst.metrics.score`` (``hst.tl.evaluate``'s kernel), mean
per-gene Pearson r on ``log2(1 + count)`` and against the counts normalised by each spot's library size::

    OMP_NUM_THREADS=1 python benchmarks/blend_ceiling.py --data-dir ../shared/data --seeds 0 --out /tmp/ceiling.csv
    python benchmarks/blend_ceiling.py --report /tmp/ceiling.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

import hyperst as hst
from hyperst import metrics
from hyperst.data import expression
from hyperst.model._blend import WEIGHT_STEP, simplex_grid  # the grid fit searches

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import _subset  # the sections' images, spots and table rows

MEMBERS = ("networks", "ridge member", "retrieval member")
KINDS = ("ridge", "retrieval")


def _predict(sdata, model, section: str, weights: np.ndarray, obs_names) -> np.ndarray:
    model.blender.weights = weights
    out = hst.tl.predict(sdata, model, spots_key=f"{section}_spots", inplace=False, device="cpu")
    return np.asarray(out[obs_names].layers["predicted"], dtype=np.float64)


def run_fold(sdata, section: str, panel: list[str], seed: int) -> list[dict]:
    """One fit on every section but ``section``; a row per prediction of ``section`` (see the module docstring)."""
    table = sdata.tables["table"]
    sections = table.obs["section"].astype(str)
    train = _subset(sdata, sorted(set(sections) - {section}))
    start = time.perf_counter()
    model = hst.tl.fit(train, genes=panel, blend=KINDS, seed=seed, progress_bar=False)
    seconds = time.perf_counter() - start
    counts = table[:, panel].X
    counts = np.asarray(counts.toarray() if sparse.issparse(counts) else counts, dtype=np.float64)
    test = np.flatnonzero((sections == section).to_numpy() & (counts.sum(axis=1) > 0))
    library = np.asarray(table.X.sum(axis=1), dtype=np.float64).ravel()[test]
    observed = np.log2(1 + counts[test])
    normalised = expression(counts[test], "normalised", library, metrics.TARGET_SUM)
    obs_names = table.obs_names[test]

    chosen = model.blender.weights.copy()
    predictions = {"blend": _predict(sdata, model, section, chosen, obs_names)}
    for i, member in enumerate(MEMBERS):
        onehot = np.zeros_like(chosen)
        onehot[i] = 1.0
        predictions[member] = _predict(sdata, model, section, onehot, obs_names)
    weights = {"blend": chosen.mean(axis=1)} | {m: np.eye(len(MEMBERS))[i] for i, m in enumerate(MEMBERS)}

    stacked = np.stack([predictions[m] for m in MEMBERS])
    grid = simplex_grid(len(MEMBERS), WEIGHT_STEP)
    scores = np.array([[_pcc(observed, p), _pcc(normalised, p)] for p in np.tensordot(grid, stacked, axes=1)])
    for column, scale in enumerate(("raw", "normalised")):
        best = grid[np.argmax(scores[:, column])]
        name = f"best weights, {scale}"
        predictions[name], weights[name] = np.tensordot(best, stacked, axes=1), best

    rows = []
    for name, predicted in predictions.items():
        summary = metrics.score(observed, predicted, panel, normalised_observed=normalised)[1]
        rows.append(
            {
                "held_out": section,
                "seed": seed,
                "method": name,
                "pcc_mean": summary["raw"]["pcc_mean"],
                "pcc_mean_norm": summary["normalised"]["pcc_mean"],
                **{f"weight_{m}": float(w) for m, w in zip(("hyperst", *KINDS), weights[name], strict=True)},
                "fit_seconds": seconds,
            }
        )
    return rows


def _pcc(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Mean per-gene Pearson r (constant genes left out), as ``evaluate`` computes it: the grid search's score."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmean(metrics._pearson_columns(observed, predicted)))


def summaries(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per method: mean over the C folds (within patient C), B4 (held-out patient) and all six folds, both scales.

    Each fold's seeds are averaged first, so every fold counts once; ``seeds`` counts the seeds a method ran.
    """
    out = {}
    order = list(dict.fromkeys(results["method"]))
    for label, runs in (
        ("section folds (all six)", results),
        ("within patient C (C2-C6)", results[results["held_out"] != "B4"]),
        ("held-out patient (B4)", results[results["held_out"] == "B4"]),
    ):
        if runs.empty:
            continue
        per_fold = runs.groupby(["method", "held_out"], sort=False)[["pcc_mean", "pcc_mean_norm"]].mean()
        table = per_fold.groupby("method", sort=False).mean().loc[[m for m in order if m in set(runs["method"])]]
        table["seeds"] = runs.groupby("method", sort=False)["seed"].nunique()
        out[label] = table
    return out


def report(results: pd.DataFrame) -> str:
    """The :func:`summaries` as markdown tables."""
    return "\n".join(
        f"{label}, mean over folds of the seeds' mean:\n{table.round(3).to_markdown()}\n"
        for label, table in summaries(results).items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sections", nargs="+", default=None, help="held-out sections (default: every section)")
    parser.add_argument("--out", default="blend_ceiling.csv")
    parser.add_argument("--report", default=None, help="print the report of a finished run's CSV")
    args = parser.parse_args()
    if args.report:
        print(report(pd.read_csv(args.report)))
        return
    sdata = hst.datasets.her2st(data_dir=args.data_dir)
    panel = hst.pp.select_genes(sdata, 200, method="hmhvg", inplace=False)  # as cross_validate chooses it
    held_out = args.sections or sorted(set(sdata.tables["table"].obs["section"].astype(str)))
    rows = []
    for seed in args.seeds:
        for section in held_out:
            rows += run_fold(sdata, section, panel, seed)
            pd.DataFrame(rows).to_csv(args.out, index=False)
            print(pd.DataFrame(rows[-6:]).round(3).to_string(), flush=True)
    print(report(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
