"""``hst.tl.fit`` keeps Lightning's start-up chatter out of notebooks unless hyperst logs at DEBUG."""

from __future__ import annotations

import logging
import warnings

import hyperst as hst


def _fit_and_capture(toy_sdata, fast_fit_kwargs, caplog, library_log, level):
    """Fit one epoch; return Lightning's log records and the warnings raised."""
    import lightning.pytorch  # noqa: F401  (configures its logger on import)

    level_before = logging.getLogger("lightning.pytorch").level
    records = library_log("lightning.pytorch")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(level, logger="hyperst"):
        warnings.simplefilter("always")
        hst.tl.fit(toy_sdata, max_epochs=1, **fast_fit_kwargs)
    assert logging.getLogger("lightning.pytorch").level == level_before, "the fit must restore Lightning's level"
    return records, caught


def test_fit_silences_lightning_info_and_its_leafspec_deprecation(toy_sdata, fast_fit_kwargs, caplog, library_log):
    records, caught = _fit_and_capture(toy_sdata, fast_fit_kwargs, caplog, library_log, logging.INFO)
    assert [r.getMessage() for r in records if r.levelno < logging.WARNING] == []
    assert not [w for w in caught if "LeafSpec" in str(w.message)]
    # hyperst says where it trains instead of Lightning's banner.
    assert any(r.getMessage() == "Training on cpu with 32-true precision." for r in caplog.records)


def test_fit_lets_lightning_speak_at_debug(toy_sdata, fast_fit_kwargs, caplog, library_log):
    records, _ = _fit_and_capture(toy_sdata, fast_fit_kwargs, caplog, library_log, logging.DEBUG)
    assert any("GPU available" in r.getMessage() for r in records)
