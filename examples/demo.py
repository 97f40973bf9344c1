"""The README demo: build the toy slide offline and save a figure of it.

Run with ``make demo`` (or ``python examples/demo.py --out demo_output``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import spatialdata_plot  # noqa: F401  (registers the .pl accessor)

import hyperst as hst


def main(out: Path, seed: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    sdata = hst.datasets.toy(n_sections=2, n_spots=200, n_genes=60, seed=seed)
    table = sdata.tables["table"]
    gene = table.var_names[table.var["signal"] == "both"][0]

    fig, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
    sdata.pl.render_images("S1_image").pl.show(coordinate_systems="S1", ax=axes[0], title="H&E (toy section S1)")
    (
        sdata.pl.render_images("S1_image")
        .pl.render_shapes("S1_spots", color=gene, table_name="table")
        .pl.show(coordinate_systems="S1", ax=axes[1], title=f"{gene}: measured counts")
    )
    path = out / "demo.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    logging.getLogger("hyperst").info("wrote %s", path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(args.out, args.seed)
