"""``run_training``: one Lightning fit of a training plan, with early stopping and the best weights restored."""

from __future__ import annotations

from typing import Any

import pandas as pd
from torch.utils.data import DataLoader

from hyperst._constants import TRAINER_DEFAULTS, Checkpoint
from hyperst._logging import logger
from hyperst.train._callbacks import History, RestoreBestWeights
from hyperst.train._devices import default_precision
from hyperst.train._plan import HyperSTTrainingPlan
from hyperst.train._quiet import placement, quiet_lightning, quiet_trainer


def run_training(
    plan: HyperSTTrainingPlan,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    *,
    max_epochs: int,
    patience: int = 10,
    checkpoint: Checkpoint = "mse",
    progress_bar: bool = True,
    gradient_clip_val: float = 1.0,
    trainer_kwargs: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, int | None]:
    """Fit ``plan`` with Lightning; returns the per-epoch history and the epoch whose weights were restored.

    Early stopping and best-weight restoring watch ``checkpoint``'s term (``"mse"``: the prediction error,
    ``"loss"``: the total loss) on the validation loader when there is one, otherwise on the training batches;
    ``"last"`` runs every epoch and keeps the last weights. ``trainer_kwargs``: Lightning's ``accelerator``,
    ``devices``, ``strategy`` and ``precision`` (defaults: ``TRAINER_DEFAULTS`` in ``hyperst/_constants.py``; ``precision``
    defaults to bf16/fp16 mixed precision on CUDA, float32 elsewhere).
    """
    import lightning.pytorch as pl

    lightning = TRAINER_DEFAULTS | (trainer_kwargs or {})
    unknown = sorted(set(lightning) - set(TRAINER_DEFAULTS))
    if unknown:
        raise TypeError(f"Unknown `trainer_kwargs` {unknown}; hyperst passes {sorted(TRAINER_DEFAULTS)} to Lightning.")
    accelerator, precision = lightning["accelerator"], lightning["precision"]

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
        trainer = quiet_trainer(
            progress_bar=progress_bar,
            max_epochs=max_epochs,
            accelerator=accelerator,
            devices=lightning["devices"],
            strategy=lightning["strategy"],
            precision=precision,
            gradient_clip_val=gradient_clip_val,
            callbacks=callbacks,
            num_sanity_val_steps=0,
        )
        logger.info("Training on %s with %s precision.", placement(trainer), trainer.precision)
        trainer.fit(plan, train_dataloaders=train_loader, val_dataloaders=val_loader)
    frame = history.to_frame()
    return frame, (len(frame) - 1 if best is None else best.best_epoch)
