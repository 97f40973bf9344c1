from __future__ import annotations

import pytest
import torch

from hyperst.nn.encoders import ImageEncoder, available_encoders, build_encoder


def test_registry_names():
    assert {"cnn", "squidpy", "uni"} <= set(available_encoders())
    with pytest.raises(ValueError, match="Unknown encoder 'resnet'"):
        build_encoder("resnet")
    with pytest.raises(TypeError, match="must subclass"):
        build_encoder(torch.nn.Linear(3, 2))


def test_instance_passes_through():
    encoder = build_encoder("cnn", input_size=32, n_blocks=3)
    assert build_encoder(encoder) is encoder
    with pytest.raises(TypeError, match="named encoders only"):
        build_encoder(encoder, width=8)


def test_cnn_shapes_config_and_gradients():
    encoder = build_encoder("cnn", input_size=32, width=8, n_blocks=3)
    assert isinstance(encoder, ImageEncoder) and not encoder.frozen
    crops = torch.rand(4, 3, 32, 32)
    features = encoder(crops)
    assert features.shape == (4, encoder.out_dim) == (4, 64)
    features.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())
    rebuilt = type(encoder)(**encoder.config())
    rebuilt.load_state_dict(encoder.state_dict())
    encoder.eval(), rebuilt.eval()
    torch.testing.assert_close(encoder(crops), rebuilt(crops))


def test_cnn_rejects_bad_sizes():
    with pytest.raises(ValueError, match="divisible"):
        build_encoder("cnn", input_size=30, n_blocks=2)
    with pytest.raises(ValueError, match="positive"):
        build_encoder("cnn", width=0)


def test_squidpy_features_follow_the_image():
    encoder = build_encoder("squidpy", input_size=32, histogram_bins=8)
    assert encoder.frozen and not list(encoder.parameters())
    dark = torch.full((1, 3, 32, 32), 0.2)
    light = torch.full((1, 3, 32, 32), 0.9)
    noisy = torch.rand(1, 3, 32, 32)
    features = encoder(torch.cat([dark, light, noisy]))
    assert features.shape == (3, encoder.out_dim) and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])  # colour moves the summary and the histogram
    assert not torch.allclose(features[1], features[2])  # texture and spread differ too
    assert type(encoder)(**encoder.config()).out_dim == encoder.out_dim
