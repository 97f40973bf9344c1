"""Crop augmentations applied the same way to a spot's crop and its niche crop: dihedral symmetries, stain jitter."""

from __future__ import annotations

import torch

N_DIHEDRAL = 8


def dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 symmetries of the square on ``(..., H, W)``: ``k % 4`` quarter turns, then a flip if ``k >= 4``."""
    if not 0 <= k < N_DIHEDRAL:
        raise ValueError(f"`k` must be in [0, {N_DIHEDRAL}), got {k}.")
    image = torch.rot90(image, k % 4, dims=(-2, -1))
    return torch.flip(image, dims=(-1,)) if k >= 4 else image


def stain_jitter(images: list[torch.Tensor], sigma: float) -> list[torch.Tensor]:
    """Perturb the haematoxylin, eosin and DAB densities of uint8 ``(3, H, W)`` crops by one random draw.

    Tellez et al.'s HED augmentation (Med. Image Anal. 2019): in the colour-deconvolved (Ruifrok-Johnston) space, each stain's density ``s`` becomes ``a * s + b`` with ``a ~ U(1 - sigma,
    1 + sigma)`` and ``b ~ U(-sigma, sigma)``; the same ``a, b`` apply to every crop given (a spot and its niche
    come from one slide). Draws use torch's global RNG, seeded per DataLoader worker. No library offers this on
    tensors (squidpy's stain functions normalise whole images to a reference), hence the few lines here.
    """
    from hyperst.data._views import hed_shift

    scale = 1 + (torch.rand(3) * 2 - 1).numpy() * sigma
    shift = (torch.rand(3) * 2 - 1).numpy() * sigma
    return [
        torch.from_numpy(hed_shift(image.permute(1, 2, 0).numpy(), scale, shift)).permute(2, 0, 1).contiguous()
        for image in images
    ]
