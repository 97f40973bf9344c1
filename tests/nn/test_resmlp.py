"""ResidualMLP: LayerNorm -> Linear -> n x [x + MLP(LayerNorm(x))] -> LayerNorm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperst.nn import ResidualBlock, ResidualMLP


def test_shapes_and_layout():
    mlp = ResidualMLP(12, 8, n_blocks=3, hidden_ratio=2.0, dropout=0.1)
    assert mlp(torch.randn(5, 12)).shape == (5, 8)
    assert len(mlp.blocks) == 3
    hidden = mlp.blocks[0].mlp
    assert [type(m) for m in hidden] == [nn.Linear, nn.GELU, nn.Dropout, nn.Linear, nn.Dropout]
    assert hidden[0].out_features == 16 and hidden[2].p == 0.1
    assert ResidualMLP(6).width == 6


def test_block_is_residual():
    block = ResidualBlock(4)
    x = torch.randn(3, 4)
    nn.init.zeros_(block.mlp[3].weight)
    nn.init.zeros_(block.mlp[3].bias)
    torch.testing.assert_close(block(x), x)  # a zero MLP leaves the input untouched
    nn.init.normal_(block.mlp[3].weight)
    assert not torch.allclose(block(x), x)


def test_output_is_layer_normalised():
    mlp = ResidualMLP(10, 6).eval()
    out = mlp(100 * torch.randn(7, 10))
    torch.testing.assert_close(out.mean(-1), torch.zeros(7), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(7), atol=1e-3, rtol=0)


def test_dropout_only_in_training():
    mlp = ResidualMLP(8, dropout=0.5)
    x = torch.randn(4, 8)
    mlp.eval()
    torch.testing.assert_close(mlp(x), mlp(x))
    mlp.train()
    torch.manual_seed(0)
    assert not torch.allclose(mlp(x), mlp(x))


@pytest.mark.parametrize(("args", "kwargs"), [((0,), {}), ((4, 0), {}), ((4,), {"n_blocks": -1})])
def test_bad_sizes_raise(args, kwargs):
    with pytest.raises(ValueError, match="ResidualMLP needs"):
        ResidualMLP(*args, **kwargs)
