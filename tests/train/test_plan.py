"""The training plan logs per-epoch values once per epoch: exact epoch means, end-of-epoch scalars, few log calls."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hyperst.model import HyperST
from hyperst.model._training_data import _collate
from hyperst.train import HyperSTTrainingPlan
from hyperst.train._callbacks import History

N_SPOTS, BATCH, N_GENES, EPOCHS = 50, 16, 6, 2  # 4 batches per epoch, the last one smaller


class Recorder(pl.Callback):
    """Every step's loss and batch size, and the curvature after each epoch."""

    def __init__(self):
        self.steps: list[tuple[int, float, int]] = []
        self.curvature: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append((trainer.current_epoch, float(outputs["loss"]), len(batch["spot_image"])))

    def on_train_epoch_end(self, trainer, pl_module):
        self.curvature.append(pl_module.network.head.curvature)


@pytest.fixture(scope="module")
def trained():
    generator = torch.Generator().manual_seed(0)
    items = [
        (torch.rand(3, 16, 16, generator=generator), torch.rand(3, 16, 16, generator=generator))
        + (torch.poisson(torch.full((N_GENES,), 3.0), generator=generator),) * 2
        for _ in range(N_SPOTS)
    ]
    loader = DataLoader(items, batch_size=BATCH, collate_fn=_collate(False))
    model = HyperST([f"g{i}" for i in range(N_GENES)], encoder="cnn", encoder_kwargs={"input_size": 16, "width": 4,
                    "n_blocks": 2}, embed_dim=16)  # fmt: skip
    plan = HyperSTTrainingPlan(model.network, lr=1e-2)
    calls = []
    log = plan.log
    plan.log = lambda name, *args, **kwargs: (calls.append(name), log(name, *args, **kwargs))
    history, recorder = History(), Recorder()
    trainer = pl.Trainer(
        max_epochs=EPOCHS, accelerator="cpu", callbacks=[history, recorder], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(plan, train_dataloaders=loader)
    return history.to_frame(), recorder, calls, plan


def test_train_loss_is_the_spot_weighted_epoch_mean_of_step_losses(trained):
    history, recorder, _, _ = trained
    assert len(history) == EPOCHS
    for epoch in range(EPOCHS):
        steps = [(loss, size) for e, loss, size in recorder.steps if e == epoch]
        assert len(steps) == int(np.ceil(N_SPOTS / BATCH))
        mean = sum(loss * size for loss, size in steps) / sum(size for _, size in steps)
        assert history.loc[epoch, "train_loss"] == pytest.approx(mean, rel=1e-5)
    assert {"train_mse", "train_hca", "train_hea", "temperature", "scale_image"} <= set(history.columns)


def test_learned_scalars_are_end_of_epoch_values(trained):
    history, recorder, _, _ = trained
    np.testing.assert_allclose(history["curvature"].to_numpy(), recorder.curvature, rtol=1e-6)
    assert history["curvature"].iloc[0] != history["curvature"].iloc[1]  # they are not a constant


def test_values_are_logged_once_per_epoch_not_per_step(trained):
    history, _, calls, plan = trained
    per_epoch = 4 + len(plan.network.head.learned_scalars())  # loss, mse, hca, hea + scalars
    assert len(calls) == EPOCHS * per_epoch  # independent of the number of batches
    assert set(calls) == set(history.columns)


def test_restore_best_weights_keeps_a_detached_copy_of_the_best_epoch():
    from types import SimpleNamespace

    from hyperst.train._callbacks import RestoreBestWeights

    module = torch.nn.Linear(3, 2)
    callback = RestoreBestWeights("val_loss")
    snapshots = {}
    for epoch, score in enumerate([1.0, 0.5, 0.9, 0.7]):
        with torch.no_grad():
            module.weight.add_(1.0)  # the weights change every epoch
        snapshots[epoch] = module.weight.detach().clone()
        trainer = SimpleNamespace(sanity_checking=False, callback_metrics={"val_loss": score}, current_epoch=epoch)
        callback.on_validation_end(trainer, module)
    assert callback.best_epoch == 1 and callback.best_score == 0.5
    callback.on_fit_end(trainer, module)
    torch.testing.assert_close(module.weight.detach(), snapshots[1])
