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

doc_table_key_output = """\
table_key
    The table written by :func:`hyperst.tl.predict` (its ``key_added``)."""


def doc_params(**texts: str) -> Callable[[F], F]:
    """Fill ``{name}`` placeholders of a docstring with shared parameter text."""

    def decorate(obj: F) -> F:
        obj.__doc__ = inspect.cleandoc(obj.__doc__ or "").format_map(texts)
        return obj

    return decorate
