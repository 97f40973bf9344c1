"""``no_autocast``: the geometry always runs in float32, and costs nothing extra when autocast is already off."""

from __future__ import annotations

import contextlib

import torch

from hyperst.geometry import lorentz
from hyperst.geometry._common import no_autocast


def test_no_autocast_disables_an_active_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with no_autocast("cpu"):
            assert not torch.is_autocast_enabled("cpu")
        assert torch.is_autocast_enabled("cpu")


def test_no_autocast_is_a_null_context_when_autocast_is_off():
    assert isinstance(no_autocast("cpu"), contextlib.nullcontext)


def test_geometry_under_autocast_returns_float32():
    x = torch.randn(4, 8, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert lorentz.exp_map0(x, 1.0).dtype == torch.float32
