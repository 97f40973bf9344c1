"""The Lorentz (hyperboloid) model of hyperbolic space, as pure torch functions.

Convention, shared by every function here and by :mod:`hyperst.nn`:

- The space has constant curvature ``-curv``; ``curv > 0`` is a Python float or a 0-d tensor (it may require
  grad, so that the curvature can be learned).
- A point is stored as its *space components* ``x`` (last dimension ``D``). Its *time component*
  ``x_t = sqrt(1 / curv + ||x||^2)`` is recomputed when needed, so every stored vector lies on the upper
  sheet of the hyperboloid ``x_t^2 - ||x||^2 = 1 / curv``. The origin (the vertex) is ``x = 0``.
- Tangent vectors at the origin have time component 0 and are identified with ``R^D``.
- Leading dimensions broadcast; ``(..., D)`` means any number of them.
- Precision: float16 and bfloat16 inputs are upcast to float32 and every function runs with autocast
  disabled, so results are float32 (float64 for float64 inputs) even inside :func:`torch.autocast`.
- Stability: every input to ``sinh``, ``arccosh``, ``arcsin`` and ``arccos`` is clamped (see each function),
  so values and gradients stay finite at the origin and at large norms. ``eps`` is floored at the machine
  epsilon of the dtype wherever ``1 +/- eps`` must differ from 1 (in float32 ``1 + 1e-8 == 1``, which would
  let an infinite arccosh/arccos derivative through). Norms are computed without overflow (rescaled) and
  ``x_t`` as ``hypot(||x||, 1 / sqrt(curv))``.
- Where this differs from the formulas of docs/method.md ("The Lorentz model"), it is an identity, not a change of method:
  ``arccosh(sqrt(1 + curv ||x||^2)) = arcsinh(sqrt(curv) ||x||)`` (log map, distance to the origin) needs no
  clamp; :func:`to_poincare` returns coordinates in the *unit* ball whatever the curvature.

The formulas follow MERU (Desai et al., ICML 2023, ``meru/lorentz.py``); geoopt's
``geoopt.manifolds.lorentz.math`` (with ``k = 1 / curv`` and the time component first) is the test oracle.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hyperst.geometry._common import SINH_MAX, Curvature, floor_eps, in_float32, safe_norm, time_of

__all__ = [
    "dist",
    "dist0",
    "exp_map0",
    "exterior_angle",
    "half_aperture",
    "inner",
    "log_map0",
    "pairwise_dist",
    "pairwise_inner",
    "time_component",
    "to_poincare",
]


@in_float32
def time_component(x: Tensor, curv: Curvature) -> Tensor:
    """Time component ``x_t = sqrt(1 / curv + ||x||^2)`` of points on the hyperboloid.

    Parameters
    ----------
    x
        Space components of points, shape ``(..., D)``.
    curv
        Positive scalar; the curvature is ``-curv``.

    Returns
    -------
    Tensor of shape ``(...)``.
    """
    return time_of(x, curv)


@in_float32
def inner(x: Tensor, y: Tensor, curv: Curvature) -> Tensor:
    """Lorentz inner product ``<x, y>_L = <x, y> - x_t y_t`` of matching points.

    Parameters
    ----------
    x
        Space components, shape ``(..., D)``.
    y
        Space components, shape broadcastable with ``x``.
    curv
        Positive scalar; the curvature is ``-curv``.

    Returns
    -------
    Tensor of shape ``(...)``; at most ``-1 / curv``, with equality when ``x == y``.
    """
    return (x * y).sum(dim=-1) - time_of(x, curv) * time_of(y, curv)


@in_float32
def pairwise_inner(x: Tensor, y: Tensor, curv: Curvature) -> Tensor:
    """Lorentz inner product between every point of ``x`` and every point of ``y``.

    Parameters
    ----------
    x
        Space components, shape ``(..., N, D)``.
    y
        Space components, shape ``(..., M, D)``.
    curv
        Positive scalar; the curvature is ``-curv``.

    Returns
    -------
    Tensor of shape ``(..., N, M)``.
    """
    return x @ y.mT - time_of(x, curv, keepdim=True) @ time_of(y, curv, keepdim=True).mT


def _arccosh_distance(c_inner: Tensor, curv: Curvature, eps: float) -> Tensor:
    # ``-curv <x, y>_L >= 1`` in exact arithmetic; rounding can push it just below 1.
    argument = torch.clamp(-c_inner, min=1 + floor_eps(eps, c_inner.dtype))
    return torch.acosh(argument) / curv**0.5


@in_float32
def dist(x: Tensor, y: Tensor, curv: Curvature, *, eps: float = 1e-8) -> Tensor:
    """Geodesic distance ``arccosh(-curv <x, y>_L) / sqrt(curv)`` between matching points.

    Parameters
    ----------
    x
        Space components, shape ``(..., D)``.
    y
        Space components, shape broadcastable with ``x``.
    curv
        Positive scalar; the curvature is ``-curv``.
    eps
        The arccosh argument is clamped to ``>= 1 + eps`` (``eps`` floored at the dtype's machine epsilon),
        so ``dist(x, x)`` is about ``sqrt(2 eps) / sqrt(curv)`` rather than 0, and gradients stay finite.

    Returns
    -------
    Tensor of shape ``(...)``.
    """
    return _arccosh_distance(curv * inner(x, y, curv), curv, eps)


@in_float32
def pairwise_dist(x: Tensor, y: Tensor, curv: Curvature, *, eps: float = 1e-8) -> Tensor:
    """Geodesic distance between every point of ``x`` and every point of ``y``.

    Parameters
    ----------
    x
        Space components, shape ``(..., N, D)``.
    y
        Space components, shape ``(..., M, D)``.
    curv
        Positive scalar; the curvature is ``-curv``.
    eps
        Clamp of the arccosh argument, as in :func:`dist`.

    Returns
    -------
    Tensor of shape ``(..., N, M)``.
    """
    return _arccosh_distance(curv * pairwise_inner(x, y, curv), curv, eps)


@in_float32
def dist0(x: Tensor, curv: Curvature) -> Tensor:
    """Geodesic distance from the origin, ``arcsinh(sqrt(curv) ||x||) / sqrt(curv)``.

    Parameters
    ----------
    x
        Space components, shape ``(..., D)``.
    curv
        Positive scalar; the curvature is ``-curv``.

    Returns
    -------
    Tensor of shape ``(...)``. Equal to ``dist(x, 0)``, written with arcsinh, which needs no clamp.
    """
    return torch.asinh(curv**0.5 * safe_norm(x)) / curv**0.5


@in_float32
def exp_map0(v: Tensor, curv: Curvature, *, eps: float = 1e-8) -> Tensor:
    """Exponential map at the origin: ``x = sinh(sqrt(curv) ||v||) v / (sqrt(curv) ||v||)``.

    Parameters
    ----------
    v
        Tangent vectors at the origin, shape ``(..., D)``.
    curv
        Positive scalar; the curvature is ``-curv``.
    eps
        Lower clamp of ``sqrt(curv) ||v||`` (avoids 0 / 0 at ``v = 0``, where the map is the identity).
        The sinh argument is also clamped above at ``asinh(2**15)``, as in MERU, so ``sqrt(curv) ||x||``
        never exceeds ``2**15``.

    Returns
    -------
    Space components of the mapped points, shape ``(..., D)``.
    """
    rc_norm = curv**0.5 * safe_norm(v, keepdim=True)
    sinh_input = torch.clamp(rc_norm, min=eps, max=SINH_MAX)
    return torch.sinh(sinh_input) * v / torch.clamp(rc_norm, min=eps)


@in_float32
def log_map0(x: Tensor, curv: Curvature, *, eps: float = 1e-8) -> Tensor:
    """Logarithmic map at the origin (inverse of :func:`~hyperst.geometry.exp_map0`).

    ``v = arccosh(sqrt(1 + curv ||x||^2)) x / (sqrt(curv) ||x||)``, computed as the identical
    ``arcsinh(sqrt(curv) ||x||) x / (sqrt(curv) ||x||)``: arcsinh needs no clamp of its argument and does not
    overflow for large norms.

    Parameters
    ----------
    x
        Space components of points, shape ``(..., D)``.
    curv
        Positive scalar; the curvature is ``-curv``.
    eps
        Lower clamp of ``sqrt(curv) ||x||`` in the ratio ``arcsinh(r) / r`` (which tends to 1 at the origin).

    Returns
    -------
    Tangent vectors at the origin, shape ``(..., D)``.
    """
    rc_norm = torch.clamp(curv**0.5 * safe_norm(x, keepdim=True), min=eps)
    return torch.asinh(rc_norm) / rc_norm * x


@in_float32
def half_aperture(x: Tensor, curv: Curvature, *, min_radius: float = 0.1, eps: float = 1e-8) -> Tensor:
    """Half-aperture ``arcsin(2 K / (sqrt(curv) ||x||))`` of the entailment cone rooted at ``x``.

    Parameters
    ----------
    x
        Space components of the cone apexes, shape ``(..., D)``.
    curv
        Positive scalar; the curvature is ``-curv``.
    min_radius
        ``K`` of MERU: cones are defined outside the ball ``sqrt(curv) ||x|| > 2 K``; apexes inside it get
        the widest cone (``pi / 2``).
    eps
        Added to the denominator; the arcsin input is clamped into ``[-(1 - eps), 1 - eps]`` (``eps``
        floored at the dtype's machine epsilon).

    Returns
    -------
    Tensor of shape ``(...)`` with values in ``(0, pi / 2)``; decreasing in ``||x||``.
    """
    limit = 1 - floor_eps(eps, x.dtype)
    asin_input = 2 * min_radius / (curv**0.5 * safe_norm(x) + eps)
    return torch.asin(torch.clamp(asin_input, min=-limit, max=limit))


@in_float32
def exterior_angle(x: Tensor, y: Tensor, curv: Curvature, *, eps: float = 1e-8) -> Tensor:
    """Exterior angle at ``x`` of the triangle (origin, ``x``, ``y``), by the hyperbolic law of cosines.

    ``ext(x, y) = arccos((y_t + x_t curv <x, y>_L) / (||x|| sqrt((curv <x, y>_L)^2 - 1)))``: 0 when ``y``
    lies on the geodesic ray from the origin through ``x`` (beyond ``x``), ``pi`` when it lies on the way
    back to the origin. ``y`` is inside the cone of ``x`` when ``ext(x, y) <= half_aperture(x)``.

    Parameters
    ----------
    x
        Space components of the parents (cone apexes), shape ``(..., D)``.
    y
        Space components of the children, shape broadcastable with ``x``.
    curv
        Positive scalar; the curvature is ``-curv``.
    eps
        Lower clamp of ``(curv <x, y>_L)^2 - 1``, added to the denominator, and the arccos input is clamped
        into ``[-(1 - eps), 1 - eps]`` (``eps`` floored at the dtype's machine epsilon).

    Returns
    -------
    Tensor of shape ``(...)`` with values in ``(0, pi)``.
    """
    x_time, y_time = time_of(x, curv), time_of(y, curv)
    c_inner = curv * ((x * y).sum(dim=-1) - x_time * y_time)
    numerator = y_time + c_inner * x_time
    denominator = safe_norm(x) * torch.sqrt(torch.clamp(c_inner**2 - 1, min=eps)) + eps
    limit = 1 - floor_eps(eps, numerator.dtype)
    return torch.acos(torch.clamp(numerator / denominator, min=-limit, max=limit))


@in_float32
def to_poincare(x: Tensor, curv: Curvature) -> Tensor:
    """Map points to the unit Poincaré ball: ``sqrt(curv) x / (1 + sqrt(curv) x_t)``.

    The ball is rescaled to radius 1 whatever the curvature (distances in it are ``sqrt(curv)`` times the
    hyperboloid distances), which is what a plot of the embeddings needs.

    Parameters
    ----------
    x
        Space components of points, shape ``(..., D)``.
    curv
        Positive scalar; the curvature is ``-curv``.

    Returns
    -------
    Tensor of shape ``(..., D)`` with norms below 1 (the origin maps to 0; rounding may reach 1 only for
    ``sqrt(curv) ||x||`` beyond about ``1 / eps`` of the dtype, i.e. past what :func:`~hyperst.geometry.exp_map0` produces).
    """
    rc = curv**0.5
    return rc * x / (1 + rc * time_of(x, curv, keepdim=True))
