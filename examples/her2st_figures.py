"""The her2st figures of the README and the docs: a Poincaré-disk view and spatial gene maps of an unseen section.

Fits HyperST on four serial sections of patient C (C2, C3, C5, C6), predicts section C4, which the model never saw,
and draws it with ``hst.pl.poincare`` and ``hst.pl.spatial_genes``. The held-out section comes from the same patient,
so these pictures show what the model learned, not a patient-level accuracy (see the benchmark page for that).

    HYPERST_DATA_DIR=../shared/data python examples/her2st_figures.py --out docs/_static
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import hyperst as hst

log = logging.getLogger("hyperst.figures")
TRAIN, TEST = ["C2", "C3", "C5", "C6"], "C4"


def main(out: Path, *, n_genes: int, max_epochs: int, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sdata = hst.datasets.her2st(sections=[*TRAIN, TEST])
    train = sdata.subset([f"{s}_{kind}" for s in TRAIN for kind in ("image", "spots")], filter_tables=True)
    panel = hst.pp.select_genes(train, n_genes=n_genes, method="hmhvg", inplace=False)
    genes = panel if "ERBB2" in panel else [*panel, "ERBB2"]  # HER2 itself, the gene these tumours are named for
    model = hst.tl.fit(train, genes=genes, max_epochs=max_epochs, embed_dim=256, lr=1e-3, seed=seed, progress_bar=False)
    hst.tl.predict(sdata, model, spots_key=f"{TEST}_spots")
    per_gene = hst.tl.evaluate(sdata)
    summary = sdata.tables["hyperst"].uns["hyperst"]["metrics"]
    log.info(
        "Held-out section %s: mean r %.2f raw, %.2f normalised over %d genes",
        TEST,
        summary["raw"]["pcc_mean"],
        summary["normalised"]["pcc_mean"],
        len(genes),
    )
    best = per_gene["pearson"].drop("ERBB2").nlargest(2).index.tolist()
    figures = {
        "her2st_poincare.png": hst.pl.poincare(sdata, color="ERBB2", return_fig=True),
        "her2st_spatial.png": hst.pl.spatial_genes(sdata, ["ERBB2", *best], return_fig=True),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=72, bbox_inches="tight")  # small enough to live in the repository
        plt.close(fig)
    log.info("Wrote %s and %s", out / "her2st_poincare.png", out / "her2st_spatial.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/_static"))
    parser.add_argument("--n-genes", type=int, default=100)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(args.out, n_genes=args.n_genes, max_epochs=args.max_epochs, seed=args.seed)
