"""The README demo: fit HyperST on two toy sections, predict a third it never saw, evaluate, save a figure.

Runs offline on the CPU in a few minutes. Run with ``make demo`` (or ``python examples/demo.py --out demo_output``).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import hyperst as hst

log = logging.getLogger("hyperst.demo")


def main(out: Path, seed: int, max_epochs: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    sdata = hst.datasets.toy(n_sections=3, n_spots=200, n_genes=60, seed=seed)
    train = sdata.subset(["S1_image", "S1_spots", "S2_image", "S2_spots"], filter_tables=True)

    hst.pp.select_genes(train, n_genes=60, method="hvg")  # marks table.var["hyperst_gene"]
    start = time.perf_counter()
    model = hst.tl.fit(train, embed_dim=256, lr=1e-3, max_epochs=max_epochs, seed=seed, progress_bar=False)
    fitted = time.perf_counter()
    hst.tl.predict(sdata, model, spots_key="S3_spots")  # the held-out section only
    log.info(
        "fit took %.1f s (%d ensemble members on squidpy features computed once, in batches) and predict %.1f s "
        "(docs/benchmarks.md, 'make demo', has the times before and after)",
        fitted - start,
        model.n_models,
        time.perf_counter() - fitted,
    )
    hst.tl.evaluate(sdata)
    summary = sdata.tables["hyperst"].uns["hyperst"]["metrics"]
    log.info(
        "Held-out section S3: mean r over all %d genes %.2f (raw log2(1+count)), %.2f (library-size normalised)",
        len(model.genes),
        summary["raw"]["pcc_mean"],
        summary["normalised"]["pcc_mean"],
    )
    path = out / "demo.png"
    _figure(sdata, path)
    model.save(out / "model", overwrite=True)
    log.info("Wrote %s and the model in %s", path, out / "model")
    return summary


def _figure(sdata, path: Path) -> None:
    """Observed | predicted | residual of the best-predicted gene over the held-out section's H&E."""
    per_gene = sdata.tables["hyperst"].var["pearson"]
    hst.pl.spatial_genes(sdata, [per_gene.idxmax()], save=path, show=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(args.out, args.seed, args.max_epochs)
