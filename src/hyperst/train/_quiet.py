"""Keep Lightning's start-up chatter out of notebooks and logs while a fit runs; the quiet ``Trainer`` both runs use."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning.pytorch as pl

from hyperst._logging import quiet_loggers

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info lines (device banner, logger tips) and one deprecation it triggers, for one fit.

    Lightning 2.6 builds ``torch.utils._pytree.LeafSpec``, which torch 2.13 deprecates with a ``FutureWarning`` on
    every fit: nothing a user can act on, so it is ignored here and only here.
    """
    with quiet_loggers(*LIGHTNING_LOGGERS), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated", category=FutureWarning)
        yield


def quiet_trainer(*, progress_bar: bool, **options: Any) -> pl.Trainer:
    """Return a Lightning ``Trainer`` that writes nothing (no logger, checkpoints or model summary).

    Call it inside :func:`quiet_lightning`; ``options`` are its other arguments (devices, strategy, precision, ...).
    """
    return pl.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=None,
        **options,
    )


def placement(trainer: pl.Trainer) -> str:
    """Say where ``trainer`` runs, for the log: its root device and, with several, the processes and strategy."""
    if trainer.world_size == 1:
        return str(trainer.strategy.root_device)
    return f"{trainer.strategy.root_device}, {trainer.world_size} processes ({type(trainer.strategy).__name__})"
