"""``hst.tl.fit`` keeps Lightning's start-up chatter out of notebooks unless hyperst logs at DEBUG."""

from __future__ import annotations

import logging
import warnings

import hyperst as hst


def _fit_and_capture(toy_sdata, fast_fit_kwargs, caplog, level):
    """Fit one epoch; return Lightning's log records, the warnings raised and Lightning's logger level after."""
    import lightning.pytorch  # noqa: F401  (configures its logger on import)

    lightning_logger = logging.getLogger("lightning.pytorch")
    level_before = lightning_logger.level
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    lightning_logger.addHandler(handler)  # Lightning's logger may not propagate to caplog's root handler
    try:
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(level, logger="hyperst"):
            warnings.simplefilter("always")
            hst.tl.fit(toy_sdata, max_epochs=1, **fast_fit_kwargs)
    finally:
        lightning_logger.removeHandler(handler)
    assert lightning_logger.level == level_before, "the fit must restore Lightning's logger level"
    return records, caught


def test_fit_silences_lightning_info_and_its_leafspec_deprecation(toy_sdata, fast_fit_kwargs, caplog):
    records, caught = _fit_and_capture(toy_sdata, fast_fit_kwargs, caplog, logging.INFO)
    assert [r.getMessage() for r in records if r.levelno < logging.WARNING] == []
    assert not [w for w in caught if "LeafSpec" in str(w.message)]
    # hyperst says where it trains instead of Lightning's banner.
    assert any(r.getMessage() == "Training on cpu with 32-true precision." for r in caplog.records)


def test_fit_lets_lightning_speak_at_debug(toy_sdata, fast_fit_kwargs, caplog):
    records, _ = _fit_and_capture(toy_sdata, fast_fit_kwargs, caplog, logging.DEBUG)
    assert any("GPU available" in r.getMessage() for r in records)
