"""Torch dataset, dihedral augmentation, crop cache and frozen-encoder features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyperst.data import CropCache, SpotDataset, dihedral, encode_crops, extract_crops

SIZE = 16


@pytest.fixture(scope="module")
def cache(toy_spots):
    return CropCache(toy_spots, size=SIZE)


def test_items(toy_spots, cache):
    dataset = SpotDataset(toy_spots, [3, 10, 200], size=SIZE, cache=cache)
    assert len(dataset) == 3
    spot, niche, genes, niche_genes = dataset[1]
    assert spot.shape == niche.shape == (3, SIZE, SIZE) and spot.dtype == torch.float32
    assert 0.0 <= spot.min() and spot.max() <= 1.0
    np.testing.assert_allclose(spot.numpy() * 255, cache.spot[10], atol=1e-3)
    np.testing.assert_array_equal(genes.numpy(), toy_spots.counts[10])
    np.testing.assert_array_equal(niche_genes.numpy(), toy_spots.niche_counts[10])
    raw = SpotDataset(toy_spots, [10], size=SIZE, cache=cache, as_float=False)[0][0]
    assert raw.dtype == torch.uint8
    uncached = SpotDataset(toy_spots, [10], size=SIZE)[0]  # read from the image per item
    np.testing.assert_allclose(uncached[1].numpy(), niche.numpy())
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=3)))
    assert [tuple(t.shape) for t in batch] == [(3, 3, SIZE, SIZE)] * 2 + [(3, len(toy_spots.genes))] * 2


def test_dihedral_group():
    image = torch.arange(2 * 4 * 4).reshape(2, 4, 4)
    outputs = [dihedral(image, k) for k in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outputs}) == 8  # 8 distinct symmetries
    assert torch.equal(dihedral(dihedral(image, 4), 4), image)  # a flip undoes itself
    assert torch.equal(dihedral(dihedral(dihedral(dihedral(image, 1), 1), 1), 1), image)
    with pytest.raises(ValueError, match="k"):
        dihedral(image, 8)


def test_augmentation_transforms_both_crops_alike(toy_spots, cache):
    class Twin:  # a cache whose niche crops are the spot crops: any mismatch in transforms shows
        spot = niche = cache.spot
        size = SIZE

        def __len__(self):
            return len(cache)

    dataset = SpotDataset(toy_spots, size=SIZE, cache=Twin(), augment=True)
    torch.manual_seed(0)
    seen = set()
    for i in range(40):
        spot, niche, _, _ = dataset[i]
        assert torch.equal(spot, niche)
        base = torch.from_numpy(cache.spot[i]).float() / 255
        matches = [k for k in range(8) if torch.equal(dihedral(base, k), spot)]
        assert matches
        seen.add(matches[0])
    assert len(seen) >= 5  # the transform is random


def test_cache_on_disk_is_reused(toy_spots, cache, tmp_path, monkeypatch):
    on_disk = CropCache(toy_spots, size=SIZE, directory=tmp_path)
    assert isinstance(on_disk.spot, np.memmap)
    np.testing.assert_array_equal(on_disk.spot, cache.spot)
    np.testing.assert_array_equal(on_disk.niche, cache.niche)

    def fail(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr("hyperst.data._cache.extract_crops", fail)
    again = CropCache(toy_spots, size=SIZE, directory=tmp_path)  # same spots: files reused, nothing decoded
    np.testing.assert_array_equal(again.niche, cache.niche)
    with pytest.raises(AssertionError, match="decoded again"):
        CropCache(toy_spots, size=SIZE + 1, directory=tmp_path)  # another size: not reused


def test_dataset_checks(toy_spots, cache):
    with pytest.raises(ValueError, match="cache"):
        SpotDataset(toy_spots, size=SIZE + 2, cache=cache)
    with pytest.raises(IndexError):
        SpotDataset(toy_spots, [toy_spots.n_spots], size=SIZE)
    features = (np.zeros((toy_spots.n_spots, 4)), np.zeros((toy_spots.n_spots, 4)))
    with pytest.raises(ValueError, match="augment"):
        SpotDataset(toy_spots, size=SIZE, features=features, augment=True)
    with pytest.raises(ValueError, match="features"):
        SpotDataset(toy_spots, size=SIZE, features=(features[0][:3], features[1]))


def test_encode_crops_once(toy_spots, cache):
    class MeanColour(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    encoder = MeanColour().train()
    spot_features, niche_features = encode_crops(toy_spots, encoder, size=SIZE, batch_size=50)
    assert encoder.training  # mode restored
    assert spot_features.shape == (toy_spots.n_spots, 3) and spot_features.dtype == np.float32
    np.testing.assert_allclose(spot_features, cache.spot.mean(axis=(2, 3)) / 255, atol=1e-5)
    np.testing.assert_allclose(niche_features, cache.niche.mean(axis=(2, 3)) / 255, atol=1e-5)
    from_cache = encode_crops(toy_spots, lambda x: x.mean(dim=(2, 3)), size=SIZE, cache=cache)
    np.testing.assert_allclose(from_cache[0], spot_features, atol=1e-6)
    dataset = SpotDataset(toy_spots, [4], size=SIZE, features=(spot_features, niche_features))
    spot, niche, genes, _ = dataset[0]
    np.testing.assert_allclose(spot.numpy(), spot_features[4])
    with pytest.raises(TypeError, match="encoder"):
        encode_crops(toy_spots, lambda x: x, size=SIZE, cache=cache)


def test_extract_matches_cache(toy_spots, cache):
    np.testing.assert_array_equal(extract_crops(toy_spots, [0, 9], kind="spot", size=SIZE), cache.spot[[0, 9]])


def test_stain_jitter_perturbs_both_crops_alike():
    import torch

    from hyperst.data import stain_jitter

    torch.manual_seed(0)
    pink = torch.stack([torch.full((8, 8), 230), torch.full((8, 8), 150), torch.full((8, 8), 200)]).to(torch.uint8)
    spot, niche = stain_jitter([pink, pink.clone()], 0.05)
    assert spot.dtype == torch.uint8 and spot.shape == pink.shape
    assert torch.equal(spot, niche)  # one draw for the spot and its niche
    assert (spot.int() - pink.int()).abs().max() > 0
    (same,) = stain_jitter([pink], 0.0)
    assert (same.int() - pink.int()).abs().max() <= 1  # the deconvolution round trip is exact up to rounding
