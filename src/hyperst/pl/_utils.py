"""What every plot shares: the axes it draws on and how it ends (``ax``, ``show``, ``save``, ``return_fig``).

Like scanpy, a plot draws on a new figure or on the caller's ``ax``; it then saves, shows and returns the same way
everywhere. One place for it, so the four options behave identically in every ``hst.pl`` function.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Okabe–Ito colours (colour-blind safe), in the order the embedding levels and categories use them.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: Sequential colour map for expression (perceptually uniform, colour-blind safe).
EXPRESSION_CMAP = "viridis"
#: Diverging colour map for residuals (centred at 0).
RESIDUAL_CMAP = "RdBu_r"
# Uncertainty: the sd on a sequential map distinct from expression, the OOD score from white (typical) to red.
SD_CMAP = "magma_r"
OOD_CMAP = "Reds"


def new_axes(ax: Axes | None, figsize: tuple[float, float] | None) -> tuple[Figure, Axes]:
    """Return the caller's ``ax`` and its figure, or a new figure with one axes of ``figsize``."""
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def finish(
    fig: Figure, *, show: bool | None, save: str | Path | None, return_fig: bool, own_figure: bool
) -> Figure | None:
    """Save, show and return a finished figure as every ``hst.pl`` function does.

    Parameters
    ----------
    fig
        The finished figure.
    show
        Show the figure; ``None`` shows it unless it is returned or drawn on the caller's axes.
    save
        Write the figure to this path (format from the suffix) before showing it.
    return_fig
        Return the figure instead of ``None``.
    own_figure
        Whether the plot created ``fig`` (it did not draw on the caller's ``ax``).
    """
    import matplotlib.pyplot as plt

    if save is not None:
        fig.savefig(Path(save), bbox_inches="tight", dpi=150)
    if show is None:
        show = own_figure and not return_fig
    if show:
        plt.show()
    if return_fig:
        return fig
    if own_figure and not show:
        plt.close(fig)  # nobody holds it: leaving it open would leak figures in loops and notebooks
    return None
