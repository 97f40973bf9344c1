"""The expression scale HyperST predicts and is scored on, written once: ``log2(1 + count)``."""

from __future__ import annotations

from typing import Any

import numpy as np


def log2p(counts: Any) -> Any:
    """``log2(1 + counts)``: float32 for numpy input; torch tensors stay tensors (on their device)."""
    if hasattr(counts, "log2"):  # a torch tensor: keep it on its device and in autograd
        return (counts + 1).log2()
    return np.log2(1 + np.asarray(counts, dtype=np.float32))
