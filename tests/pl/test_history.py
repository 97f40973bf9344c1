"""``hst.pl.training_history``: one panel per recorded quantity, the restored epoch marked, every option.

Image comparison: ``test_matches_baseline_image`` draws a hand-built history (no training involved) and compares it
with ``tests/pl/_images/training_history.png``. After an intended change of the plot, regenerate the baseline with
``HYPERST_UPDATE_IMAGES=1 .venv/bin/python -m pytest tests/pl/test_history.py`` and look at the new image before
committing it.
"""

from __future__ import annotations

import copy
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import hyperst as hst
from hyperst.pl._history import QUANTITIES
from hyperst.pl._utils import OKABE_ITO


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def hand_built_model():
    """An untrained tiny HyperST given a deterministic 8-epoch history, as `hst.tl.fit` records one."""
    epochs = np.arange(8)
    decay = np.exp(-epochs / 3)
    history = pd.DataFrame(
        {
            "val_loss": 3 + 2 * decay + 0.02 * epochs**2,
            "val_mse": 2 + 1.5 * decay,
            "val_hca": 3.5 - 0.3 * (1 - decay),
            "val_hea": 1.2 * decay + 0.3,
            "train_loss": 3 + 3 * decay,
            "train_mse": 2 + 2 * decay,
            "train_hca": 3.6 - 0.4 * (1 - decay),
            "train_hea": 1.4 * decay + 0.2,
            "curvature": 1 - 0.05 * epochs,
            "temperature": 0.07 + 0.002 * epochs,
            "scale_image": 0.18 - 0.004 * epochs,
            "scale_gene": 0.18 - 0.001 * epochs,
        },
        index=pd.Index(epochs, name="epoch"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # building the torch model imports third-party code that warns
        model = hst.HyperST(["G1", "G2"], encoder="cnn", encoder_kwargs={"input_size": 32, "n_blocks": 3, "width": 8})
    model.history, model.is_trained, model.train_params = history, True, {"best_epoch": 5}
    return model


def _lines(ax) -> dict[str, np.ndarray]:
    return {line.get_label(): line.get_ydata() for line in ax.get_lines() if not line.get_label().startswith("_")}


@pytest.mark.filterwarnings("error")
def test_every_quantity_and_the_restored_epoch(hand_built_model):
    history = hand_built_model.history
    fig = hst.pl.training_history(hand_built_model, return_fig=True)
    assert len(fig.axes) == len(QUANTITIES) == 7
    assert "restored weights of epoch 5" in fig.get_suptitle() and "8 epochs" in fig.get_suptitle()
    by_title = {ax.get_title(): ax for ax in fig.axes}
    for quantity in ("loss", "mse", "hca", "hea"):
        lines = _lines(by_title[QUANTITIES[quantity][0]])
        np.testing.assert_array_equal(lines["train"], history[f"train_{quantity}"])
        np.testing.assert_array_equal(lines["validation"], history[f"val_{quantity}"])
    np.testing.assert_array_equal(by_title[QUANTITIES["curvature"][0]].get_lines()[0].get_ydata(), history["curvature"])
    temperature = by_title[QUANTITIES["temperature"][0]].get_lines()[0].get_ydata()
    np.testing.assert_array_equal(temperature, history["temperature"])
    scales = _lines(by_title[QUANTITIES["scales"][0]])
    np.testing.assert_array_equal(scales["image"], history["scale_image"])
    np.testing.assert_array_equal(scales["gene"], history["scale_gene"])
    for ax in fig.axes:  # the restored epoch is marked in every panel
        assert any(np.array_equal(line.get_xdata(), [5, 5]) for line in ax.get_lines())
        assert ax.get_xlabel() == "epoch"


def test_from_training(toy_model):
    with warnings.catch_warnings():  # errors in the body only: the shared fixture may be built during setup
        warnings.simplefilter("error")
        fig = hst.pl.training_history(toy_model, return_fig=True)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [title for title, _ in QUANTITIES.values()]  # a real fit records every quantity
    best = toy_model.train_params["best_epoch"]
    assert f"restored weights of epoch {best}" in fig.get_suptitle()


@pytest.mark.filterwarnings("error")
def test_options(hand_built_model, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    before = plt.get_fignums()
    result = hst.pl.training_history(
        hand_built_model, quantities=["curvature", "loss"], ncols=1, figsize=(4, 6), save=tmp_path / "h.pdf", show=False
    )
    assert result is None and not shown and plt.get_fignums() == before  # not returned, not shown: closed
    assert (tmp_path / "h.pdf").read_bytes().startswith(b"%PDF")

    fig = hst.pl.training_history(hand_built_model, quantities=["curvature", "loss"], ncols=1, return_fig=True)
    assert [ax.get_title() for ax in fig.axes] == [QUANTITIES["curvature"][0], QUANTITIES["loss"][0]]  # as asked
    assert fig.axes[0].get_subplotspec().get_geometry()[:2] == (2, 1)

    fig = hst.pl.training_history(hand_built_model, quantities="hea", figsize=(4, 3), return_fig=True)
    assert tuple(fig.get_size_inches()) == (4, 3)

    _, ax = plt.subplots()
    assert hst.pl.training_history(hand_built_model, quantities="temperature", ax=ax) is None
    assert ax.get_title() == QUANTITIES["temperature"][0]
    assert "restored (epoch 5)" in [t.get_text() for t in ax.get_legend().get_texts()]  # no figure title to say it

    assert hst.pl.training_history(hand_built_model, quantities="mse") is None
    assert shown == [True]  # shown by default


@pytest.mark.filterwarnings("error")
def test_without_validation_or_restored_epoch(hand_built_model):
    model = copy.copy(hand_built_model)
    model.history = model.history[[c for c in model.history.columns if not c.startswith(("val_", "scale_"))]]
    model.train_params = {"best_epoch": None}
    fig = hst.pl.training_history(model, return_fig=True)
    assert len(fig.axes) == 6  # no modality scales recorded
    assert "restored" not in fig.get_suptitle()
    assert not any("validation" in _lines(ax) for ax in fig.axes)
    assert list(_lines(fig.axes[0])) == ["train"]


def test_bad_inputs(hand_built_model):
    untrained = copy.copy(hand_built_model)
    untrained.is_trained, untrained.history = False, pd.DataFrame()
    with pytest.raises(ValueError, match=r"untrained.*hst\.tl\.fit"):
        hst.pl.training_history(untrained)
    untrained.is_trained = True
    with pytest.raises(ValueError, match="no recorded training history"):
        hst.pl.training_history(untrained)
    with pytest.raises(ValueError, match="choose among"):
        hst.pl.training_history(hand_built_model, quantities="accuracy")
    with pytest.raises(ValueError, match="single panel"):
        hst.pl.training_history(hand_built_model, ax=plt.subplots()[1])
    with pytest.raises(ValueError, match="ncols"):
        hst.pl.training_history(hand_built_model, ncols=0)
    model = copy.copy(hand_built_model)
    model.history = hand_built_model.history[["train_loss"]]
    with pytest.raises(ValueError, match=r"does not record \['curvature'\]"):
        hst.pl.training_history(model, quantities="curvature")


@pytest.mark.filterwarnings("error")
def test_matches_baseline_image(hand_built_model, matches_baseline):
    matches_baseline(
        lambda: hst.pl.training_history(hand_built_model, figsize=(12, 5), return_fig=True), "training_history"
    )


def test_palette_is_colour_blind_safe(hand_built_model):
    fig = hst.pl.training_history(hand_built_model, quantities="loss", return_fig=True)
    colours = {line.get_color() for line in fig.axes[0].get_lines()}
    assert colours <= set(OKABE_ITO)
