"""Helper shared by the alignment heads and the losses: clamped parameters."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["clamp_parameter_"]


def clamp_parameter_(param: nn.Parameter, low: float | None, high: float | None) -> None:
    """Clamp the stored value of ``param`` in place, out of autograd (MERU clamps its log-scales this way).

    Keeping the raw value inside the range, rather than clamping only where it is used, lets the optimiser
    move it back from a bound: a value parked beyond the bound would receive no gradient at all.

    Parameters
    ----------
    param
        The parameter to clamp.
    low
        Lower bound, or ``None``.
    high
        Upper bound, or ``None``.
    """
    with torch.no_grad():
        param.data.clamp_(min=low, max=high)
