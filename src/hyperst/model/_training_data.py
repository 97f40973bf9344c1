"""The model's data plumbing: frozen features, training and validation loaders, inference batches.

Between :class:`~hyperst.data.SpotData` (numpy, from the container) and the named tensor batches the saved
network reads (:data:`~hyperst.module.BATCH_IMAGE`, :data:`~hyperst.module.BATCH_FEATURES`,
:data:`~hyperst.module.BATCH_GENES`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hyperst._logging import logger
from hyperst.data import (
    CropCache,
    SpotDataset,
    batch_plan,
    check_n_jobs,
    crop_batches,
    encode_crops,
    log2p,
    obsm_features,
    stored_features,
)
from hyperst.module import BATCH_FEATURES, BATCH_GENES, BATCH_IMAGE
from hyperst.nn.encoders.precomputed import PrecomputedFeatures
from hyperst.train import SpawningStrategyError, run_prediction

if TYPE_CHECKING:
    from hyperst.data import SpotData
    from hyperst.nn.encoders import ImageEncoder

Features = tuple[np.ndarray, np.ndarray]  # spot and niche features of every spot, each (n_spots, out_dim)
# Prediction with a frozen encoder reads (or computes and stores) the features of all spots at once below this size;
# above it (a foundation model's 1,536 features of a million spots take 12 GB) it encodes crops batch by batch.
STORED_FEATURES_MAX_BYTES = 2**31
ENCODING_BATCH = 64  # crops per encoder call when encoding on several devices (as `encode_crops`)


def frozen_features(
    encoder: ImageEncoder,
    spots: SpotData,
    *,
    device: str | torch.device = "cpu",
    n_jobs: int = 1,
    progress: bool = False,
    lightning: dict[str, Any] | None = None,
) -> Features:
    """Spot and niche features of every spot from a frozen encoder: read from the feature store, else computed.

    Computed features go into the feature store (:func:`~hyperst.data.stored_features`: next to the data, or in
    memory), so later calls on the same spots with the same encoder read them instead. The encoder runs on
    ``device`` (numpy-feature encoders such as ``"squidpy"`` on the CPU, in ``n_jobs`` processes). ``lightning``
    (``accelerator``, ``devices``, ``strategy`` of a multi-device fit) with several ``devices`` splits the
    encoding across the devices' processes instead, as prediction splits its batches.
    """
    if isinstance(encoder, PrecomputedFeatures):  # embeddings from the table: read, not computed
        return obsm_features(spots, **encoder.config())
    n_jobs = check_n_jobs(n_jobs)

    def compute() -> Features:
        if lightning is not None and _several(lightning["devices"]):
            try:
                return _encode_on_devices(encoder, spots, lightning)
            except SpawningStrategyError:  # raised before any process starts
                logger.info(
                    "Strategy %r runs in spawned processes, which cannot hand features back: encoding in this "
                    "process.", lightning["strategy"],
                )  # fmt: skip
        where = torch.device("cpu") if encoder.cpu_features else torch.device(device)
        logger.info(
            "Encoding %d spot and niche crops once with the frozen %r encoder on %s (%d crop-reading process%s).",
            spots.n_spots, encoder.name, where, n_jobs, "es" if n_jobs > 1 else "",
        )  # fmt: skip
        with _moved(encoder, where):
            return encode_crops(spots, encoder, size=encoder.input_size, device=where, n_jobs=n_jobs, progress=progress)

    return stored_features(spots, encoder, compute)


def _several(devices: Any) -> bool:
    """Whether Lightning's ``devices`` names more than one device (``"auto"`` does not split the encoding)."""
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    return isinstance(devices, int) and not isinstance(devices, bool) and devices > 1


def _encode_on_devices(encoder: ImageEncoder, spots: SpotData, lightning: dict[str, Any]) -> Features:
    """Encode every spot's crops with Lightning's ``Trainer.predict`` on ``lightning``'s devices.

    Each process encodes its share of the batches; every process gets all features back.
    """
    indices = np.arange(spots.n_spots)
    loader = inference_loader(spots, indices, encoder=encoder, counts=None, batch_size=ENCODING_BATCH)
    logger.info(
        "Encoding %d spot and niche crops once with the frozen %r encoder, split across devices %r.",
        spots.n_spots, encoder.name, lightning["devices"],
    )  # fmt: skip

    def step(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {key: encoder(batch[key]).float().cpu().numpy() for key in BATCH_IMAGE}

    with _moved(encoder, _device_of(encoder)):  # Lightning moves it to its device: back where it was after
        parts = run_prediction([encoder], loader, step, **lightning, task="encoded")
    features = tuple(np.empty((spots.n_spots, encoder.out_dim), dtype=np.float32) for _ in BATCH_IMAGE)
    for positions, values in parts:
        for out, key in zip(features, BATCH_IMAGE, strict=True):
            out[positions] = values[key]
    return features[0], features[1]


def _device_of(encoder: ImageEncoder) -> torch.device:
    """Return the device of the encoder's weights (the CPU for an encoder without any)."""
    tensor = next(iter([*encoder.parameters(), *encoder.buffers()]), None)
    return torch.device("cpu") if tensor is None else tensor.device


@contextmanager
def _moved(encoder: ImageEncoder, device: torch.device) -> Iterator[None]:
    """Run the block with ``encoder`` on ``device``, then put it back where it was."""
    home = _device_of(encoder)
    encoder.to(device)
    try:
        yield
    finally:
        encoder.to(home)


def check_rows(spots: SpotData, rows: np.ndarray, name: str) -> np.ndarray:
    """Return the trainable spots of ``rows`` (row positions into ``spots``); say how many were left out."""
    rows = np.asarray(rows, dtype=int)
    if rows.size and (rows.min() < 0 or rows.max() >= spots.n_spots):
        raise IndexError(f"`{name}` rows must lie in [0, {spots.n_spots}).")
    if spots.counts is None:
        raise ValueError("Training needs measured counts; prepare the spots with a counts table.")
    untrainable = ~spots.trainable[rows]
    if untrainable.any():
        logger.warning("Leaving %d %s spots without counts (or with crops off the image) out.", untrainable.sum(), name)
    return rows[~untrainable]


def training_loaders(
    spots: SpotData,
    train: np.ndarray,
    validation: np.ndarray | None,
    *,
    encoder: ImageEncoder,
    features: Features | None,
    counts: tuple[np.ndarray, np.ndarray],
    batch_size: int,
    augment: bool,
    stain_augment: float,
    seed: int,
    cache_dir: str | None = None,
    num_workers: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
    views: list[Features] | None = None,
) -> tuple[DataLoader, DataLoader | None]:
    """Shuffled training loader and ordered validation loader over features (frozen) or cached crops (trainable).

    ``views``: features of augmented views of every spot, drawn per spot and epoch in training (not validation).
    """
    size = encoder.input_size
    if features is not None:
        source = {"features": features}
    else:
        source = {"cache": CropCache(spots, size=size, directory=cache_dir, n_jobs=n_jobs, progress=progress)}
    options = dict(batch_size=batch_size, collate_fn=_collate(features is not None), num_workers=num_workers)
    # drop_last: a final batch of one spot has no negatives for the contrastive terms.
    train_loader = DataLoader(
        SpotDataset(
            spots,
            train,
            size=size,
            augment=augment,
            stain_augment=stain_augment,
            counts=counts,
            views=views or (),
            **source,
        ),
        shuffle=True,
        drop_last=len(train) > batch_size,
        generator=torch.Generator().manual_seed(seed),
        **options,
    )
    if validation is None:
        return train_loader, None
    validation_set = SpotDataset(spots, validation, size=size, counts=counts, **source)
    return train_loader, DataLoader(validation_set, shuffle=False, **options)


def _collate(frozen: bool):
    """Turn dataset tuples into the named batch the network reads; counts become the model's targets."""
    image_keys = BATCH_FEATURES if frozen else BATCH_IMAGE

    def collate(items: list[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
        spot, niche, counts, niche_counts = (torch.stack(column) for column in zip(*items, strict=True))
        return {
            image_keys[0]: spot,
            image_keys[1]: niche,
            BATCH_GENES[0]: log2p(counts),
            BATCH_GENES[1]: log2p(niche_counts),
        }

    return collate


def inference_batches(
    spots: SpotData,
    indices: np.ndarray,
    *,
    encoder: ImageEncoder,
    counts: tuple[np.ndarray, np.ndarray] | None,
    batch_size: int,
    device: torch.device,
    features: Features | None = None,
    n_jobs: int = 1,
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """Yield ``(positions into indices, batch)`` with spot and niche crops or features (and genes when measured).

    A frozen encoder's features come from the feature store (computed once over all spots when missing) unless
    they would take more than :data:`STORED_FEATURES_MAX_BYTES`; otherwise crops are read by ``n_jobs`` processes
    and encoded batch by batch, so memory stays flat in the number of spots.
    """
    genes = None if counts is None else [log2p(c) for c in counts]
    _check_features(encoder, features)
    if features is None and encoder.frozen and 2 * spots.n_spots * encoder.out_dim * 4 <= STORED_FEATURES_MAX_BYTES:
        features = frozen_features(encoder, spots, device=device, n_jobs=n_jobs)
    if features is not None:
        for start in range(0, len(indices), batch_size):
            index = np.arange(start, min(start + batch_size, len(indices)))
            rows = indices[index]
            batch = {k: torch.from_numpy(f[rows]).to(device) for k, f in zip(BATCH_FEATURES, features, strict=True)}
            yield index, _with_genes(batch, genes, rows, device)
        return
    # Spot and niche crops of the same spots in each batch: memory stays flat in the number of spots.
    batches = crop_batches(spots, indices, size=encoder.input_size, batch_size=batch_size, n_jobs=n_jobs)
    for index, (spot, niche) in batches:
        crops = [torch.from_numpy(c).to(device).float().div_(255.0) for c in (spot, niche)]
        yield index, _with_genes(dict(zip(BATCH_IMAGE, crops, strict=True)), genes, indices[index], device)


def _check_features(encoder: ImageEncoder, features: Features | None) -> None:
    """Raise when cached features are given for an encoder that is trained with the model (it has none)."""
    if features is not None and not encoder.frozen:
        raise ValueError("`features` apply to frozen encoders only; this encoder is trained with the model.")


def _with_genes(batch: dict, genes: list[np.ndarray] | None, rows: np.ndarray, device: torch.device) -> dict:
    """Add the spots' and niches' targets of ``rows`` to a batch when the spots were measured."""
    if genes is not None:
        batch.update({k: torch.from_numpy(g[rows]).to(device) for k, g in zip(BATCH_GENES, genes, strict=True)})
    return batch


class InferenceChunks(Dataset):
    """Batch ``i`` of :func:`inference_batches` as one item, for a loader that Lightning splits across processes.

    Item ``i`` is ``(positions into indices, batch)`` on the CPU: the batches the one-process prediction reads
    (features in runs of ``batch_size``; crops by :func:`~hyperst.data.batch_plan`, section by section), so every
    spot is predicted alike whichever process gets it. A frozen encoder's crops are encoded batch by batch when no
    ``features`` are given, so encoding is split across the processes too.
    """

    def __init__(
        self,
        spots: SpotData,
        indices: np.ndarray,
        *,
        encoder: ImageEncoder,
        counts: tuple[np.ndarray, np.ndarray] | None,
        batch_size: int,
        features: Features | None = None,
    ):
        _check_features(encoder, features)
        self.spots, self.indices, self.size, self.features = spots, indices, encoder.input_size, features
        self.genes = None if counts is None else [log2p(c) for c in counts]
        if features is not None:
            self.plan = [np.arange(s, min(s + batch_size, len(indices))) for s in range(0, len(indices), batch_size)]
        else:
            self.plan = [positions for _, positions in batch_plan(spots, indices, batch_size)]

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, item: int) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        index = self.plan[item]
        rows = self.indices[index]
        if self.features is not None:
            batch = {k: torch.from_numpy(f[rows]) for k, f in zip(BATCH_FEATURES, self.features, strict=True)}
        else:  # one section, one batch: read as `crop_batches` reads it (in its order, which is this one)
            ((order, crops),) = crop_batches(self.spots, rows, size=self.size, batch_size=len(rows))
            index, rows = index[order], rows[order]
            batch = {k: torch.from_numpy(c).float().div_(255.0) for k, c in zip(BATCH_IMAGE, crops, strict=True)}
        return index, _with_genes(batch, self.genes, rows, torch.device("cpu"))


def inference_loader(spots: SpotData, indices: np.ndarray, **options) -> DataLoader:
    """Return a loader of :class:`InferenceChunks` (``options``: its keywords); each item is a whole batch."""
    return DataLoader(InferenceChunks(spots, indices, **options), batch_size=None, shuffle=False)
