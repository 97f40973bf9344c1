"""The Lightning training plan: one optimisation step of the image encoder and the HyperST module.

A plain :class:`lightning.pytorch.LightningModule` rather than scvi-tools' ``TrainingPlan``: scvi's plan expects a
``BaseModuleClass`` with inference/generative steps and an ELBO-style ``LossOutput``, while HyperST is a
regression with contrastive and entailment terms. Lightning still gives us what we want from scvi-tools:
accelerators, DDP, mixed precision, gradient clipping, early stopping and progress bars.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from hyperst.module import HyperSTLoss, ImageToExpression


class HyperSTTrainingPlan(pl.LightningModule):
    """AdamW on HyperST's loss (docs/method.md, "Prediction and training loss"); logs every term per epoch.

    Loss terms are summed on the device step by step and logged once per epoch (their mean over the epoch's
    spots): one Lightning ``log`` call per value and epoch instead of per step, and no host-device sync per
    step. The learned scalars (curvature, temperature, scales) are also logged as they stand at the end of the epoch.
    """

    def __init__(self, network: ImageToExpression, *, lr: float = 1e-4, weight_decay: float = 0.01):
        super().__init__()
        self.network = network
        self.lr, self.weight_decay = lr, weight_decay
        self._sums: dict[str, dict[str, torch.Tensor]] = {}
        self._counts: dict[str, int] = {}

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        losses = self.network(batch).loss
        size = len(next(iter(batch.values())))
        sums = self._sums.setdefault(stage, {})
        for name, value in _loss_terms(losses).items():
            term = value.detach().float() * size
            sums[name] = term if name not in sums else sums[name] + term
        self._counts[stage] = self._counts.get(stage, 0) + size
        return losses.total

    def _log_epoch(self, stage: str, scalars: bool = False) -> None:
        """Log the epoch means of the summed loss terms of ``stage`` (and the learned scalars) and reset them."""
        sums, count = self._sums.pop(stage, {}), self._counts.pop(stage, 0)
        values = {f"{stage}_{name}": total / count for name, total in sums.items()} if count else {}
        if scalars:
            values |= self.network.head.learned_scalars()
        for name, value in values.items():
            self.log(name, value, on_step=False, on_epoch=True, batch_size=max(count, 1), sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self._sums.pop("train", None)
        self._counts.pop("train", None)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.trainer.is_last_batch:
            # After the epoch's last optimiser step, and not in `on_train_epoch_end`: callbacks such as the history
            # read the epoch's metrics in their own `on_train_epoch_end`, which Lightning runs before the module's.
            self._log_epoch("train", scalars=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        groups = self.network.head.parameter_groups(self.weight_decay)
        encoder = [p for p in self.network.encoder.parameters() if p.requires_grad]
        if encoder:
            groups.append({"params": encoder, "weight_decay": self.weight_decay})
        return torch.optim.AdamW(groups, lr=self.lr)


def _loss_terms(losses: HyperSTLoss) -> dict[str, torch.Tensor]:
    return {"loss": losses.total, "mse": losses.mse, "hca": losses.hca, "hea": losses.hea}
