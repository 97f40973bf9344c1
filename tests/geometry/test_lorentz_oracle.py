"""hyperst.geometry.lorentz against geoopt (k = 1 / curv, time component first), in float64."""

from __future__ import annotations

import warnings

import pytest
import torch

from hyperst import geometry as L

with warnings.catch_warnings():  # geoopt decorates its maths with the deprecated torch.jit.script
    warnings.simplefilter("ignore", DeprecationWarning)
    from geoopt.manifolds.lorentz import Lorentz

SEEDS = range(5)
CURVS = (0.1, 0.7, 1.0, 3.0, 10.0)


def _points(seed: int, n: int = 32, dim: int = 8, max_norm: float = 4.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    radius = max_norm * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True) * radius


def _manifold(curv: float) -> Lorentz:
    return Lorentz(k=torch.tensor(1 / curv, dtype=torch.float64))


def _ambient(x: torch.Tensor, curv: float) -> torch.Tensor:
    """Full hyperboloid coordinates (time first), as geoopt stores them."""
    return torch.cat([L.time_component(x, curv).unsqueeze(-1), x], dim=-1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("curv", CURVS)
def test_points_lie_on_geoopt_hyperboloid(seed, curv):
    manifold = _manifold(curv)
    manifold.assert_check_point_on_manifold(_ambient(_points(seed), curv), atol=1e-9, rtol=1e-9)
    off_manifold = _ambient(_points(seed), curv) * 1.01
    assert not manifold.check_point_on_manifold(off_manifold, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("curv", CURVS)
def test_inner_matches_geoopt(seed, curv):
    x, y = _points(seed), _points(seed + 100)
    expected = _manifold(curv).inner(None, _ambient(x, curv), _ambient(y, curv))
    torch.testing.assert_close(L.inner(x, y, curv), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(L.inner(x, x, curv), torch.full((len(x),), -1 / curv, dtype=x.dtype))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("curv", CURVS)
def test_dist_matches_geoopt(seed, curv):
    x, y = _points(seed), _points(seed + 100)
    expected = _manifold(curv).dist(_ambient(x, curv), _ambient(y, curv))
    torch.testing.assert_close(L.dist(x, y, curv), expected, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("curv", CURVS)
def test_pairwise_dist_matches_geoopt(seed, curv):
    x, y = _points(seed, n=7), _points(seed + 100, n=5)
    manifold = _manifold(curv)
    expected = manifold.dist(_ambient(x, curv)[:, None], _ambient(y, curv)[None])
    torch.testing.assert_close(L.pairwise_dist(x, y, curv), expected, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(L.pairwise_inner(x, y, curv), L.inner(x[:, None], y[None], curv))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("curv", CURVS)
def test_dist0_matches_geoopt(seed, curv):
    x = _points(seed)
    expected = _manifold(curv).dist0(_ambient(x, curv))
    torch.testing.assert_close(L.dist0(x, curv), expected, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("curv", CURVS)
def test_exp_map0_matches_geoopt(seed, curv):
    v = _points(seed, max_norm=6.0 / curv**0.5)
    tangent = torch.cat([torch.zeros_like(v[:, :1]), v], dim=-1)
    expected = _manifold(curv).expmap0(tangent)
    x = L.exp_map0(v, curv)
    torch.testing.assert_close(x, expected[:, 1:], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(L.time_component(x, curv), expected[:, 0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("curv", CURVS)
def test_log_map0_matches_geoopt(seed, curv):
    x = _points(seed)
    expected = _manifold(curv).logmap0(_ambient(x, curv))
    torch.testing.assert_close(L.log_map0(x, curv), expected[:, 1:], rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(expected[:, 0], torch.zeros_like(expected[:, 0]), atol=1e-7, rtol=0)
