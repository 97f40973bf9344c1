"""Lightning callbacks: keep the best-validation weights in memory, and record a per-epoch history."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pandas as pd


class RestoreBestWeights(pl.Callback):
    """Keep a copy of the weights of the epoch with the lowest ``monitor`` and load it back when training ends.

    Lightning's ``ModelCheckpoint`` does this through files on disk; an in-memory copy leaves nothing behind in
    the user's working directory.
    """

    def __init__(self, monitor: str = "val_loss"):
        self.monitor = monitor
        self.best_score = math.inf
        self.best_epoch: int | None = None
        self._best_state: dict | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if score < self.best_score:
            self.best_score, self.best_epoch = score, trainer.current_epoch
            state = pl_module.state_dict()
            if self._best_state is None or self._best_state.keys() != state.keys():
                self._best_state = {k: v.detach().clone() for k, v in state.items()}
            else:  # copy into the tensors of the last best epoch: no new allocation per improvement
                for key, value in state.items():
                    self._best_state[key].copy_(value)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._best_state is not None:
            pl_module.load_state_dict(self._best_state)


class History(pl.Callback):
    """One row per epoch with every logged value (loss terms for train and validation, curvature, temperature)."""

    def __init__(self):
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs after validation of the same epoch, so train and val values land in one row.
        row = {"epoch": trainer.current_epoch}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        self.rows.append(row)

    def to_frame(self) -> pd.DataFrame:
        """Return the history as a DataFrame indexed by epoch."""
        frame = pd.DataFrame(self.rows)
        return frame.set_index("epoch") if len(frame) else frame
