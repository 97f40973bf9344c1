"""Parameter text that several public functions share, written once (scanpy's ``_docs.py`` pattern).

Use ``@doc_params(show_save_ax=doc_show_save_ax)`` and put ``{show_save_ax}`` on its own line, at the
indentation of the other parameter names, in the function's ``Parameters`` section (the docstring is cleaned
with :func:`inspect.cleandoc` first, so the shared text needs no indentation). ``{returns_fig}`` stands for the
whole ``Returns`` section of a plot.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

doc_show_save_ax = """\
ax
    Draw on these axes instead of a new figure (single-panel plots only).
show
    Show the figure; default: show unless ``return_fig`` is set or ``ax`` is given.
save
    Write the figure to this path (the format follows the suffix: ``.png``, ``.pdf``, ``.svg``).
return_fig
    Return the :class:`~matplotlib.figure.Figure` instead of ``None``."""

doc_returns_fig = """\
Returns
-------
The figure with ``return_fig=True``, else ``None``."""

doc_table_key_counts = """\
table_key
    The table of raw counts annotating the spots."""

doc_layer = """\
layer
    Layer of the table with raw counts; default ``X``."""

doc_image_key = """\
image_key
    Image for every section (str) or per spots element (dict); default: the image sharing a coordinate system with
    the spots (the finest when several show the same area)."""

doc_out_of_bounds = """\
out_of_bounds
    Spots whose crops leave the image: ``"pad"`` pads them with white and trains on them, ``"exclude"`` leaves them
    out of training. Prediction always covers every spot (padded)."""

doc_table_key_output = """\
table_key
    The table written by :func:`hyperst.tl.predict` (its ``key_added``)."""


def doc_params(**texts: str) -> Callable[[F], F]:
    """Fill ``{name}`` placeholders of a docstring with shared parameter text."""

    def decorate(obj: F) -> F:
        doc = inspect.cleandoc(obj.__doc__ or "")
        for name, text in texts.items():  # not str.format: docstrings hold literal braces ({"spot_key": ...})
            doc = doc.replace(f"{{{name}}}", text)
        obj.__doc__ = doc
        return obj

    return decorate
