"""The package logger: user-facing messages go through ``logging``, never ``print``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("hyperst")


@contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Raise the named libraries' loggers to WARNING for the block, unless ``hyperst`` itself logs at DEBUG.

    For info lines that libraries print about work hyperst does on their behalf (Lightning's device banner,
    squidpy's graph building): a user who wants them sets the ``hyperst`` logger to DEBUG, as scvi-tools ties
    Lightning's verbosity to its own. The levels are restored afterwards.
    """
    loggers = [logging.getLogger(name) for name in names]
    levels = [library_logger.level for library_logger in loggers]
    if not logger.isEnabledFor(logging.DEBUG):
        for library_logger in loggers:
            library_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for library_logger, level in zip(loggers, levels, strict=True):
            library_logger.setLevel(level)
