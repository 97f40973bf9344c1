"""Properties of the Lorentz functions over random seeds, curvatures and both float dtypes (hypothesis)."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperst import geometry as L

DTYPES = st.sampled_from([torch.float32, torch.float64])
CURV = st.floats(min_value=0.1, max_value=10.0)
SEED = st.integers(min_value=0, max_value=2**31 - 1)
SETTINGS = settings(max_examples=40, deadline=None)


def _tangent(seed: int, dtype: torch.dtype, curv: float, max_radius: float, n: int = 16, dim: int = 6):
    """Tangent vectors with ``sqrt(curv) ||v||`` uniform in ``(0.01, max_radius)``."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    radius = 0.01 + (max_radius - 0.01) * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    return (v / v.norm(dim=-1, keepdim=True) * radius / curv**0.5).to(dtype)


def _tol(dtype: torch.dtype) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-9}


@SETTINGS
@given(seed=SEED, dtype=DTYPES, curv=CURV)
def test_exp_and_log_are_inverse(seed, dtype, curv):
    v = _tangent(seed, dtype, curv, max_radius=8.0)
    x = L.exp_map0(v, curv)
    assert x.dtype == dtype
    torch.testing.assert_close(L.log_map0(x, curv), v, **_tol(dtype))
    torch.testing.assert_close(L.exp_map0(L.log_map0(x, curv), curv), x, **_tol(dtype))


@SETTINGS
@given(seed=SEED, dtype=DTYPES, curv=CURV)
def test_exp_map_preserves_distance_from_origin(seed, dtype, curv):
    v = _tangent(seed, dtype, curv, max_radius=8.0)
    x = L.exp_map0(v, curv)
    torch.testing.assert_close(L.dist0(x, curv), v.norm(dim=-1), **_tol(dtype))
    origin = torch.zeros_like(x)
    torch.testing.assert_close(L.dist(origin, x, curv), v.norm(dim=-1), rtol=1e-3, atol=1e-3)


@SETTINGS
@given(seed=SEED, curv=CURV)
def test_mapped_points_lie_on_the_hyperboloid(seed, curv):
    x = L.exp_map0(_tangent(seed, torch.float64, curv, max_radius=6.0), curv)
    x_t = L.time_component(x, curv)
    torch.testing.assert_close(x_t**2 - (x**2).sum(-1), torch.full_like(x_t, 1 / curv), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(curv * L.inner(x, x, curv), torch.full_like(x_t, -1.0), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(seed=SEED, curv=CURV)
def test_distance_is_a_metric(seed, curv):
    x, y, z = (L.exp_map0(_tangent(seed + i, torch.float64, curv, max_radius=5.0), curv) for i in range(3))
    d_xy, d_yz, d_xz = L.dist(x, y, curv), L.dist(y, z, curv), L.dist(x, z, curv)
    torch.testing.assert_close(d_xy, L.dist(y, x, curv), rtol=1e-12, atol=1e-12)
    assert (d_xz <= d_xy + d_yz + 1e-9).all()
    assert (d_xy > 0).all()
    # Zero on the diagonal, up to the arccosh clamp ``1 + eps``: dist(x, x) <= acosh(1 + eps) / sqrt(curv).
    assert (L.dist(x, x, curv) <= math.acosh(1 + 1e-8) / curv**0.5 + 1e-9).all()
    assert (L.dist(x, x, curv, eps=1e-15) < 1e-5).all()
    pairwise = L.pairwise_dist(x, x, curv, eps=1e-15)
    torch.testing.assert_close(pairwise, pairwise.T, rtol=1e-12, atol=1e-12)
    assert (pairwise.diagonal() < 1e-5).all()


@SETTINGS
@given(seed=SEED, dtype=DTYPES, curv=CURV)
def test_half_aperture_shrinks_with_the_norm(seed, dtype, curv):
    x = L.exp_map0(_tangent(seed, dtype, curv, max_radius=6.0), curv)
    aperture = L.half_aperture(x, curv)
    assert ((aperture > 0) & (aperture < math.pi / 2)).all()
    farther = L.half_aperture(1.5 * x, curv)
    assert (farther <= aperture).all()
    # Strictly smaller outside the ball where the arcsin input is clamped.
    outside = curv**0.5 * x.norm(dim=-1) > 2 * 0.1 * 1.01
    assert (farther[outside] < aperture[outside]).all()


@SETTINGS
@given(seed=SEED, dtype=DTYPES, curv=CURV, stretch=st.floats(min_value=1.2, max_value=4.0))
def test_exterior_angle_small_on_the_ray_and_large_behind_the_origin(seed, dtype, curv, stretch):
    # Parents with sqrt(c) ||x|| in (0.3, 3): in float32 the angle formula cancels badly much farther out.
    gen = torch.Generator().manual_seed(seed)
    direction = torch.nn.functional.normalize(torch.randn(16, 6, generator=gen, dtype=torch.float64), dim=-1)
    radius = (0.3 + 2.7 * torch.rand(16, 1, generator=gen, dtype=torch.float64)) / curv**0.5
    parent = (direction * radius).to(dtype)
    aperture = L.half_aperture(parent, curv)
    # A child on the geodesic ray from the origin through its parent, beyond it (space components scale).
    beyond = L.exterior_angle(parent, stretch * parent, curv)
    assert (beyond < 0.05).all()
    assert (beyond < 0.7 * aperture).all()
    # A child on the other side of the origin: the angle is pi, far outside the cone.
    behind = L.exterior_angle(parent, -stretch * parent, curv)
    assert (behind > math.pi - 0.05).all()
    assert (behind > aperture).all()
    # A child off to the side: the angle grows with the deviation.
    side = torch.roll(parent, 1, dims=-1)
    assert (L.exterior_angle(parent, parent + 0.1 * side, curv) < L.exterior_angle(parent, parent + side, curv)).all()


@SETTINGS
@given(seed=SEED, dtype=DTYPES, curv=CURV)
def test_to_poincare_stays_in_the_unit_ball_and_keeps_distances(seed, dtype, curv):
    x = L.exp_map0(_tangent(seed, dtype, curv, max_radius=11.0), curv)
    p = L.to_poincare(x, curv)
    assert (p.norm(dim=-1) < 1).all()
    if dtype == torch.float64:
        # Unit-ball distance arccosh(1 + 2 |p - q|^2 / ((1 - |p|^2)(1 - |q|^2))) is sqrt(curv) times d(x, y).
        x_small = L.exp_map0(_tangent(seed, dtype, curv, max_radius=4.0), curv)
        p, q = L.to_poincare(x_small, curv), L.to_poincare(x_small.roll(1, dims=0), curv)
        sq = ((p - q) ** 2).sum(-1)
        ball = torch.acosh(1 + 2 * sq / ((1 - (p**2).sum(-1)) * (1 - (q**2).sum(-1))))
        expected = curv**0.5 * L.dist(x_small, x_small.roll(1, dims=0), curv)
        torch.testing.assert_close(ball, expected, rtol=1e-6, atol=1e-6)
