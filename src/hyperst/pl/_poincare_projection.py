"""Hyperbolic embeddings on the 2-D Poincaré disk, in pure numpy: the projection and the disk's geodesics.

Points come as Lorentz space components with curvature ``-curv`` (the convention of :mod:`hyperst.geometry`).
The projection keeps what the hierarchy is read from, each point's hyperbolic distance from the origin, exactly:

1. the log map at the origin sends ``x`` to a tangent vector ``v`` with ``||v|| = d(0, x)``;
2. one PCA about the origin (the base point of the tangent space, so no centring) of all tangent vectors gives two
   principal directions, shared by every set of points projected with them;
3. a point's angle on the disk is that of ``v`` projected onto the two directions; its radius in the unit disk is
   ``tanh(sqrt(curv) d(0, x) / 2)``, the radius at which the disk's distance from the centre equals ``d(0, x)``.

Only the angles between points are approximated (by the projection); distances from the origin are not.
Disk coordinates are those of the *unit* disk whatever the curvature, as :func:`hyperst.geometry.to_poincare`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def dist0(x: np.ndarray, curv: float) -> np.ndarray:
    """Hyperbolic distance from the origin, ``arcsinh(sqrt(curv) ||x||) / sqrt(curv)``.

    Parameters
    ----------
    x
        Lorentz space components, shape ``(n, D)``.
    curv
        Positive curvature parameter (the curvature is ``-curv``).

    Returns
    -------
    Distances, shape ``(n,)``, float64.
    """
    rc = np.sqrt(curv)
    return np.arcsinh(rc * np.linalg.norm(np.asarray(x, dtype=np.float64), axis=-1)) / rc


def log_map0(x: np.ndarray, curv: float) -> np.ndarray:
    """Logarithmic map at the origin: tangent vectors of length ``d(0, x)`` pointing along ``x``.

    Parameters
    ----------
    x
        Lorentz space components, shape ``(n, D)``.
    curv
        Positive curvature parameter.

    Returns
    -------
    Tangent vectors at the origin, shape ``(n, D)``, float64 (the origin maps to 0).
    """
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    scale = np.divide(dist0(x, curv)[:, None], norm, out=np.ones_like(norm), where=norm > 0)
    return scale * x


def principal_axes(vectors: np.ndarray) -> np.ndarray:
    """Return the two leading principal directions of tangent vectors at the origin, with a deterministic sign.

    PCA about the origin (no centring: the origin is the base point of the tangent space). Each direction's sign
    makes the score of largest magnitude positive, so the result does not depend on the solver's arbitrary signs,
    on the order of the rows, or on a sign flip of all inputs.

    Parameters
    ----------
    vectors
        Tangent vectors, shape ``(n, D)`` with ``n >= 1``.

    Returns
    -------
    Orthonormal directions as columns, shape ``(D, 2)`` (a zero column where the data span fewer than two).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    # Eigenvectors of the D x D second-moment matrix: the right singular vectors, far cheaper than an SVD of n x D.
    eigenvalues, eigenvectors = np.linalg.eigh(vectors.T @ vectors)
    order = np.argsort(eigenvalues)[::-1][:2]
    axes = np.zeros((vectors.shape[1], 2))
    for i, j in enumerate(order):
        if eigenvalues[j] <= eigenvalues[order[0]] * np.finfo(np.float64).eps * max(vectors.shape):
            break  # the data span fewer dimensions: no direction to take
        scores = vectors @ eigenvectors[:, j]
        axes[:, i] = eigenvectors[:, j] * (1.0 if scores[np.argmax(np.abs(scores))] >= 0 else -1.0)
    return axes


def to_disk(x: np.ndarray, curv: float, axes: np.ndarray) -> np.ndarray:
    """Place points on the unit Poincaré disk at their true distance from the origin, in the plane of ``axes``.

    Parameters
    ----------
    x
        Lorentz space components, shape ``(n, D)``.
    curv
        Positive curvature parameter.
    axes
        Two directions of the tangent space (:func:`principal_axes`), shape ``(D, 2)``.

    Returns
    -------
    Unit-disk coordinates, shape ``(n, 2)``, with radius ``tanh(sqrt(curv) d(0, x) / 2)``. A point whose tangent
    vector is orthogonal to both axes has no angle in the plane and is put on the first axis.
    """
    return _place(log_map0(x, curv), curv, axes)


def _place(tangent: np.ndarray, curv: float, axes: np.ndarray) -> np.ndarray:
    planar = tangent @ axes
    length = np.linalg.norm(planar, axis=1, keepdims=True)
    direction = np.divide(planar, length, out=np.tile([1.0, 0.0], (len(planar), 1)), where=length > 0)
    radius = np.tanh(np.sqrt(curv) * np.linalg.norm(tangent, axis=1, keepdims=True) / 2)
    return radius * direction


def poincare_projection(levels: Mapping[str, np.ndarray], curv: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Project several sets of Lorentz points onto one shared 2-D Poincaré disk.

    Parameters
    ----------
    levels
        Name -> Lorentz space components, shape ``(n_i, D)`` (same ``D`` for all).
    curv
        Positive curvature parameter.

    Returns
    -------
    Name -> unit-disk coordinates of shape ``(n_i, 2)``, and the shared principal directions ``(D, 2)`` (to place
    more points in the same frame with :func:`to_disk`).
    """
    if not curv > 0:
        raise ValueError(f"The curvature parameter must be positive; got {curv}.")
    arrays = {name: np.asarray(x, dtype=np.float64) for name, x in levels.items()}
    if not arrays or sum(len(x) for x in arrays.values()) == 0:
        raise ValueError("No points to project.")
    if len({x.shape[1] for x in arrays.values()}) != 1:
        raise ValueError(f"All levels need the same dimension; got { {k: x.shape for k, x in arrays.items()} }.")
    tangents = {name: log_map0(x, curv) for name, x in arrays.items()}
    axes = principal_axes(np.concatenate(list(tangents.values())))
    return {name: _place(v, curv, axes) for name, v in tangents.items()}, axes


def half_aperture(x: np.ndarray, curv: float, k: float) -> np.ndarray:
    """Half-aperture ``arcsin(2 K / (sqrt(curv) ||x||))`` of the entailment cones rooted at ``x``.

    Inside the ball ``sqrt(curv) ||x|| <= 2 K`` it is ``pi / 2``, MERU's widest cone.

    Parameters
    ----------
    x
        Lorentz space components of the apexes, shape ``(n, D)``.
    curv
        Positive curvature parameter.
    k
        ``K`` of the cone (``entailment_k`` of the model's configuration).

    Returns
    -------
    Angles in radians, shape ``(n,)``.
    """
    norm = np.sqrt(curv) * np.linalg.norm(np.asarray(x, dtype=np.float64), axis=-1)
    ratio = np.divide(2 * k, norm, out=np.ones_like(norm), where=norm > 0)
    return np.arcsin(np.minimum(ratio, 1.0))


def geodesic_ray(start: np.ndarray, angle: float, *, n: int = 64) -> np.ndarray:
    """Return the geodesic of the unit Poincaré disk leaving ``start`` at ``angle`` (radians from the x axis).

    Möbius addition ``start (+) s e^(i angle)``, ``s`` in ``[0, 1]``: its derivative at ``s = 0`` is a positive
    multiple of ``e^(i angle)`` (the disk is conformal), so the ray leaves ``start`` in exactly that direction.

    Parameters
    ----------
    start
        Point of the unit disk, shape ``(2,)``.
    angle
        Direction of the ray at ``start``.
    n
        Number of points along the ray.

    Returns
    -------
    Points of the ray, shape ``(n, 2)``; the last one is on the unit circle.
    """
    p = complex(start[0], start[1])
    z = np.linspace(0.0, 1.0, n) * np.exp(1j * angle)
    w = (p + z) / (1 + np.conj(p) * z)
    return np.column_stack([w.real, w.imag])


def geodesic_segment(a: np.ndarray, b: np.ndarray, *, n: int = 32) -> np.ndarray:
    """Return the geodesic of the unit Poincaré disk from ``a`` to ``b``.

    Parameters
    ----------
    a
        Start point, shape ``(2,)``.
    b
        End point, shape ``(2,)``.
    n
        Number of points along the segment.

    Returns
    -------
    Points of the segment, shape ``(n, 2)``, from ``a`` to ``b``.
    """
    p, q = complex(a[0], a[1]), complex(b[0], b[1])
    w = (q - p) / (1 - np.conj(p) * q)  # b seen from a moved to the centre, where geodesics are straight
    z = np.linspace(0.0, 1.0, n) * w
    back = (p + z) / (1 + np.conj(p) * z)
    return np.column_stack([back.real, back.imag])


def cone_outline(apex: np.ndarray, aperture: float, *, n: int = 64) -> np.ndarray:
    """Outline of the entailment cone at ``apex`` on the unit disk.

    The two geodesic rays at ``+/- aperture`` from the outward radial direction, closed by the arc of the unit circle
    between their ends (on the outward side).

    Parameters
    ----------
    apex
        Apex in the unit disk, shape ``(2,)`` (at the centre, the outward direction is the x axis).
    aperture
        Half-aperture in radians.
    n
        Points per ray and on the arc.

    Returns
    -------
    Closed polygon, shape ``(3 n, 2)``: ray at ``-aperture``, the arc, ray at ``+aperture`` back to the apex.
    """
    outward = float(np.arctan2(apex[1], apex[0])) if np.hypot(*apex) > 0 else 0.0
    right = geodesic_ray(apex, outward - aperture, n=n)
    left = geodesic_ray(apex, outward + aperture, n=n)
    start = np.arctan2(right[-1, 1], right[-1, 0])
    sweep = (np.arctan2(left[-1, 1], left[-1, 0]) - start) % (2 * np.pi)
    if sweep > 1.5 * np.pi:  # the true sweep is at most pi: a near-zero aperture wrapped around by rounding
        sweep = 0.0
    arc = start + np.linspace(0.0, sweep, n)
    return np.concatenate([right, np.column_stack([np.cos(arc), np.sin(arc)]), left[::-1]])
