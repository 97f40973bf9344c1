"""Where a frozen encoder runs: on the device it is given (numpy-feature encoders on the CPU), then put back."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

from hyperst.data import encode_crops, prepare_spots
from hyperst.model import _training_data
from hyperst.nn.encoders import build_encoder
from hyperst.nn.encoders.base import ImageEncoder


class DeviceRecorder(ImageEncoder):
    """A frozen torch encoder that records the device of every batch it encodes (its outputs stay on the CPU)."""

    name: ClassVar[str] = "device_recorder"

    def __init__(self):
        super().__init__()
        self.out_dim, self.input_size, self.frozen = 4, 16, True
        self.seen: list[str] = []

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        self.seen.append(crops.device.type)
        return torch.zeros(len(crops), self.out_dim)


@pytest.fixture(scope="module")
def toy_spots(toy_sdata):
    return prepare_spots(toy_sdata)


def test_a_torch_encoder_runs_on_the_given_device(toy_spots):
    # "meta" stands for an accelerator on this CPU-only machine: crops must reach the encoder there
    encoder = DeviceRecorder()
    spot, niche = _training_data.frozen_features(encoder, toy_spots, device="meta")
    assert set(encoder.seen) == {"meta"} and spot.shape == niche.shape == (toy_spots.n_spots, 4)


def test_prediction_encodes_its_stored_features_on_its_device(toy_spots):
    encoder = DeviceRecorder()
    batches = _training_data.inference_batches(
        toy_spots, np.arange(8), encoder=encoder, counts=None, batch_size=8, device=torch.device("meta")
    )
    _, batch = next(batches)
    assert set(encoder.seen) == {"meta"} and batch["spot_features"].device.type == "meta"


def test_numpy_feature_encoders_stay_on_the_cpu(toy_spots):
    encoder = build_encoder("squidpy", input_size=16)
    spot, niche = _training_data.frozen_features(encoder, toy_spots, device="meta")
    expected = encode_crops(toy_spots, encoder, size=16)
    np.testing.assert_allclose(spot, expected[0], rtol=1e-6)
    np.testing.assert_allclose(niche, expected[1], rtol=1e-6)
