"""The batched ``"squidpy"`` encoder against squidpy's own ``ImageContainer`` feature methods, crop by crop.

Every feature, in the same order and under the same name, to 1e-6, on random crops (with the edge cases:
constant crops, a constant channel, few grey levels, sizes that are not powers of two) and on real her2st H&E
crops (skipped without ``../shared/data/her2st``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyperst.nn.encoders import build_encoder
from hyperst.nn.encoders._squidpy_batch import summary_features, texture_features

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # the encoder's grey image, as it has always been


def squidpy_features(image: np.ndarray, bins: int) -> dict[str, float]:
    """The features of one ``(h, w, 3)`` uint8 crop through ``ImageContainer``s: the encoder's former code."""
    from squidpy.im import ImageContainer

    grey = (image.astype(np.float32) @ LUMA).astype(np.uint8)
    colour = ImageContainer(image, layer="image")
    return {
        **colour.features_summary(layer="image"),
        **colour.features_histogram(layer="image", bins=bins, v_range=(0, 255)),
        **ImageContainer(grey[..., None], layer="image").features_texture(
            layer="image", props=("contrast", "homogeneity", "correlation", "ASM"), angles=(0.0, np.pi / 2)
        ),
    }


def assert_matches_squidpy(images: np.ndarray, bins: int = 16) -> None:
    encoder = build_encoder("squidpy", input_size=images.shape[1], histogram_bins=bins)
    ours = encoder(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).double().numpy()
    batched = encoder.features(images)
    for image, row, exact in zip(images, ours, batched, strict=True):
        reference = squidpy_features(image, bins)
        assert encoder.feature_names == sorted(reference)  # same names, same order as before
        expected = np.nan_to_num(np.array([reference[name] for name in encoder.feature_names], dtype=np.float64))
        np.testing.assert_allclose(exact, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(row, expected, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize(("size", "bins"), [(8, 2), (23, 16), (64, 16), (64, 7)])
def test_random_crops_match_squidpy(size, bins):
    rng = np.random.default_rng(size + bins)
    images = rng.integers(0, 256, (7, size, size, 3), dtype=np.uint8)
    images[1] = 128  # constant: zero spread, correlation 1
    images[2, ..., 1] = 0  # one constant channel
    images[3] = (images[3] // 85) * 85  # four levels: repeated co-occurrence pairs (ASM)
    images[4] = np.clip(rng.normal(200, 20, (size, size, 1)), 0, 255).astype(np.uint8)  # grey, H&E-like values
    images[5, : size // 2] = 255  # saturated half: the histogram's closed last bin
    assert_matches_squidpy(images, bins)


def test_real_her2st_crops_match_squidpy(her2st_dir):
    import pandas as pd
    from PIL import Image

    image = Image.open(her2st_dir / "C2" / "he.jpg")
    image.draft("RGB", (image.width // 2, image.height // 2))  # decode at half resolution: faster, still real H&E
    scale = image.width / Image.open(her2st_dir / "C2" / "he.jpg").width
    pixels = np.asarray(image.convert("RGB"))
    spots = pd.read_csv(her2st_dir / "C2" / "spots.tsv", sep="\t")
    centres = (spots[["pixel_y", "pixel_x"]].to_numpy() * scale).astype(int)[:: max(1, len(spots) // 12)]
    for size in (64, 224):
        half = size // 2
        inside = [
            (y, x) for y, x in centres if half <= y < pixels.shape[0] - half and half <= x < pixels.shape[1] - half
        ]
        crops = np.stack([pixels[y - half : y - half + size, x - half : x - half + size] for y, x in inside])
        assert len(crops) >= 8 and crops.std() > 10  # tissue, not blank background
        assert_matches_squidpy(crops)


def test_kernels_cover_every_channel_and_property_like_squidpy():
    from squidpy.im import ImageContainer

    images = np.random.default_rng(0).integers(0, 256, (2, 16, 12, 3), dtype=np.uint8)
    props = ("contrast", "dissimilarity", "homogeneity", "correlation", "ASM")
    ours = texture_features(images, props=props)
    for k, image in enumerate(images):
        reference = ImageContainer(image, layer="image").features_texture(
            layer="image", props=props, angles=(0.0, np.pi / 2)
        )
        assert list(ours) == list(reference)
        np.testing.assert_allclose([ours[name][k] for name in reference], list(reference.values()), rtol=1e-9)
    with pytest.raises(ValueError, match="not supported"):
        texture_features(images, props=("entropy",))
    with pytest.raises(ValueError, match="angles must be 0 or pi/2"):
        texture_features(images, angles=(np.pi / 4,))
    with pytest.raises(TypeError, match="uint8"):
        summary_features(images.astype(np.float32))
