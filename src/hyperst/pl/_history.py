"""``hst.pl.training_history``: loss terms and learned scalars of a trained model, per epoch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hyperst._docs import doc_params, doc_returns_fig, doc_show_save_ax
from hyperst.pl._utils import OKABE_ITO, finish, new_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from hyperst.model import HyperST

#: Quantity -> (panel title, y label); the loss terms have ``train_`` / ``val_`` columns in ``model.history``.
QUANTITIES = {
    "loss": ("Total loss: MSE + α (HCA + β HEA)", "loss"),
    "mse": ("Expression MSE (log2(1 + count))", "MSE"),
    "hca": ("HCA loss (contrastive alignment)", "loss"),
    "hea": ("HEA loss (entailment cones)", "loss"),
    "curvature": ("Curvature c (space of curvature -c)", "c"),
    "temperature": ("Contrastive temperature τ", "τ"),
    "scales": ("Per-modality feature scales exp(α)", "scale"),
}
_STAGES = (("train", "train"), ("val", "validation"))


@doc_params(returns_fig=doc_returns_fig, show_save_ax=doc_show_save_ax)
def training_history(
    model: HyperST,
    *,
    quantities: str | Sequence[str] | None = None,
    ncols: int = 4,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Every loss term (training and validation), the curvature, the temperature and the modality scales per epoch.

    One panel per quantity recorded in ``model.history``; a dotted vertical line marks the epoch whose weights
    training restored (the best validation loss, or training loss without validation). ``ax`` is accepted only
    with a single entry in ``quantities``.

    Parameters
    ----------
    model
        A model trained by :func:`hyperst.tl.fit` (or loaded with :meth:`hyperst.HyperST.load`).
    quantities
        Panels to draw, any of ``"loss"``, ``"mse"``, ``"hca"``, ``"hea"``, ``"curvature"``, ``"temperature"``,
        ``"scales"``; default every one the history records.
    ncols
        Panels per row.
    figsize
        Size of the whole figure in inches; default about 3.4 x 2.8 per panel.
    {show_save_ax}

    {returns_fig}

    Examples
    --------
    >>> model = hst.tl.fit(sdata, max_epochs=50)  # doctest: +SKIP
    >>> hst.pl.training_history(model)  # doctest: +SKIP
    >>> hst.pl.training_history(model, quantities=["loss", "curvature"], save="history.pdf")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    history = _history(model)
    best = (getattr(model, "train_params", None) or {}).get("best_epoch")
    panels = _resolve_quantities(history, quantities)
    if ncols < 1:
        raise ValueError(f"`ncols={ncols}` must be at least 1.")
    if ax is not None and len(panels) != 1:
        raise ValueError(
            f"`ax=` takes a single panel, but {len(panels)} quantities are drawn; pass one `quantities=` entry "
            "or leave `ax=None` for a new figure."
        )
    if ax is None:
        ncols = min(ncols, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        size = figsize or (3.4 * ncols, 2.8 * nrows)
        fig, grid = plt.subplots(nrows, ncols, figsize=size, squeeze=False, layout="constrained")
        axes = list(grid.ravel())
        for extra in axes[len(panels) :]:
            fig.delaxes(extra)
        restored = "" if best is None else f"; dotted line: restored weights of epoch {best}"
        fig.suptitle(f"Training history ({len(history)} epochs{restored})")
    else:
        fig, ax = new_axes(ax, None)
        axes = [ax]

    for quantity, panel_ax in zip(panels, axes, strict=False):
        _draw(panel_ax, history, quantity, best, explain_best=ax is not None)
    return finish(fig, show=show, save=save, return_fig=return_fig, own_figure=ax is None)


def _history(model: HyperST) -> pd.DataFrame:
    if not getattr(model, "is_trained", False):
        raise ValueError("The model is untrained, so it has no training history; run `hst.tl.fit` first.")
    history = model.history
    if history is None or len(history) == 0:
        raise ValueError(
            "The model has no recorded training history (`model.history` is empty); it is recorded by "
            "`hst.tl.fit` and kept by `model.save` / `HyperST.load`."
        )
    return history


def _columns(history: pd.DataFrame, quantity: str) -> list[tuple[str, str]]:
    """``(column, legend label)`` pairs of ``history`` that ``quantity`` draws."""
    if quantity == "scales":
        return [(c, c.removeprefix("scale_")) for c in history.columns if c.startswith("scale_")]
    if quantity in ("curvature", "temperature"):
        return [(quantity, quantity)] if quantity in history.columns else []
    return [(f"{stage}_{quantity}", label) for stage, label in _STAGES if f"{stage}_{quantity}" in history.columns]


def _resolve_quantities(history: pd.DataFrame, quantities: str | Sequence[str] | None) -> list[str]:
    recorded = [q for q in QUANTITIES if _columns(history, q)]
    if quantities is None:
        if not recorded:
            raise ValueError(f"`model.history` records none of {list(QUANTITIES)} (columns: {list(history.columns)}).")
        return recorded
    quantities = [quantities] if isinstance(quantities, str) else list(quantities)
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown or not quantities:
        raise ValueError(f"`quantities={quantities!r}`: choose among {list(QUANTITIES)}.")
    missing = [q for q in quantities if q not in recorded]
    if missing:
        raise ValueError(f"`model.history` does not record {missing}; it records {recorded}.")
    return list(dict.fromkeys(quantities))


def _draw(ax: Axes, history: pd.DataFrame, quantity: str, best: int | None, *, explain_best: bool) -> None:
    """Draw one quantity; ``explain_best`` labels the restored-epoch line (no figure title explains it)."""
    from matplotlib.ticker import MaxNLocator

    title, ylabel = QUANTITIES[quantity]
    epochs = history.index.to_numpy()
    columns = _columns(history, quantity)
    for i, (column, label) in enumerate(columns):
        style = "--" if label == "validation" else "-"
        ax.plot(epochs, history[column].to_numpy(), style, marker="o", markersize=3, color=OKABE_ITO[i], label=label)
    if best is not None:
        label = f"restored (epoch {best})" if explain_best else None
        ax.axvline(best, color=OKABE_ITO[7], linestyle=":", linewidth=1, label=label)
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(columns) > 1 or (explain_best and best is not None):
        ax.legend(fontsize="small", frameon=False)
