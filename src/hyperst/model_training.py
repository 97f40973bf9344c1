"""Training a :class:`~hyperst.model.HyperST` on prepared spots: data loaders, feature caching, the Lightning run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from hyperst._logging import logger

if TYPE_CHECKING:
    from hyperst.data import SpotData
    from hyperst.model import HyperST


def train_model(
    model: HyperST,
    spots: SpotData,
    train: np.ndarray,
    validation: np.ndarray | None = None,
    *,
    max_epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-4,
    weight_decay: float = 0.01,
    patience: int = 10,
    seed: int = 0,
    augment: bool = True,
    accelerator: str = "auto",
    devices: int | str | list[int] = "auto",
    strategy: str | Any = "auto",
    precision: str | None = None,
    progress_bar: bool = True,
    cache_dir: str | None = None,
    num_workers: int = 0,
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Train ``model`` in place on the spots ``train``; early-stop on ``validation`` (else on the training loss).

    Frozen encoders (``encoder.frozen``) run once over all crops; training then sees cached features only, and
    the features are standardised with statistics of the training spots. Trainable encoders read crops decoded
    once into a :class:`~hyperst.data.CropCache` (in memory, or memory-mapped under ``cache_dir``) and see the same
    random dihedral transform on the spot and niche crop of a sample when ``augment``. ``features`` passes
    precomputed frozen-encoder features of every spot (e.g. shared by the folds of a cross-validation).
    """
    import lightning.pytorch as pl

    from hyperst.data import CropCache, SpotDataset
    from hyperst.train import HyperSTTrainingPlan, run_training

    train = _check_indices(spots, train, "train")
    validation = None if validation is None or len(validation) == 0 else _check_indices(spots, validation, "validation")
    if len(train) < 2 or batch_size < 2:
        raise ValueError(
            f"Training needs at least 2 spots per batch (contrastive terms compare spots in a batch); got "
            f"{len(train)} training spots and batch_size={batch_size}."
        )
    model.check_panel(spots)

    size = model.input_size
    with torch.random.fork_rng(devices=[]):
        pl.seed_everything(seed, workers=True, verbose=False)
        if model.encoder.frozen:
            if features is None:
                features = frozen_features(model, spots, progress=progress_bar)
            model.network.scaler.fit(torch.from_numpy(np.concatenate([f[train] for f in features])))
            source, augment = {"features": features}, False  # cached features cannot be augmented
        else:
            source = {"cache": CropCache(spots, size=size, directory=cache_dir, progress=progress_bar)}
        generator = torch.Generator().manual_seed(seed)
        loader = dict(batch_size=batch_size, collate_fn=_collate(model.encoder.frozen), num_workers=num_workers)
        # drop_last: a final batch of one spot has no negatives for the contrastive terms.
        train_set = SpotDataset(spots, train, size=size, augment=augment, **source)
        train_loader = DataLoader(
            train_set, shuffle=True, drop_last=len(train) > batch_size, generator=generator, **loader
        )
        if validation is not None:
            val_loader = DataLoader(SpotDataset(spots, validation, size=size, **source), shuffle=False, **loader)
        else:
            val_loader = None
        plan = HyperSTTrainingPlan(model.network, lr=lr, weight_decay=weight_decay)
        history, best_epoch = run_training(
            plan,
            train_loader,
            val_loader,
            max_epochs=max_epochs,
            patience=patience,
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            precision=precision,
            progress_bar=progress_bar,
        )
    model.network.cpu()
    model.history = history
    model.is_trained = True
    model.train_params = {
        "max_epochs": max_epochs,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "patience": patience,
        "seed": seed,
        "augment": augment,
        "n_train_spots": len(train),
        "n_validation_spots": 0 if validation is None else len(validation),
    }


def frozen_features(model: HyperST, spots: SpotData, *, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Spot and niche features of every spot from the model's frozen encoder (computed once, then cached)."""
    from hyperst.data import encode_crops

    if hasattr(model.encoder, "features"):  # precomputed embeddings: read, not computed
        return model.encoder.features(spots)

    logger.info("Encoding %d spot and niche crops once with the frozen %r encoder.", spots.n_spots, model.encoder.name)
    return encode_crops(spots, model.encoder, size=model.input_size, progress=progress)


def _collate(frozen: bool):
    """Turn dataset tuples into the named batch the training plan reads; counts become ``log2(1 + x)``."""
    from hyperst.train import BATCH_FEATURES, BATCH_GENES, BATCH_IMAGE

    image_keys = BATCH_FEATURES if frozen else BATCH_IMAGE

    def collate(items: list[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
        spot, niche, counts, niche_counts = (torch.stack(column) for column in zip(*items, strict=True))
        return {
            image_keys[0]: spot,
            image_keys[1]: niche,
            BATCH_GENES[0]: torch.log2(1 + counts),
            BATCH_GENES[1]: torch.log2(1 + niche_counts),
        }

    return collate


def _check_indices(spots: SpotData, rows: np.ndarray, name: str) -> np.ndarray:
    rows = np.asarray(rows, dtype=int)
    if rows.size and (rows.min() < 0 or rows.max() >= spots.n_spots):
        raise IndexError(f"`{name}` rows must lie in [0, {spots.n_spots}).")
    if spots.counts is None:
        raise ValueError("Training needs measured counts; prepare the spots with a counts table.")
    untrainable = ~spots.trainable[rows]
    if untrainable.any():
        logger.warning("Leaving %d %s spots without counts (or with crops off the image) out.", untrainable.sum(), name)
    return rows[~untrainable]
