"""The residual MLP of HyperST: the per-stream alignment heads and the decoder are both made of it."""

from __future__ import annotations

from torch import Tensor, nn


class ResidualBlock(nn.Module):
    """Pre-norm residual block ``x + MLP(LayerNorm(x))``.

    The MLP is ``Linear(width -> hidden) -> GELU -> Dropout -> Linear(hidden -> width) -> Dropout`` (the
    ``timm`` ``Mlp`` layout; the method (docs/method.md) fixes the hidden width, GELU and the dropout rate, not where dropout
    sits).

    Parameters
    ----------
    width
        Input and output width.
    hidden_ratio
        Hidden width as a multiple of ``width`` (HyperST: 2).
    dropout
        Dropout probability (HyperST: 0.1).
    """

    def __init__(self, width: int, *, hidden_ratio: float = 2.0, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = round(width * hidden_ratio)
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, width),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Parameters
        ----------
        x
            Tensor of shape ``(..., width)``.

        Returns
        -------
        Tensor of shape ``(..., width)``.
        """
        return x + self.mlp(self.norm(x))


class ResidualMLP(nn.Module):
    """``LayerNorm -> Linear(in_features -> width) -> n_blocks x ResidualBlock -> LayerNorm`` (docs/method.md, "HCA: hierarchical contrastive alignment").

    Parameters
    ----------
    in_features
        Input width (``E`` for an alignment head, ``2E`` for the decoder on ``concat(f_Is, f_In)``).
    width
        Width of the blocks and of the output; defaults to ``in_features``.
    n_blocks
        Number of residual blocks (HyperST: 2).
    hidden_ratio
        Hidden width of each block's MLP as a multiple of ``width`` (HyperST: 2).
    dropout
        Dropout probability inside the blocks (HyperST: 0.1).
    """

    def __init__(
        self,
        in_features: int,
        width: int | None = None,
        *,
        n_blocks: int = 2,
        hidden_ratio: float = 2.0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        width = in_features if width is None else width
        if in_features < 1 or width < 1 or n_blocks < 0:
            raise ValueError(
                f"ResidualMLP needs in_features >= 1, width >= 1 and n_blocks >= 0; "
                f"got {in_features}, {width} and {n_blocks}."
            )
        self.in_features = in_features
        self.width = width
        self.input = nn.Sequential(nn.LayerNorm(in_features), nn.Linear(in_features, width))
        self.blocks = nn.Sequential(
            *(ResidualBlock(width, hidden_ratio=hidden_ratio, dropout=dropout) for _ in range(n_blocks))
        )
        self.output_norm = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP.

        Parameters
        ----------
        x
            Tensor of shape ``(..., in_features)``.

        Returns
        -------
        Tensor of shape ``(..., width)``.
        """
        return self.output_norm(self.blocks(self.input(x)))
