"""The one check of a gene panel against a table (``hyperst.data.check_genes``), used by fit, adapt, predict, pl."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from hyperst.data import check_genes

SRC = Path(__file__).parents[2] / "src" / "hyperst"


@pytest.fixture
def table():
    return ad.AnnData(np.zeros((2, 3), dtype=np.float32), var={"gene": ["A", "B", "C"]}).copy()


def test_a_table_holding_every_gene_passes(table):
    table.var_names = ["A", "B", "C"]
    assert check_genes(table, ["C", "A"], "table", fix="unused") is True


def test_missing_genes_are_named_and_counted_against_the_panel(table, caplog):
    table.var_names = ["A", "B", "C"]
    with pytest.raises(KeyError, match=r"Table 'table' lacks 2 of the 3 requested genes: \['X', 'Y'\]\. Do this\."):
        check_genes(table, ["X", "A", "Y"], "table", fix="Do this.")
    with pytest.raises(KeyError, match=r"lacks 12 of the model's 12 genes: \[.*'G9'\] and 2 more\."):
        check_genes(table, [f"G{i}" for i in range(12)], "table", fix="", panel="model")
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        assert check_genes(table, ["A", "X"], "t", fix="Going on.", panel="model", warn=True) is False
    assert "Table 't' lacks 1 of the model's 2 genes: ['X']. Going on." in caplog.text


def test_no_other_copy_of_the_check():
    """Callers use ``check_genes``: no list of genes missing from ``var_names`` is built anywhere else."""
    pattern = re.compile(r"if \w+ not in (table|adata)\.var_names\]")
    copies = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "_table.py" and pattern.search(path.read_text())
    ]
    assert copies == []
