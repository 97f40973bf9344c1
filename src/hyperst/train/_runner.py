"""``run_training``: one Lightning fit of a training plan, with early stopping and the best weights restored."""

from __future__ import annotations

from typing import Any

import pandas as pd
from torch.utils.data import DataLoader

from hyperst._constants import Checkpoint
from hyperst._logging import logger
from hyperst.train._callbacks import History, RestoreBestWeights
from hyperst.train._devices import default_precision
from hyperst.train._plan import HyperSTTrainingPlan
from hyperst.train._quiet import quiet_lightning


def run_training(
    plan: HyperSTTrainingPlan,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    *,
    max_epochs: int,
    patience: int = 10,
    checkpoint: Checkpoint = "mse",
    accelerator: str = "auto",
    devices: int | str | list[int] = "auto",
    strategy: str | Any = "auto",
    precision: str | None = None,
    progress_bar: bool = True,
    gradient_clip_val: float = 1.0,
) -> tuple[pd.DataFrame, int | None]:
    """Fit ``plan`` with Lightning; returns the per-epoch history and the epoch whose weights were restored.

    Early stopping and best-weight restoring watch ``checkpoint``'s term (``"mse"``: the prediction error,
    ``"loss"``: the total loss) on the validation loader when there is one, otherwise on the training batches;
    ``"last"`` runs every epoch and keeps the last weights. ``precision`` defaults to bf16/fp16 mixed precision on
    CUDA, float32 elsewhere.
    """
    import lightning.pytorch as pl

    history = History()
    if checkpoint == "last":
        best, callbacks = None, [history]
    else:
        monitor = f"{'val' if val_loader is not None else 'train'}_{checkpoint}"
        best = RestoreBestWeights(monitor)
        callbacks = [best, history, pl.callbacks.EarlyStopping(monitor=monitor, patience=patience, mode="min")]
    if precision is None:
        precision = default_precision(accelerator)
    with quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=max_epochs,
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            precision=precision,
            gradient_clip_val=gradient_clip_val,
            callbacks=callbacks,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=progress_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=None,
        )
        processes = (
            "" if trainer.world_size == 1 else f", {trainer.world_size} processes ({type(trainer.strategy).__name__})"
        )
        logger.info("Training on %s with %s precision%s.", trainer.strategy.root_device, trainer.precision, processes)
        trainer.fit(plan, train_dataloaders=train_loader, val_dataloaders=val_loader)
    frame = history.to_frame()
    return frame, (len(frame) - 1 if best is None else best.best_epoch)
