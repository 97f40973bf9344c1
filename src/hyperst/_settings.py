"""``hst.settings``: package-wide options, scanpy-style. Today one: how much of the package's log is shown.

Importing :mod:`hyperst` attaches one handler to the ``hyperst`` logger that writes to the current ``sys.stderr``
(so notebooks show it under the cell), and sets the logger to WARNING: warnings (fallbacks, dropped spots) show by
default, info lines (gene selection, pixel size found, the validation split, reused features) after
``hst.settings.verbosity = "info"``. The level lives on the logger, so ``logging.getLogger("hyperst").setLevel(...)``
is the same switch.
"""

from __future__ import annotations

import logging
import sys

from hyperst._logging import logger

# verbosity name -> logging level; scanpy's numbers index the same list (0 errors ... 3 debug).
VERBOSITY: dict[str, int] = {
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
DEFAULT_VERBOSITY = "warning"


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is at the time (Jupyter and pytest replace it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the current sys.stderr always wins
        pass


class _Formatter(logging.Formatter):
    """Info lines as they are; warnings and errors prefixed with their level, as scanpy prints them."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname}: {message}"


class Settings:
    """Package-wide options of hyperst, available as ``hst.settings``.

    Examples
    --------
    Show what ``fit`` and ``predict`` decide (gene panel, pixel size, validation split, reused features):

    >>> import hyperst as hst
    >>> hst.settings.verbosity = "info"  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.handler = _StderrHandler()
        self.handler.setFormatter(_Formatter("%(message)s"))
        self.handler.set_name("hyperst")

    @property
    def verbosity(self) -> str:
        """How much the ``hyperst`` logger shows: ``"error"``, ``"warning"`` (default), ``"info"`` or ``"debug"``.

        Also accepts scanpy's numbers (0 to 3) and logging levels (``logging.INFO``). ``"debug"`` also lets the
        libraries hyperst drives speak (Lightning's device banner, squidpy's graph building).
        """
        level = logger.getEffectiveLevel()
        return next((name for name, value in VERBOSITY.items() if level >= value), "debug")

    @verbosity.setter
    def verbosity(self, value: str | int) -> None:
        logger.setLevel(_level(value))

    def __repr__(self) -> str:
        return f"hyperst settings: verbosity={self.verbosity!r}"


def _level(value: str | int) -> int:
    """Return the logging level of a verbosity name, a scanpy number (0-3) or a logging level."""
    names = list(VERBOSITY)
    if isinstance(value, str) and value.lower() in VERBOSITY:
        return VERBOSITY[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(names):
            return VERBOSITY[names[value]]
        if value in VERBOSITY.values():
            return value
    raise ValueError(
        f"`hst.settings.verbosity` must be one of {names}, a number 0-3 or a logging level; got {value!r}."
    )


settings = Settings()
if not any(handler.get_name() == "hyperst" for handler in logger.handlers):  # once, also if re-imported
    logger.addHandler(settings.handler)
    logger.setLevel(VERBOSITY[DEFAULT_VERBOSITY])
