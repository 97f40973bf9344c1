"""A compact convolutional encoder trained end to end with the rest of the model; no download."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from hyperst.nn.encoders.base import ImageEncoder

# Mean and spread of H&E pixel values in [0, 1] (stain-agnostic ballpark); BatchNorm absorbs the rest.
_MEAN = (0.70, 0.55, 0.70)
_STD = (0.20, 0.20, 0.15)


class CNNEncoder(ImageEncoder):
    """Four conv blocks (3x3 conv, BatchNorm, ReLU, 2x2 max-pool) doubling the width, then mean and max pooling.

    Small enough to learn from a few thousand spots on a CPU. Mean pooling summarises colour and cell density;
    max pooling keeps rare, local structures (a gland, a vessel) that an average would wash out.

    Parameters
    ----------
    input_size
        Side of the (square) input crops in pixels.
    width
        Channels of the first block; each further block doubles them (capped at ``8 * width``).
    n_blocks
        Number of conv blocks; ``input_size`` must be divisible by ``2 ** n_blocks``.
    """

    name: ClassVar[str] = "cnn"

    def __init__(self, input_size: int = 64, width: int = 32, n_blocks: int = 4):
        super().__init__()
        if n_blocks < 1 or width < 1:
            raise ValueError(f"`n_blocks` and `width` must be positive, got {n_blocks} and {width}.")
        if input_size % 2**n_blocks:
            raise ValueError(f"`input_size` ({input_size}) must be divisible by 2 ** n_blocks = {2**n_blocks}.")
        self.input_size, self.width, self.n_blocks = input_size, width, n_blocks
        channels = [3] + [min(width * 2**i, 8 * width) for i in range(n_blocks)]
        self.blocks = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                )
                for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
            )
        )
        self.out_dim = 2 * channels[-1]
        self.frozen = False
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, 3, input_size, input_size)`` crops in [0, 1] to ``(batch, out_dim)`` features."""
        x = self.blocks((crops - self.mean) / self.std)
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder."""
        return {"input_size": self.input_size, "width": self.width, "n_blocks": self.n_blocks}
