"""Spot and niche crops in batches, read in worker processes when asked: the input pipeline of encoders.

One batch is a set of spots of one section, in image-chunk order (:func:`~hyperst.data.iter_crops`' order); a batch
holds the spot and the niche crops of the same spots. With ``n_jobs > 1`` the batches are read by a
:class:`torch.utils.data.DataLoader`'s worker processes (each reads its own windows from the dask-backed image,
single-threaded) and come back in order, so results do not depend on the number of workers; at most
``2 * n_jobs`` batches are in flight, and each process keeps its own bounded cache of image chunks
(:class:`~hyperst.data._image.BlockCache`), so memory stays bounded whatever the slide size. An optional ``transform``
(e.g. a numpy feature encoder) runs in the workers too, so only its small outputs cross between processes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst.data import _image
from hyperst.data._crops import batch_plan, check_crop_options, read_batch
from hyperst.data._sections import CROP_KINDS

if TYPE_CHECKING:
    from hyperst.data._spots import SpotData

PREFETCH_BATCHES = 2  # batches each worker reads ahead: memory is about 2 * n_jobs batches of crops


def check_n_jobs(n_jobs: Any) -> int:
    """Return ``n_jobs`` as an int, or raise a ``ValueError`` naming the fix when it is not a positive integer."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs < 1:
        raise ValueError(
            f"`n_jobs` must be a positive number of processes reading crops (1: the main process only), got {n_jobs!r}."
        )
    return int(n_jobs)


def crop_batches(
    spots: SpotData,
    indices: np.ndarray | None = None,
    *,
    size: int,
    batch_size: int = 64,
    n_jobs: int = 1,
    kinds: Sequence[str] = CROP_KINDS,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    fill: int = _image.BACKGROUND,
) -> Iterator[tuple[np.ndarray, tuple[np.ndarray, ...]]]:
    """Yield ``(positions, outputs)``: one output per kind for the spots ``indices[positions]``.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`).
    indices
        Spots to crop (default all).
    size
        Output side in pixels (the encoder's input size).
    batch_size
        Spots per batch.
    n_jobs
        Processes reading crops: 1 reads in this process; more start that many worker processes (fork where the
        platform has it), which pays off from a few thousand spots on.
    kinds
        Crops to read per spot, ``"spot"`` and/or ``"niche"``.
    transform
        Applied to each ``(batch, 3, size, size)`` uint8 crop array where it is read (in the workers); outputs
        are then its results.
    fill
        Grey value of padding outside the image.
    """
    n_jobs = check_n_jobs(n_jobs)  # checked here, not at the first batch
    check_crop_options(list(kinds), size)
    return _batches(_BatchReader(spots, indices, size, batch_size, tuple(kinds), transform, fill), n_jobs)


def _batches(reader: _BatchReader, n_jobs: int) -> Iterator[tuple[np.ndarray, tuple[np.ndarray, ...]]]:
    if n_jobs == 1 or len(reader) <= 1:
        for item in range(len(reader)):
            positions, outputs = reader[item]
            yield positions, tuple(_numpy(o) for o in outputs)
        return
    from torch.utils.data import DataLoader

    reader.in_workers = True
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    loader = DataLoader(
        reader,
        batch_size=None,  # items are whole batches already
        shuffle=False,
        num_workers=min(n_jobs, len(reader)),
        collate_fn=_as_is,
        worker_init_fn=_single_threaded_worker,
        prefetch_factor=PREFETCH_BATCHES,
        multiprocessing_context=context,
    )
    for positions, outputs in loader:  # in order: the DataLoader returns batch i before batch i + 1
        yield _numpy(positions), tuple(_numpy(o) for o in outputs)


def extract_crops(
    spots: SpotData,
    indices: np.ndarray | None = None,
    *,
    kind: str,
    size: int,
    batch_size: int = 64,
    out: np.ndarray | None = None,
    n_jobs: int = 1,
    progress: bool = False,
) -> np.ndarray:
    """Crops of the given spots, ``(len(indices), 3, size, size)`` uint8, in the order of ``indices``.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`).
    indices
        Spots to crop (default all).
    kind
        ``"spot"`` or ``"niche"``.
    size
        Output side in pixels.
    batch_size
        Crops read together.
    out
        Array to write into (e.g. a memory map), shape ``(len(indices), 3, size, size)``.
    n_jobs
        Processes reading crops (see :func:`~hyperst.data.crop_batches`).
    progress
        Show a progress bar.
    """
    n = spots.n_spots if indices is None else len(indices)
    if out is None:
        out = np.empty((n, 3, size, size), dtype=np.uint8)
    elif out.shape != (n, 3, size, size):
        raise ValueError(f"`out` has shape {out.shape}, expected {(n, 3, size, size)}.")
    bar = _progress(progress, n, f"{kind} crops")
    batches = crop_batches(spots, indices, kinds=[kind], size=size, batch_size=batch_size, n_jobs=n_jobs)
    for positions, (crops,) in batches:
        out[positions] = crops
        bar.update(len(positions))
    bar.close()
    return out


class _BatchReader:
    """Map-style dataset: item ``i`` is the ``i``-th batch of :func:`batch_plan`, read (and transformed)."""

    def __init__(self, spots, indices, size, batch_size, kinds, transform, fill) -> None:
        self.spots, self.size, self.kinds, self.transform, self.fill = spots, int(size), kinds, transform, fill
        self.indices = np.arange(spots.n_spots) if indices is None else np.asarray(indices, dtype=int)
        self.plan = batch_plan(spots, self.indices, batch_size)
        self.levels: dict[int, list[_image.ImageLevel]] = {}  # each process fills its own
        self.blocks = _image.BlockCache()  # image chunks read, each process its own
        self.in_workers = False

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, item: int) -> tuple[Any, tuple[Any, ...]]:
        section, positions = self.plan[item]
        outputs = []
        for kind in self.kinds:
            rows = self.indices[positions]
            crops = read_batch(
                self.spots, section, rows, kind=kind, size=self.size, fill=self.fill, levels=self.levels,
                blocks=self.blocks,
            )  # fmt: skip
            outputs.append(crops if self.transform is None else self.transform(crops))
        if self.in_workers:  # torch tensors travel through shared memory, numpy arrays through a pickled pipe
            import torch

            return positions, tuple(torch.from_numpy(np.ascontiguousarray(o)) for o in outputs)
        return positions, tuple(outputs)


def _single_threaded_worker(_: int) -> None:
    """Workers compute dask graphs in their own thread: one process per core, no threads oversubscribing it."""
    import dask

    dask.config.set(scheduler="synchronous")


def _as_is(item: Any) -> Any:
    return item


def _numpy(value: Any) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else value.numpy()


def _progress(enabled: bool, total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled, leave=False)
