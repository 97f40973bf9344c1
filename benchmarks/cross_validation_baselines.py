"""HyperST against its baselines through the public API: ``hst.tl.cross_validate(baselines=...)`` on her2st.

What a user runs on their own slides, run on the six her2st sections: the package's default predictor (the frozen
``squidpy`` features, a 5-member ensemble, raw target, every ``hst.tl.fit`` default) against the ridge probe,
BLEEP-style kNN retrieval and the shuffled-image control, on the same folds, features, targets and panel (200
HMHVG genes chosen by ``hst.tl.cross_validate`` on all sections). Protocols: ``--groupby section`` (six
leave-one-section-out folds; sections of patient C on both sides) and ``--groupby patient`` (two folds: train
C2-C6 and test B4, the held-out patient; train B4 and test C2-C6 pooled, the other direction)::

    OMP_NUM_THREADS=1 python benchmarks/cross_validation_baselines.py --data-dir ../shared/data --seeds 0 1 2 \\
        --out /tmp/cv_baselines.csv
    python benchmarks/cross_validation_baselines.py --report /tmp/cv_baselines.csv

``--blend ridge retrieval`` fits with ``hst.tl.fit(blend=...)``: each fold then scores the blend and, from the same
fit, its networks alone (the default predictor, ``pcc_mean_unblended``), beside the baselines; the report adds the
blend's rows and its paired difference to the networks alone::

    OMP_NUM_THREADS=1 python benchmarks/cross_validation_baselines.py --data-dir ../shared/data --seeds 0 1 2 \
        --groupby patient --blend ridge retrieval --out /tmp/cv_blend.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import pandas as pd

import hyperst as hst
from hyperst._constants import Column, Scale, choices

BASELINES = ("ridge", "knn", "shuffled")


def run(args: argparse.Namespace) -> pd.DataFrame:
    """Every (protocol, seed): one ``cross_validate`` call; its rows are written to ``args.out`` as they finish."""
    sdata = hst.datasets.her2st(args.sections, data_dir=args.data_dir)
    options = {"n_models": args.n_models} if args.n_models else {}
    if args.max_epochs:
        options["max_epochs"] = args.max_epochs
    if args.blend:
        options |= {"blend": tuple(args.blend), "blend_weights": args.blend_weights}
    options |= json.loads(args.fit_options)
    frames = []
    for groupby in args.groupby:
        for seed in args.seeds:
            start = time.perf_counter()
            cv = hst.tl.cross_validate(
                sdata, groupby=groupby, seed=seed, baselines=BASELINES, progress_bar=False, **options
            )
            cv = cv.assign(protocol=groupby, seed=seed, seconds=time.perf_counter() - start)
            frames.append(cv.reset_index())
            pd.concat(frames).to_csv(args.out, index=False)
            print(cv.filter(regex="held_out|pcc_mean|difference|seconds").round(3).to_string(), flush=True)
            print(cv.attrs.get(Column.BASELINES, {}), flush=True)
    return pd.concat(frames)


def report(results: pd.DataFrame) -> str:
    """Per protocol and fold (seeds averaged): every method's mean r and HyperST's paired difference, both scales.

    Blended runs (a ``pcc_mean_unblended`` column): "HyperST" is the networks alone (the default predictor) and
    "blend" the blended prediction of the same fit.
    """
    blended = Column.baseline(Column.UNBLENDED, "raw") in results
    methods = ["HyperST", *BASELINES] if not blended else ["blend", "HyperST", *BASELINES]
    lines = []
    for protocol, runs in results.groupby("protocol", sort=False):
        for scale in choices(Scale):
            columns = [Column.scaled(Column.PCC, scale)] + [Column.baseline(m, scale) for m in BASELINES]
            if blended:
                columns.insert(1, Column.baseline(Column.UNBLENDED, scale))
            per_fold = runs.groupby("held_out", sort=False)[columns].mean()
            per_fold.columns = methods
            per_fold["seeds"] = runs.groupby("held_out", sort=False).size()
            best = per_fold[["ridge", "knn"]].mean().idxmax()
            gap = (runs[columns[0]] - runs[Column.baseline(best, scale)]).groupby(runs["held_out"], sort=False)
            per_fold[f"HyperST - {best}"] = gap.mean()
            per_fold[f"ahead of {best} (seeds)"] = gap.apply(lambda g: f"{(g > 0).sum()} of {len(g)}")
            if blended:  # the default predictor is the networks alone; columns[0] is the blend
                networks = runs[Column.baseline(Column.UNBLENDED, scale)]
                gap = (networks - runs[Column.baseline(best, scale)]).groupby(runs["held_out"], sort=False)
                per_fold[f"HyperST - {best}"] = gap.mean()
                per_fold[f"ahead of {best} (seeds)"] = gap.apply(lambda g: f"{(g > 0).sum()} of {len(g)}")
                for other in (best, "HyperST"):
                    baseline = networks if other == "HyperST" else runs[Column.baseline(other, scale)]
                    gap = (runs[columns[0]] - baseline).groupby(runs["held_out"], sort=False)
                    per_fold[f"blend - {other}"] = gap.agg(lambda g: f"{g.mean():+.3f} ± {g.std(ddof=1):.3f}")
                    per_fold[f"blend ahead of {other}"] = gap.apply(lambda g: f"{(g > 0).sum()} of {len(g)}")
            mean = per_fold[methods].mean()
            sd = per_fold[methods].std(ddof=1) if len(per_fold) > 1 else mean * 0
            lines += [f"\n### {protocol} folds, {scale}\n", per_fold.round(3).to_markdown(), ""]
            lines.append(
                "mean over folds: "
                + ", ".join(f"{m} {mean[m]:.3f} ± {sd[m]:.3f}" for m in methods)
                + f"; HyperST - {best} {per_fold[f'HyperST - {best}'].mean():+.3f}"
            )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data", help="folder holding her2st/<section>/")
    parser.add_argument("--sections", nargs="+", default=None, help="sections to load (default all six)")
    parser.add_argument("--groupby", nargs="+", default=["patient", "section"], help="protocols (obs columns)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-models", type=int, default=None, help="ensemble members (default: the package's)")
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch cap (default: the package's)")
    parser.add_argument("--blend", nargs="+", default=None, help="hst.tl.fit(blend=...): ridge and/or retrieval")
    parser.add_argument("--blend-weights", default="global", help="hst.tl.fit(blend_weights=...): global or gene")
    parser.add_argument("--fit-options", default="{}", help="more hst.tl.fit options as JSON, e.g. '{\"n_views\": 0}'")
    parser.add_argument("--out", default="cv_baselines.csv")
    parser.add_argument("--report", nargs="+", default=None, help="print the tables of result CSVs and exit")
    return parser


if __name__ == "__main__":
    arguments = _parser().parse_args()
    if arguments.report:
        print(report(pd.concat([pd.read_csv(p) for p in arguments.report], ignore_index=True)))
    else:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("hyperst").setLevel(logging.INFO)
        run(arguments)
