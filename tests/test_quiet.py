"""A toy fit + predict + ``sdata.write`` in a fresh process prints no warning lines (issue 23).

Users read warning lines as errors; what they cannot act on (squidpy's docrep notes at import, anndata's zarr
sharding announcement per array) is filtered narrowly at ``import hyperst``.
"""

from __future__ import annotations

import re


def test_fit_predict_write_print_no_warning(run_script):
    result = run_script(
        """
        import hyperst as hst

        sdata = hst.datasets.toy(n_sections=2, n_spots=60, n_genes=20, seed=0)
        model = hst.tl.fit(sdata, max_epochs=1, n_models=1, progress_bar=False)
        hst.tl.predict(sdata, model)
        sdata.write("toy.zarr")
        print("done")
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "done"
    warnings = [line for line in result.stderr.splitlines() if re.search(r"warning", line, re.IGNORECASE)]
    assert warnings == [], "\n".join(warnings[:10])


def test_the_filters_are_narrow():
    """Other warnings of the same packages still show: the filters name the module and the message."""
    import warnings

    import hyperst

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        hyperst._warnings.ignore_foreign_warnings()
        warnings.warn_explicit("'n_jobs' is not a valid key!", SyntaxWarning, "decorators.py", 43, "docrep.decorators")
        warnings.warn_explicit("another docrep note", SyntaxWarning, "decorators.py", 44, "docrep.decorators")
        warnings.warn_explicit(
            "zarr v3 autosharding will be the default", UserWarning, "contextlib.py", 137, "contextlib"
        )
        warnings.warn_explicit("zarr v3 autosharding will be the default", UserWarning, "mine.py", 1, "mine")
    assert [str(w.message) for w in caught] == ["another docrep note", "zarr v3 autosharding will be the default"]
