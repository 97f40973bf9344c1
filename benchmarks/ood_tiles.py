"""Out-of-distribution flags on an in-distribution slide tiled with ``hst.pp.tile_tissue``, edge tiles included.

Trains the default model (frozen ``squidpy`` encoder, ensemble, views) on a toy slide, lays a Visium grid over the
tissue of another toy slide of the same kind (``tile_tissue``), predicts it from the image and reports the share
of tiles flagged (``obs["hyperst_ood_flag"]``) at the tissue edge (less than 90 % of the disk on tissue) and
inside; the goal is about 1 % (the flag's threshold), at most 5 %::

    OMP_NUM_THREADS=1 python benchmarks/ood_tiles.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

import hyperst as hst


def run(seed: int, epochs: int, options: dict) -> dict:
    train = hst.datasets.toy(seed=seed)
    hst.pp.select_genes(train, n_genes=30)
    model = hst.tl.fit(train, max_epochs=epochs, seed=seed, progress_bar=False, **options)
    new = hst.datasets.toy(seed=100 + seed)
    image_key = next(iter(new.images))
    hst.pp.tile_tissue(new, image_key=image_key, spots_key_added="tiles")
    out = hst.tl.predict(new, model, table_key=None, spots_key="tiles", image_key=image_key, inplace=False)
    edge = new.shapes["tiles"]["tissue_fraction"].to_numpy() < 0.9
    flagged = out.obs["hyperst_ood_flag"].to_numpy()
    return {
        "seed": seed,
        "tiles": len(flagged),
        "edge_tiles": int(edge.sum()),
        "flagged": float(flagged.mean()),
        "flagged_edge": float(flagged[edge].mean()) if edge.any() else float("nan"),
        "flagged_inside": float(flagged[~edge].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--options", default="{}", help="JSON of hst.tl.fit options")
    args = parser.parse_args()
    rows = [run(seed, args.epochs, json.loads(args.options)) for seed in args.seeds]
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print(table.drop(columns="seed").mean().to_frame("mean").T.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
