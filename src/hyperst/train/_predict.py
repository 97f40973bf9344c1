"""``run_prediction``: one Lightning ``Trainer.predict`` over batches split across devices and processes.

The model layer says what a batch's outputs are (``step``); this runs it wherever Lightning's strategy puts the
processes (one per GPU, several nodes) and hands every process all the outputs, each with its spots' positions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher  # exported by the package
from torch import nn
from torch.utils.data import DataLoader

from hyperst._logging import logger
from hyperst.train._quiet import placement, quiet_lightning, quiet_trainer

Part = tuple[np.ndarray, dict[str, np.ndarray]]  # (positions of the batch's spots, its outputs)


class SpawningStrategyError(ValueError):
    """The strategy runs prediction in processes spawned from this one, which cannot hand the outputs back."""


class BatchPredictor(pl.LightningModule):
    """Run ``step`` on each batch ``(positions, named tensors)`` this process is given; gather all processes' parts.

    ``networks`` are what ``step`` computes with: held here so that Lightning moves them to the process's device
    and sets them to evaluation mode. Lightning's own ``all_gather`` takes tensors of one shape on every process,
    while an uneven split gives the processes different numbers of spots: the parts are gathered as objects.
    """

    def __init__(
        self,
        networks: Sequence[nn.Module],
        step: Callable[[dict[str, torch.Tensor]], dict[str, Any]],
        task: str = "predicted",
    ):
        super().__init__()
        self.networks = nn.ModuleList(networks)
        self._batch_outputs = step
        self.task = task
        self.parts: list[Part] = []

    def on_predict_epoch_start(self) -> None:
        self.parts = []

    def predict_step(self, batch: tuple[Any, dict[str, torch.Tensor]], batch_idx: int) -> None:
        positions, named = batch
        positions = np.asarray(positions.cpu() if isinstance(positions, torch.Tensor) else positions)
        self.parts.append((positions, self._batch_outputs(named)))

    def on_predict_epoch_end(self) -> None:
        world = self.trainer.world_size
        n_spots = sum(len(p) for p, _ in self.parts)
        logger.info("Process %d of %d %s %d spots.", self.trainer.global_rank + 1, world, self.task, n_spots)
        if world > 1:
            gathered: list[list[Part] | None] = [None] * world
            torch.distributed.all_gather_object(gathered, self.parts)
            self.parts = [part for parts in gathered for part in parts]


def run_prediction(
    networks: Sequence[nn.Module],
    loader: DataLoader,
    step: Callable[[dict[str, torch.Tensor]], dict[str, Any]],
    *,
    accelerator: str = "auto",
    devices: int | str | list[int] = "auto",
    strategy: str | Any = "auto",
    progress_bar: bool = False,
    task: str = "predicted",
) -> list[Part]:
    """Run ``step`` over ``loader``'s batches on ``devices`` with Lightning; return the parts of all processes.

    Lightning splits the batches across processes without repeating any (its prediction sampler); every process
    gets every part back, so a script continues alike on each (write the result from rank 0). Float32
    throughout, as the one-device prediction. Strategies that spawn processes from the calling one
    (``"ddp_spawn"``, ``"ddp_notebook"``) cannot hand the parts back: use ``"ddp"`` (a script, ``torchrun`` or
    SLURM); they raise :class:`~hyperst.train.SpawningStrategyError` before any process starts. ``task`` names
    the work in the log line each process writes (``"Process 1 of 2 predicted 60 spots."``).
    """
    with quiet_lightning():
        trainer = quiet_trainer(
            progress_bar=progress_bar, accelerator=accelerator, devices=devices, strategy=strategy, precision="32-true"
        )
        if isinstance(trainer.strategy.launcher, _MultiProcessingLauncher):
            raise SpawningStrategyError(
                f"Prediction with strategy {type(trainer.strategy).__name__} ({strategy!r}) runs in processes spawned "
                "from this one, which cannot hand the predictions back. Use strategy='ddp' from a script (or under "
                "torchrun / SLURM)."
            )
        logger.info("Predicting on %s.", placement(trainer))
        module = BatchPredictor(networks, step, task)
        with warnings.catch_warnings():  # the module keeps the outputs itself: `predict_step` returns nothing
            warnings.filterwarnings("ignore", message=r"predict returned None", category=UserWarning)
            trainer.predict(module, dataloaders=loader, return_predictions=False)
    return module.parts


def check_devices(devices: Any) -> None:
    """Raise a ``ValueError`` unless ``devices`` is a count >= 1, a non-empty list of device indices or ``"auto"``."""
    if devices == "auto":
        return
    if isinstance(devices, (list, tuple)):
        if devices and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices):
            return
    elif isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1:
        return
    raise ValueError(
        f"`devices` must be a number of devices >= 1, a list of device indices (e.g. [0, 1]) or 'auto', got "
        f"{devices!r}."
    )
