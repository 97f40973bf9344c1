"""Which image encoder should `hst.tl.fit` default to? Leave-one-section-out on the toy slide, side by side.

Each encoder trains with the same budget (epochs, panel, model width, seed) on the same folds; a shuffled-image
control (crops permuted across spots, i.e. the labels no longer match the images) shows what the model gets
without image information. Reports raw and library-size-normalised mean r over the fixed panel, and the time.

    python benchmarks/encoder_choice.py --sections 3 --spots 200 --epochs 30
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import hyperst as hst


def shuffled_counts(sdata, seed: int):
    """Copy of the slide whose count rows are permuted within each section: images no longer explain counts."""
    from spatialdata import deepcopy

    shuffled = deepcopy(sdata)
    table = shuffled.tables["table"]
    rng = np.random.default_rng(seed)
    order = np.arange(table.n_obs)
    for section in table.obs["section"].unique():
        rows = np.flatnonzero(table.obs["section"].to_numpy() == section)
        order[rows] = rng.permutation(rows)
    table.X = table.X[order]
    return shuffled


def main(n_sections: int, n_spots: int, epochs: int, seed: int) -> pd.DataFrame:
    sdata = hst.datasets.toy(n_sections=n_sections, n_spots=n_spots, n_genes=60, seed=seed)
    common = dict(embed_dim=256, batch_size=64, lr=1e-3, max_epochs=epochs, seed=seed, progress_bar=False)
    runs = {
        "squidpy": (sdata, {"encoder": "squidpy"}),
        "cnn": (sdata, {"encoder": "cnn"}),
        "squidpy, shuffled control": (shuffled_counts(sdata, seed), {"encoder": "squidpy"}),
        "cnn, shuffled control": (shuffled_counts(sdata, seed), {"encoder": "cnn"}),
    }
    rows = []
    for name, (data, options) in runs.items():
        start = time.perf_counter()
        cv = hst.tl.cross_validate(data, groupby="section", **common, **options)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "encoder": name,
                "pcc_mean": f"{cv['pcc_mean'].mean():.3f} ± {cv['pcc_mean'].std():.3f}",
                "pcc_mean_norm": f"{cv['pcc_mean_norm'].mean():.3f} ± {cv['pcc_mean_norm'].std():.3f}",
                "pcc@10": f"{cv['pcc@10'].mean():.3f}",
                "mse": f"{cv['mse'].mean():.3f}",
                "seconds": round(seconds),
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", type=int, default=3)
    parser.add_argument("--spots", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = main(args.sections, args.spots, args.epochs, args.seed)
    print(table.to_markdown(index=False))
