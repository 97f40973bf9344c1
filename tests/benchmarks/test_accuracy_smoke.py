"""Reduced accuracy benchmark on real her2st sections: HyperST must beat the shuffled-image control clearly.

Runs ``benchmarks/accuracy.py``'s own functions (the script is not a package; it is loaded from its path) with
two sections of patient C, two folds (each section held out once), 40 genes, 32 px crops and 8 epochs.
"""

from __future__ import annotations

import pytest

SECTIONS = ["C2", "C3"]


@pytest.mark.slow
@pytest.mark.realdata
def test_hyperst_beats_shuffled_images(accuracy, her2st_dir):
    import pandas as pd

    sdata = accuracy.load_her2st(her2st_dir.parent, SECTIONS)
    accuracy.add_image_features(sdata, input_size=32, seed=0)
    table = sdata.tables["table"]
    for key, shuffled in zip(accuracy.FEATURES, accuracy.SHUFFLED, strict=True):
        assert (table.obsm[key] != 0).any(axis=1).all()  # every spot was encoded
        assert sorted(map(tuple, table.obsm[key])) == sorted(map(tuple, table.obsm[shuffled]))  # same rows, permuted

    options = {"embed_dim": 64, "batch_size": 64, "lr": 3e-3, "max_epochs": 8, "patience": 10}
    methods = ["HyperST", accuracy.CONTROL, accuracy.BASELINES[0], *accuracy.MEMBERS]
    results = pd.concat(
        [accuracy.run_fold(sdata, [s], n_genes=40, methods=methods, fit_options=options) for s in SECTIONS]
    )
    assert set(results["held_out"]) == set(SECTIONS) and (results["n_genes"] == 40).all()
    r = results.groupby("method")["raw_pcc_mean"].mean()
    shown = results[["held_out", "method", "raw_pcc_mean", "norm_pcc_mean", "seconds"]].to_string()
    # Measured (2026-11-21, this configuration): HyperST raw mean r 0.380 (C2 held out) and 0.441 (C3), shuffled
    # control 0.019 and 0.039, so a gap of 0.38 on the two-fold mean; with 5 epochs HyperST reached only 0.13 and
    # 0.08. The margins leave room for noise.
    assert r["HyperST"] > r[accuracy.CONTROL] + 0.2, shown
    assert r["HyperST"] > 0.25, shown
    # members of other kinds, derived from the same HyperST fit: the retrieval in its aligned space reads signal
    # (0.33 and 0.45 measured with these settings), the blends lie near their parts
    assert set(accuracy.MEMBERS) <= set(results["method"])
    assert r["aligned retrieval"] > r[accuracy.CONTROL] + 0.15, shown
    assert r["HyperST + ridge"] > min(r["HyperST"], r[accuracy.BASELINES[0]]) - 0.05, shown
    assert "HyperST" in accuracy.report(results)
