"""Private helpers of :mod:`hyperst.geometry.lorentz`: float32 and autocast guards, safe norms, the time component."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

Curvature = float | Tensor
_F = TypeVar("_F", bound=Callable[..., Tensor])
SINH_MAX = math.asinh(2**15)  # MERU's bound on the sinh argument of the exponential map


def upcast(value: Any) -> Any:
    """Return float16 / bfloat16 tensors as float32, anything else unchanged."""
    if isinstance(value, Tensor) and value.dtype in (torch.float16, torch.bfloat16):
        return value.float()
    return value


def no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Context that disables autocast on ``device_type`` (a no-op where autocast does not exist or is off).

    Entering ``torch.autocast`` costs about 10x a null context, and the geometry runs it on every call: skip it
    whenever autocast is off anyway, as in every float32 fit and prediction.
    """
    is_available = getattr(torch.amp, "is_autocast_available", None)
    if (is_available is not None and not is_available(device_type)) or not torch.is_autocast_enabled(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type, enabled=False)


def in_float32(func: _F) -> _F:
    """Decorate a Lorentz function: run ``func`` with half-precision tensors upcast to float32 and autocast disabled."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Tensor:
        args = tuple(upcast(a) for a in args)
        kwargs = {key: upcast(v) for key, v in kwargs.items()}
        curv = kwargs["curv"] if "curv" in kwargs else args[-1]
        if not isinstance(curv, Tensor) and curv <= 0:
            raise ValueError(f"`curv` must be positive (the curvature is -curv), got {curv}.")
        device_type = next((a.device.type for a in (*args, *kwargs.values()) if isinstance(a, Tensor)), "cpu")
        with no_autocast(device_type):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def floor_eps(eps: float, dtype: torch.dtype) -> float:
    """``eps``, raised to the dtype's machine epsilon so that ``1 - eps`` and ``1 + eps`` differ from 1."""
    return max(eps, torch.finfo(dtype).eps)


def safe_norm(x: Tensor, keepdim: bool = False) -> Tensor:
    """Euclidean norm over the last dimension that does not overflow when ``||x||^2`` would."""
    scale = x.detach().abs().amax(dim=-1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)
    result = scale * torch.linalg.vector_norm(x / scale, dim=-1, keepdim=True)
    return result if keepdim else result.squeeze(-1)


def time_of(x: Tensor, curv: Curvature, keepdim: bool = False) -> Tensor:
    """Time component ``sqrt(1 / curv + ||x||^2)``, as ``hypot`` so that it does not overflow."""
    radius = curv**-0.5 if isinstance(curv, Tensor) else torch.tensor(curv**-0.5, dtype=x.dtype, device=x.device)
    return torch.hypot(safe_norm(x, keepdim=keepdim), radius.to(x.dtype))
