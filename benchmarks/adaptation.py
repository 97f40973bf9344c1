"""Few-shot adaptation on her2st: a model trained on patient C, adapted on a few spots of B4, scored on the rest of B4.

Setting of ``benchmarks/accuracy.py`` (its helpers): the frozen ``squidpy`` features of every spot (64 px, cached
with ``--features-cache``) read by ``hst.tl.fit(encoder="features")``, 200 HMHVG genes chosen on C2-C6, its shared
schedule for the base model (batch 64, lr 1e-3, 15 epochs, spatial early-stopping band). For each seed the base
model trains on C2-C6; for each fraction, ``hyperst.data.spatial_sample`` takes that share of B4's measured spots
as whole spatial tiles (seeded), and every method is scored on the other measured B4 spots, raw
``log2(1 + count)`` and normalised by library size, as ``accuracy.py`` scores:

- ``hst.tl.adapt`` of the base model on the chosen spots, for each ``train`` part at learning rates 1e-3 to 1e-5,
  and with ``refit_scaler`` (its defaults otherwise: 50 epochs at most, early stopping on a spatial band of the
  spots);
- (a) the base model unadapted; (b) HyperST from scratch on the chosen spots (``hst.tl.fit`` with the same
  schedule as adaptation: 50 epochs at most, lr 1e-3, batch 64); (c) ridge on the chosen spots; (d) ridge on
  C2-C6 plus the chosen spots (``hyperst.baselines.ridge_probe``, the ridge of ``hst.tl.cross_validate``).

::

    OMP_NUM_THREADS=1 python benchmarks/adaptation.py --data-dir ../shared/data --features-cache features64.npz \\
        --seeds 0 1 2 --out adaptation.csv
    python benchmarks/adaptation.py --report adaptation.csv
"""

from __future__ import annotations

import argparse
import time

import accuracy as acc
import numpy as np
import pandas as pd
from scipy import sparse

import hyperst as hst
from hyperst import baselines, metrics

TEST_SECTION = "B4"
FRACTIONS = (0.05, 0.1, 0.25, 0.5)
BASE = "(a) base model, unadapted"
SCRATCH = "(b) HyperST from scratch on the few spots"
RIDGE_FEW = "(c) ridge on the few spots"
RIDGE_ALL = "(d) ridge on C2-C6 + the few spots"
# hst.tl.adapt options, each with an explicit learning rate (the base model's is 1e-3); blend=None: the networks
# alone (the rows measured before adapt blended a ridge probe by default).
ADAPTED = {
    # the defaults: train="all", lr 1e-4, a ridge probe blended in where there are enough validation spots
    "adapted, defaults (ridge blended)": {},
    "adapted, train='head', lr 1e-3": {"train": "head", "lr": 1e-3, "blend": None},
    "adapted, train='head', lr 1e-4": {"train": "head", "lr": 1e-4, "blend": None},
    "adapted, train='head', lr 1e-5": {"train": "head", "lr": 1e-5, "blend": None},
    "adapted, train='head', lr 1e-4, refit scaler": {"train": "head", "lr": 1e-4, "refit_scaler": True, "blend": None},
    "adapted, train='image', lr 1e-4": {"train": "image", "lr": 1e-4, "blend": None},
    "adapted, train='image', lr 1e-5": {"train": "image", "lr": 1e-5, "blend": None},
    "adapted, train='all', lr 1e-4": {"train": "all", "lr": 1e-4, "blend": None},
    "adapted, train='all', lr 1e-5": {"train": "all", "lr": 1e-5, "blend": None},
    "adapted, train='all', lr 1e-4, checkpoint 'loss'": {
        "train": "all",
        "lr": 1e-4,
        "checkpoint": "loss",
        "blend": None,
    },
    # Rehearsal: adapt on C2-C6's spots and the chosen B4 spots together (one SpatialData, `spots=` naming both).
    "adapted, train='all', lr 1e-4, with C2-C6": {"train": "all", "lr": 1e-4, "rehearsal": True, "blend": None},
}
ALTERNATIVES = (BASE, SCRATCH, RIDGE_FEW, RIDGE_ALL)
METHOD_ORDER = list(ALTERNATIVES) + list(ADAPTED)
SCRATCH_OPTIONS = acc.FIT_OPTIONS | {"max_epochs": 50}


def run_seed(sdata, panel: list[str], seed: int, fractions, *, epochs: int, methods: list[str]) -> pd.DataFrame:
    """Train the base model with ``seed`` and score every method at every fraction; one row per method and fraction."""
    from hyperst.data import expression, prepare_spots, spatial_sample

    table = sdata.tables["table"]
    sections = table.obs["section"].astype(str).to_numpy()
    counts = table[:, panel].X
    counts = np.asarray(counts.toarray() if sparse.issparse(counts) else counts, dtype=np.float32)
    measured = counts.sum(axis=1) > 0
    targets = np.log2(1 + counts)
    library = np.asarray(table.X.sum(axis=1), dtype=np.float64).ravel()
    features = np.concatenate([table.obsm[key] for key in acc.FEATURES], axis=1)
    train_sections = sorted(set(sections) - {TEST_SECTION})
    source_rows = np.flatnonzero(np.isin(sections, train_sections) & measured)

    encoder = {"encoder": "features", "encoder_kwargs": {"spot_key": acc.FEATURES[0], "niche_key": acc.FEATURES[1]}}
    quiet = {"progress_bar": False}
    start = time.perf_counter()
    base = hst.tl.fit(
        acc._subset(sdata, train_sections), genes=panel, validation="spatial", seed=seed, **encoder, **quiet,
        **(acc.FIT_OPTIONS | {"max_epochs": epochs}),
    )  # fmt: skip
    print(f"seed {seed}: base model {time.perf_counter() - start:.0f} s, {len(base.history)} epochs", flush=True)
    target = acc._subset(sdata, [TEST_SECTION])

    def predicted(model) -> pd.DataFrame:
        out = hst.tl.predict(target, model, inplace=False, device="cpu")
        return pd.DataFrame(np.asarray(out.layers["predicted"]), index=out.obs_names)

    base_prediction = predicted(base)
    spots = prepare_spots(target, genes=panel)
    rows = []
    for fraction in fractions:
        chosen = spots.obs.index[spatial_sample(spots, np.flatnonzero(spots.trainable), fraction, seed=seed)]
        few = table.obs_names.get_indexer(chosen)
        test = np.flatnonzero((sections == TEST_SECTION) & measured & ~np.isin(np.arange(table.n_obs), few))
        test_names = table.obs_names[test]
        results: dict[str, tuple[np.ndarray, float, int]] = {}
        if BASE in methods:
            results[BASE] = (base_prediction.loc[test_names].to_numpy(), 0.0, 0)
        for name, options in ADAPTED.items():
            if name in methods:
                start = time.perf_counter()
                options = dict(options)
                if options.pop("rehearsal", False):  # the training slides' spots alongside the chosen ones
                    where, spots_used = sdata, [*table.obs_names[source_rows], *chosen]
                    options["validation"] = "spatial"  # a band of every section, not one whole section
                else:
                    where, spots_used = target, chosen
                new = hst.tl.adapt(where, base, spots=spots_used, seed=seed, device="cpu", **options, **quiet)
                prediction = predicted(new).loc[test_names].to_numpy()
                results[name] = (prediction, time.perf_counter() - start, len(new.history))
        if SCRATCH in methods:
            start = time.perf_counter()
            few_sdata = subset_table(target, chosen)
            model = hst.tl.fit(
                few_sdata, genes=panel, validation="spatial", seed=seed, **encoder, **quiet, **SCRATCH_OPTIONS
            )
            prediction = predicted(model).loc[test_names].to_numpy()
            results[SCRATCH] = (prediction, time.perf_counter() - start, len(model.history))
        for name, train in ((RIDGE_FEW, few), (RIDGE_ALL, np.concatenate([source_rows, few]))):
            if name in methods:
                start = time.perf_counter()
                prediction = baselines.ridge_probe(features[train], targets[train], features[test], seed=seed)
                results[name] = (prediction, time.perf_counter() - start, 0)
        normalised = expression(counts[test], "normalised", library[test], metrics.TARGET_SUM)
        for name, (prediction, seconds, epochs_run) in results.items():
            summary = metrics.score(targets[test], prediction, panel, normalised_observed=normalised)[1]
            row = {"fraction": fraction, "seed": seed, "method": name, "n_adapt": len(few), "n_test": len(test)}
            row |= {"seconds": seconds, "epochs": epochs_run}
            row |= {f"raw_{key}": summary["raw"][key] for key in acc.SUMMARY_KEYS}
            row |= {f"norm_{key}": summary["normalised"][key] for key in acc.SUMMARY_KEYS}
            rows.append(row)
        frame = pd.DataFrame(rows[-len(results) :])
        print(frame[["fraction", "seed", "method", "n_adapt", "raw_pcc_mean", "norm_pcc_mean"]], flush=True)
    return pd.DataFrame(rows)


def subset_table(sdata, names):
    """A copy of ``sdata``'s table with the counts of every spot but ``names`` set to zero (left out of training).

    The other spots stay in the table so that the pixel size is still read from the spot grid (a small block of
    spots alone may not show it); their zero counts enter the chosen spots' niche targets of the alignment terms.
    """
    from spatialdata import SpatialData

    table = sdata.tables["table"].copy()
    keep = table.obs_names.isin(names)
    table.X = table.X.multiply(keep[:, None]).tocsr() if sparse.issparse(table.X) else table.X * keep[:, None]
    return SpatialData(images=dict(sdata.images), shapes=dict(sdata.shapes), tables={"table": table})


def summarise(results: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Mean ± sd over seeds of the mean r on ``scale``: methods in rows, fractions (with adaptation spots) in columns."""
    column = f"{scale}_pcc_mean"
    grouped = results.groupby(["method", "fraction"])[column]
    mean, sd, size = grouped.mean(), grouped.std(ddof=1).fillna(0.0), grouped.size()
    spots = results.groupby("fraction")["n_adapt"].mean()
    fractions = sorted(results["fraction"].unique())
    methods = [m for m in METHOD_ORDER if m in set(results["method"])]
    table = pd.DataFrame(index=pd.Index(methods, name="method"))
    for fraction in fractions:
        label = f"{fraction:.0%} ({spots[fraction]:.0f} spots)"
        table[label] = [
            f"{mean[m, fraction]:.3f} ± {sd[m, fraction]:.3f}" if (m, fraction) in mean else "" for m in methods
        ]
    table["seeds"] = [int(size[m].max()) for m in methods]
    return table


def goal(results: pd.DataFrame, adapted: str) -> pd.DataFrame:
    """``adapted`` minus the best alternative (by mean) at every fraction and scale, paired by seed: mean ± sd, wins."""
    rows = {}
    for scale in ("raw", "norm"):
        wide = results.pivot_table(index=["fraction", "seed"], columns="method", values=f"{scale}_pcc_mean")
        for fraction, part in wide.groupby(level="fraction"):
            others = [m for m in ALTERNATIVES if m in part]
            best = part[others].mean().idxmax()
            gap = part[adapted] - part[best]
            rows[(fraction, scale)] = {
                "best alternative": best,
                "difference": f"{gap.mean():+.3f} ± {gap.std(ddof=1):.3f}" if len(gap) > 1 else f"{gap.mean():+.3f}",
                "ahead": f"{(gap > 0).sum()} of {len(gap)}",
                "goal met (mean)": bool(gap.mean() >= 0),
            }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["fraction", "scale"])


def report(results: pd.DataFrame) -> str:
    """Markdown tables of both scales and the goal check for every adapted variant."""
    results = results.drop_duplicates(["fraction", "seed", "method"], keep="last")
    lines = []
    for scale in ("raw", "norm"):
        lines += [f"\n### mean r on the other B4 spots, {scale}\n", summarise(results, scale).to_markdown(), ""]
    for name in [m for m in ADAPTED if m in set(results["method"])]:
        lines += [f"\n### {name} against the best alternative\n", goal(results, name).to_markdown(), ""]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    sdata = acc.load_her2st(args.data_dir)
    acc.add_image_features(sdata, input_size=args.crop_size, seed=0, cache=args.features_cache)
    panel = acc.fold_panel(sdata, [TEST_SECTION], args.genes)
    methods = args.methods or METHOD_ORDER
    results = []
    for seed in args.seeds:
        results.append(run_seed(sdata, panel, seed, args.fractions, epochs=args.epochs, methods=methods))
        pd.concat(results).to_csv(args.out, index=False)
    print(report(pd.concat(results, ignore_index=True)), flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data", help="folder holding her2st/<section>/")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of base model and spots")
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--methods", nargs="+", default=None, help="subset of the method names")
    parser.add_argument("--genes", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=acc.FIT_OPTIONS["max_epochs"], help="base model's epochs")
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--features-cache", default=None, help=".npz file to reuse the image features from")
    parser.add_argument("--out", default="adaptation.csv")
    parser.add_argument("--report", nargs="+", default=None, help="print the tables of results CSVs and exit")
    return parser


if __name__ == "__main__":
    arguments = _parser().parse_args()
    if arguments.report:
        print(report(pd.concat([pd.read_csv(path) for path in arguments.report], ignore_index=True)))
    else:
        main(arguments)
