"""Finite values and gradients at the origin and at large norms; float32 maths under half precision."""

from __future__ import annotations

import math

import pytest
import torch

from hyperst import geometry as L

DTYPES = (torch.float32, torch.float64)
ONE_POINT = {
    "exp_map0": L.exp_map0,
    "log_map0": L.log_map0,
    "dist0": L.dist0,
    "half_aperture": L.half_aperture,
    "to_poincare": L.to_poincare,
    "time_component": L.time_component,
}
TWO_POINTS = {
    "inner": L.inner,
    "dist": L.dist,
    "pairwise_dist": L.pairwise_dist,
    "pairwise_inner": L.pairwise_inner,
    "exterior_angle": L.exterior_angle,
}


def _value_and_grad(func, *inputs):
    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = func(*inputs, 1.0)
    grads = torch.autograd.grad(out.sum(), inputs, allow_unused=True)
    return out, [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads, strict=True)]


def _assert_finite(out, grads):
    assert torch.isfinite(out).all(), out
    for grad in grads:
        assert torch.isfinite(grad).all(), grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ONE_POINT))
@pytest.mark.parametrize("scale", [0.0, 1e-12, 1e6, 1e30])
def test_one_point_functions_finite(name, dtype, scale):
    x = torch.full((3, 5), scale, dtype=dtype)
    _assert_finite(*_value_and_grad(ONE_POINT[name], x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(TWO_POINTS))
@pytest.mark.parametrize(("scale_x", "scale_y"), [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1e6, 1e6), (1e6, -1e6)])
def test_two_point_functions_finite(name, dtype, scale_x, scale_y):
    x = torch.full((3, 5), scale_x, dtype=dtype)
    y = torch.full((3, 5), scale_y, dtype=dtype)
    y[:, 0] += 0.5 * scale_y  # not parallel to x, except at the origin
    _assert_finite(*_value_and_grad(TWO_POINTS[name], x, y))
    _assert_finite(*_value_and_grad(TWO_POINTS[name], x, x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_maps_are_the_identity_near_the_origin(dtype):
    for func in (L.exp_map0, L.log_map0):
        out, (grad,) = _value_and_grad(func, torch.zeros(2, 4, dtype=dtype))
        assert (out == 0).all()
        torch.testing.assert_close(grad, torch.ones_like(grad))  # Jacobian is the identity at v = 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_map0_clamps_huge_tangents_onto_a_finite_point(dtype):
    v = torch.tensor([[3e30, 4e30], [1e4, 0.0]], dtype=dtype)
    for curv in (0.1, 1.0, 10.0):
        x = L.exp_map0(v, curv)
        torch.testing.assert_close(curv**0.5 * x.norm(dim=-1), torch.full((2,), 2.0**15, dtype=dtype))
        torch.testing.assert_close(x[0] / x[0].norm(), torch.tensor([0.6, 0.8], dtype=dtype))


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_computed_in_float32(half):
    gen = torch.Generator().manual_seed(0)
    x, y = (0.5 * torch.randn(6, 8, generator=gen)).to(half), (0.5 * torch.randn(5, 8, generator=gen)).to(half)
    got = L.pairwise_dist(x, y, 1.0)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, L.pairwise_dist(x.float(), y.float(), 1.0))
    assert L.exp_map0(x, 1.0).dtype == torch.float32
    assert L.exterior_angle(x, x * 2, 1.0).dtype == torch.float32


def test_autocast_does_not_lower_the_precision():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 32, generator=gen), torch.randn(16, 32, generator=gen)
    expected = L.pairwise_dist(x, y, 1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (x @ y.T).dtype == torch.bfloat16  # autocast is active for matmuls outside the geometry
        got = L.pairwise_dist(x, y, 1.0)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)


def test_curvature_can_be_a_learnable_tensor():
    log_curv = torch.tensor(math.log(2.0), requires_grad=True)
    gen = torch.Generator().manual_seed(2)
    x = L.exp_map0(torch.randn(4, 3, generator=gen), log_curv.exp())
    loss = L.pairwise_dist(x, x.flip(0), log_curv.exp()).sum() + L.half_aperture(x, log_curv.exp()).sum()
    (grad,) = torch.autograd.grad(loss, log_curv)
    assert torch.isfinite(grad) and grad != 0


@pytest.mark.parametrize("curv", [0.0, -1.0])
def test_non_positive_curvature_raises(curv):
    with pytest.raises(ValueError, match="`curv` must be positive"):
        L.dist(torch.zeros(2), torch.zeros(2), curv)
    with pytest.raises(ValueError, match="`curv` must be positive"):
        L.exp_map0(torch.zeros(2), curv=curv)
