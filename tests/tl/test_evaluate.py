from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import hyperst as hst


def _output_table(n_spots=80, n_genes=15, seed=0, with_observed=True):
    rng = np.random.default_rng(seed)
    observed = np.log2(1 + rng.poisson(rng.gamma(2, 4, (n_spots, n_genes)))).astype(np.float32)
    predicted = (observed + rng.normal(0, 0.7, observed.shape)).astype(np.float32)
    obs = pd.DataFrame({"section": np.repeat(["A", "B"], n_spots // 2)}, index=[f"s{i}" for i in range(n_spots)])
    table = ad.AnnData(X=predicted.copy(), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]))
    table.layers["predicted"] = predicted
    if with_observed:
        table.layers["observed"] = observed
    table.uns["hyperst"] = {"genes": list(table.var_names)}
    return table


def test_writes_per_gene_and_summary():
    table = _output_table()
    layers_before = {k: v.copy() for k, v in table.layers.items()}
    result = hst.tl.evaluate(table)

    assert list(result.index) == list(table.var_names)
    for column in ("pearson", "spearman", "mse", "mae", "pearson_norm", "spearman_norm", "mse_norm", "mae_norm"):
        np.testing.assert_allclose(table.var[column], result[column])
    summary = table.uns["hyperst"]["metrics"]
    assert summary["n_spots"] == 80
    for view in ("raw", "normalised"):
        assert set(summary[view]) >= {"pcc_mean", "pcc@10", "pcc@50", "pcc@200", "mse", "mae", "rvd"}
    assert summary["raw"]["pcc_mean"] == pytest.approx(result["pearson"].mean())
    assert 0.5 < summary["raw"]["pcc_mean"] < 1
    json.dumps(table.uns["hyperst"])  # JSON-safe provenance
    for key, before in layers_before.items():
        np.testing.assert_array_equal(table.layers[key], before)


def test_groupby_section():
    table = _output_table()
    result = hst.tl.evaluate(table, groupby="section")
    assert result.index.names == ["section", "gene"]
    assert set(result.index.get_level_values(0)) == {"A", "B"}
    per_group = table.uns["hyperst"]["metrics"]["per_group"]
    assert set(per_group) == {"A", "B"} and per_group["A"]["n_spots"] == 40
    only_a = table[table.obs["section"] == "A"].copy()
    expected = hst.tl.evaluate(only_a)
    np.testing.assert_allclose(result.loc["A", "pearson"], expected["pearson"])


def test_spots_without_measurement_are_skipped():
    table = _output_table()
    table.layers["observed"][:10] = np.nan  # e.g. spots of an H&E-only section
    hst.tl.evaluate(table)
    assert table.uns["hyperst"]["metrics"]["n_spots"] == 70


def test_reads_table_from_spatialdata():
    from spatialdata import SpatialData

    sdata = SpatialData(tables={"hyperst": _output_table()})
    hst.tl.evaluate(sdata)
    assert "metrics" in sdata.tables["hyperst"].uns["hyperst"]


def test_nothing_measured():
    table = _output_table(with_observed=False)
    with pytest.raises(KeyError, match="observed"):
        hst.tl.evaluate(table)
    assert "pearson" not in table.var


def test_missing_table_and_column():
    from spatialdata import SpatialData

    with pytest.raises(KeyError, match=r"Run `hst.tl.predict` first"):
        hst.tl.evaluate(SpatialData())
    table = _output_table()
    with pytest.raises(KeyError, match="patient"):
        hst.tl.evaluate(table, groupby="patient")
    assert "metrics" not in table.uns["hyperst"] and "pearson" not in table.var
