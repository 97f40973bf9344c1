"""``hst.settings.verbosity``: the package's log is visible, and a user turns it up or down (issue 23)."""

from __future__ import annotations

import logging

import pytest

import hyperst as hst
from hyperst._logging import logger


@pytest.fixture
def restore_level():
    level = logger.level
    yield
    logger.setLevel(level)


def test_warnings_show_by_default_and_info_after_turning_it_up(capsys, restore_level):
    assert hst.settings.verbosity == "warning"
    assert hst.settings.handler in logger.handlers
    logger.info("an info line")
    logger.warning("a warning line")
    assert capsys.readouterr().err == "WARNING: a warning line\n"
    hst.settings.verbosity = "info"
    logger.info("an info line")
    assert capsys.readouterr().err == "an info line\n"
    hst.settings.verbosity = 0  # scanpy's numbers: errors only
    logger.warning("a warning line")
    assert capsys.readouterr().err == "" and hst.settings.verbosity == "error"


def test_the_logging_level_is_the_same_switch(capsys, restore_level):
    logging.getLogger("hyperst").setLevel("DEBUG")  # what docs/faq.md has always said
    logger.debug("a debug line")
    assert capsys.readouterr().err == "a debug line\n" and hst.settings.verbosity == "debug"


def test_fit_tells_what_it_decided_at_info(toy_sdata, fast_fit_kwargs, capsys, restore_level):
    hst.settings.verbosity = "info"
    hst.tl.fit(toy_sdata, max_epochs=1, **fast_fit_kwargs)
    err = capsys.readouterr().err
    assert "No gene panel given: selecting" in err and "early stopping on" in err


@pytest.mark.parametrize("value", ["loud", 7, True, None])
def test_a_wrong_verbosity_names_the_choices(value):
    with pytest.raises(ValueError, match=r"verbosity` must be one of \['error', 'warning', 'info', 'debug'\]"):
        hst.settings.verbosity = value
