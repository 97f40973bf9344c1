"""Renamed public names keep working for one release, with a deprecation warning that names the new one."""

from __future__ import annotations

import pytest


def test_the_head_s_old_name():
    import hyperst.module

    with pytest.warns(DeprecationWarning, match="HyperSTHead"):
        old = hyperst.module.HyperSTModule
    assert old is hyperst.module.HyperSTHead
    with pytest.raises(AttributeError):
        hyperst.module.NoSuchThing  # noqa: B018


def test_the_network_s_old_name(toy_model):
    with pytest.warns(DeprecationWarning, match="HyperST.network"):
        old = toy_model.module
    assert old is toy_model.network is toy_model.members[0]
