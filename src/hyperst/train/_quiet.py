"""Keep Lightning's start-up chatter out of notebooks and logs while a fit runs."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from hyperst._logging import logger

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info lines (device banner, logger tips) and one deprecation it triggers, for one fit.

    Lightning's loggers go to WARNING unless the ``hyperst`` logger is at DEBUG (as scvi-tools ties Lightning's
    verbosity to its own); their levels are restored afterwards. Lightning 2.6 builds ``torch.utils._pytree.LeafSpec``,
    which torch 2.13 deprecates with a ``FutureWarning`` on every fit: nothing a user can act on, so it is ignored
    here and only here.
    """
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [lightning_logger.level for lightning_logger in loggers]
    if not logger.isEnabledFor(logging.DEBUG):
        for lightning_logger in loggers:
            lightning_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated", category=FutureWarning)
            yield
    finally:
        for lightning_logger, level in zip(loggers, levels, strict=True):
            lightning_logger.setLevel(level)
