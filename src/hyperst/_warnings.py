"""Warnings of other packages that a hyperst user cannot act on, ignored narrowly (their module and message).

Users read warning lines as errors; these say nothing about their data or their call. Each filter names the module
that issues the warning and its message, so every other warning of those packages still shows.
"""

from __future__ import annotations

import warnings


def ignore_foreign_warnings() -> None:
    """Install the filters; called once by ``import hyperst`` (importing nothing heavy)."""
    # squidpy 1.8 documents its functions through docrep, which warns at import (a SyntaxWarning per unknown
    # parameter key in squidpy's own docstrings: "'n_jobs' is not a valid key!"). squidpy's to fix, not the user's.
    warnings.filterwarnings("ignore", message=r"'\w+' is not a valid key!", category=SyntaxWarning, module="docrep")
    # anndata 0.12 warns once per array written to zarr v3 while its `auto_shard_zarr_v3` setting is unset (every
    # `sdata.write` of a table: dozens of lines), announcing a future default. The layout written is valid either
    # way. anndata issues it from a context manager, so the warning is attributed to contextlib.
    warnings.filterwarnings(
        "ignore",
        message="zarr v3 autosharding will be the default",
        category=UserWarning,
        module="(contextlib|anndata)",
    )
