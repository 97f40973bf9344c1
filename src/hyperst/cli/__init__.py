"""The ``hyperst`` command line: ``fit``, ``predict`` and ``evaluate`` on SpatialData zarr stores.

A thin layer over :func:`hyperst.tl.fit`, :func:`hyperst.tl.predict` and :func:`hyperst.tl.evaluate` for batch jobs
(one slide per job of a cluster array). Logs and progress go to stderr, results (``evaluate``'s metrics) to stdout.
Bad input ends with a one-line reason and a non-zero exit status, without a traceback (``--debug`` shows it), and
outputs are written next to their target and moved into place only when complete.
"""

from __future__ import annotations

import logging
import signal
import sys
import warnings
from collections.abc import Sequence

from hyperst import __version__, settings
from hyperst._logging import logger
from hyperst.cli._parser import build_parser, in_cli_words

# Exit statuses: argparse already uses 2 for usage errors.
EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2
# Errors that mean bad input (a missing file, an existing output, a wrong value): one line, no traceback.
BAD_INPUT = (ValueError, KeyError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError)

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hyperst`` command line (the ``hyperst`` entry point and ``python -m hyperst``).

    Parameters
    ----------
    argv
        Arguments after the program name, e.g. ``["predict", "slide.zarr", "--model", "model", "--out", "o.zarr"]``;
        default ``sys.argv[1:]``.

    Returns
    -------
    The exit status: 0 on success, 1 for bad input found while running (a missing file, an existing output, a wrong
    value), 2 for a wrong command line (argparse exits with 2 itself). Errors are one line on stderr.
    """
    parser = build_parser(__version__)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    level, formatter = logger.level, _log_to_stderr(args.verbose - args.quiet)
    # SLURM and friends stop jobs with SIGTERM: turn it into SystemExit so temporary outputs are cleaned up.
    previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with warnings.catch_warnings():
            if args.verbose < 2:  # each warning once; developers' deprecation notes only with -vv
                warnings.simplefilter("once")
                for category in (DeprecationWarning, PendingDeprecationWarning, SyntaxWarning):
                    warnings.simplefilter("ignore", category)
            args.run(args)
    except BAD_INPUT as error:
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        message = in_cli_words(" ".join(str(message).split()), args.flags)
        sys.stderr.write(f"hyperst {args.command}: error: {message}\n")
        return EXIT_BAD_INPUT
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        settings.handler.setFormatter(formatter)
        logger.setLevel(level)
    return EXIT_OK


def _log_to_stderr(verbosity: int) -> logging.Formatter | None:
    """Log to stderr with times: INFO by default, WARNING with ``-q``, DEBUG with ``-v``; return the old format.

    The package's own stderr handler (``hst.settings``) does the writing, so no line is printed twice.
    """
    previous = settings.handler.formatter
    settings.handler.setFormatter(logging.Formatter("%(asctime)s hyperst %(levelname)s: %(message)s", "%H:%M:%S"))
    settings.verbosity = "debug" if verbosity > 0 else "info" if verbosity == 0 else "warning"
    return previous


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
