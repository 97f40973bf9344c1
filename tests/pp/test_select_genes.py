"""``hst.pp.select_genes``: HMHVG, top genes by mean, user lists; only the documented keys are written."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hyperst as hst

HIGH = ["MT-CO1", "RPL3", "RPS27A", "RPLP0", "RPS6KA1"]  # RPS6KA1 is a kinase, not a ribosomal protein


@pytest.fixture(scope="module")
def counts_table():
    """Two sections x 150 spots, 600 genes with spread-out means and overdispersion, plus MT-/RP genes."""
    import anndata as ad

    rng = np.random.default_rng(0)
    n_spots, n_genes = 300, 600
    mean = np.exp(rng.normal(0, 1.5, n_genes))
    mean[:5] = 200.0  # the MT-/RP- genes (and RPS6KA1) are the most expressed
    depth = np.exp(rng.normal(0, 0.3, n_spots))[:, None]
    dispersion = rng.uniform(0.5, 20, n_genes)
    counts = rng.poisson(rng.gamma(dispersion, depth * mean / dispersion))
    genes = HIGH + [f"GENE{i}" for i in range(n_genes - len(HIGH))]
    obs = pd.DataFrame({"section": np.repeat(["A", "B"], n_spots // 2)}, index=[f"s{i}" for i in range(n_spots)])
    return ad.AnnData(X=sparse.csr_matrix(counts.astype(np.float32)), obs=obs, var=pd.DataFrame(index=genes))


def test_hmhvg_panel(counts_table):
    table = counts_table.copy()
    X = table.X.copy()
    assert hst.pp.select_genes(table, 50) is None
    selected = table.var["hyperst_gene"]
    assert selected.dtype == bool and selected.sum() == 50
    assert not selected[["MT-CO1", "RPL3", "RPS27A", "RPLP0"]].any()
    record = table.uns["hyperst_genes"]
    assert (
        record["method"] == "hmhvg"
        and len(record["genes"]) == 50
        and set(record["genes"]) == set(selected[selected].index)
    )
    n_top = record["params"]["n_top"]
    assert 50 <= n_top <= 200  # N adapted so the intersection has 50 genes
    assert (
        (table.X != X).nnz == 0 and set(table.var.columns) == {"hyperst_gene"} and set(table.uns) == {"hyperst_genes"}
    )
    assert list(table.obs.columns) == ["section"] and not table.layers and not table.obsm


def test_hmhvg_is_the_intersection_of_top_mean_and_top_sd(counts_table):
    panel = hst.pp.select_genes(counts_table, 1000, n_top=80, inplace=False)
    X = counts_table.X.toarray()
    keep = ~counts_table.var_names.isin(["MT-CO1", "RPL3", "RPS27A", "RPLP0"])
    totals = X.sum(1, keepdims=True)
    logged = np.log1p(X / totals * np.median(totals))
    mean, sd = logged.mean(0), logged.std(0)
    names = counts_table.var_names
    # all 600 genes are HVGs here (600 < 2000 per section), so the candidates are all non-excluded genes
    top_mean = set(names[keep][np.argsort(-mean[keep], kind="stable")[:80]])
    top_sd = set(names[keep][np.argsort(-sd[keep], kind="stable")[:80]])
    assert set(panel) == top_mean & top_sd
    assert panel == [g for g in names if g in panel]  # table order
    assert "hyperst_gene" not in counts_table.var  # inplace=False writes nothing


def test_hvg_and_list(counts_table):
    table = counts_table.copy()
    by_mean = hst.pp.select_genes(table, 10, method="hvg", inplace=False)
    assert len(by_mean) == 10 and "RPS6KA1" in by_mean and "MT-CO1" not in by_mean
    mine = hst.pp.select_genes(table, method=["GENE7", "GENE3"], inplace=False)
    assert mine == ["GENE3", "GENE7"]
    hst.pp.select_genes(table, method=["GENE7", "GENE3"])
    assert table.uns["hyperst_genes"]["method"] == "list" and table.var["hyperst_gene"].sum() == 2


def test_per_section_hvgs_matter(counts_table):
    """With a small per-section HVG count, only genes variable within some section are candidates."""
    import scanpy as sc

    panel = hst.pp.select_genes(counts_table, 20, n_top_per_section=100, inplace=False)
    union = set()
    for section in ("A", "B"):
        part = counts_table[counts_table.obs["section"] == section].copy()
        sc.pp.normalize_total(part)
        sc.pp.log1p(part)
        sc.pp.highly_variable_genes(part, n_top_genes=100, flavor="seurat")
        union |= set(part.var_names[part.var["highly_variable"]])
    assert set(panel) <= union


def test_on_spatialdata(toy_sdata):
    import spatialdata as sd

    sdata = sd.deepcopy(toy_sdata)
    hst.pp.select_genes(sdata, n_genes=10)
    assert sdata.tables["table"].var["hyperst_gene"].sum() == 10
    assert "hyperst_gene" not in toy_sdata.tables["table"].var


@pytest.mark.parametrize(("value", "match"), [(np.nan, "NaN"), (-2.0, "negative"), (1.5, "not integers")])
def test_bad_counts(counts_table, value, match):
    table = counts_table.copy()
    table.X = table.X.toarray()
    table.X[0, 7] = value
    before = table.X.copy()
    with pytest.raises(ValueError, match=match):
        hst.pp.select_genes(table, 10)
    np.testing.assert_array_equal(table.X, before)
    assert "hyperst_gene" not in table.var


def test_bad_arguments(counts_table):
    import anndata as ad

    table = counts_table.copy()
    with pytest.raises(KeyError, match=r"Table 'table' lacks 1 of the 2 requested genes: \['NOPE'\]"):
        hst.pp.select_genes(table, method=["GENE1", "NOPE"])
    with pytest.raises(ValueError, match="repeat"):
        hst.pp.select_genes(table, method=["GENE1", "GENE1"])
    with pytest.raises(ValueError, match="method"):
        hst.pp.select_genes(table, method="pca")
    with pytest.raises(ValueError, match="n_genes"):
        hst.pp.select_genes(table, 0)
    with pytest.raises(KeyError, match="No layer"):
        hst.pp.select_genes(table, 10, layer="counts")
    duplicated = table.copy()
    duplicated.var_names = ["GENE1"] + duplicated.var_names[1:].tolist()
    with pytest.raises(ValueError, match="duplicate gene names"):
        hst.pp.select_genes(duplicated, 10)
    with pytest.raises(ValueError, match="empty"):
        hst.pp.select_genes(ad.AnnData(X=np.zeros((0, 5), dtype=np.float32)), 3)
    assert "hyperst_gene" not in table.var and "hyperst_genes" not in table.uns


def test_select_genes_keeps_torch_thread_count():
    """scanpy's numba kernels reset the OpenMP thread count torch shares; ``OMP_NUM_THREADS=1`` must survive.

    Runs in a fresh interpreter: numba changes the count only when its thread pool starts, once per process.
    """
    script = (
        "import torch, hyperst as hst; "
        "sdata = hst.datasets.toy(n_sections=1); hst.pp.select_genes(sdata, n_genes=20); "
        "print(torch.get_num_threads())"
    )
    env = os.environ | {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "1"
