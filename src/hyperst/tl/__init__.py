"""Tools: fit HyperST, predict expression from H&E, evaluate and cross-validate."""

from __future__ import annotations

__all__: list[str] = []
