"""The feature store: frozen-encoder features of a slide's spots, computed once and read by every later call.

A frozen encoder (``"squidpy"``, a foundation model without LoRA) maps the same crops to the same features, so
``fit``, ``predict`` and ``cross_validate`` on the same spots need them once. Each entry is keyed by what
determines the features: the encoder's class, name and configuration, the crop geometry (input size, spot and
niche crop sides in µm, pixel sizes), what crops show as background, the augmented view and a fingerprint of the spot set (spots and image elements, spot centres in
pixels, value scales), so a change of any of them is a different key and is computed anew, never reused.

Where entries live:

- next to the data, when the SpatialData object was read from (or written to) a zarr store at ``sdata.path``: a
  zarr group per key under ``{sdata.path}.hyperst-features/`` (read by later sessions too);
- in memory otherwise, or when that folder cannot be written (logged): held with the SpatialData object for the
  session and dropped with it (at most :data:`MEMORY_ENTRIES` keys and :data:`MEMORY_BYTES` per object).

:func:`drop_features` deletes both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._distributed import process_rank
from hyperst._logging import logger
from hyperst.data._sections import CROP_KINDS

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from hyperst.data._spots import SpotData

Features = tuple[np.ndarray, np.ndarray]
STORE_SUFFIX = ".hyperst-features"  # folder next to a zarr-backed SpatialData object: f"{sdata.path}{STORE_SUFFIX}"
FORMAT = 2  # bump when the definition of stored features changes: old entries then miss (2: background, views)
MEMORY_ENTRIES = 16  # a fit stores the crops' features and those of its augmented views, and a tissue fraction
MEMORY_BYTES = 2**31  # at most this much of features kept in memory per SpatialData object (oldest dropped first)
_MEMORY: weakref.WeakKeyDictionary[Any, dict[str, tuple[dict, Features]]] = weakref.WeakKeyDictionary()


def stored_features(
    spots: SpotData, encoder: Any, compute: Callable[[], Features], *, size: int | None = None
) -> Features:
    """Return ``encoder``'s stored spot and niche features of ``spots``, or ``compute()`` them and store them.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`); the entry belongs to their SpatialData object.
    encoder
        The frozen image encoder (its class, ``name`` and ``config()`` enter the key; an encoder without
        ``config()`` is not stored).
    compute
        Computes ``(spot_features, niche_features)`` of every spot, each ``(n_spots, d)``.
    size
        Crop side in pixels (default ``encoder.input_size``).
    """
    try:
        config = encoder.config()
    except NotImplementedError:
        logger.info("Encoder %s has no `config()`: its features are computed and not stored.", type(encoder).__name__)
        return compute()
    record = _record(spots, encoder, config, int(encoder.input_size if size is None else size))
    key = feature_key(record)
    sdata, directory = spots.sdata, _directory(spots.sdata)
    found = _load(directory / key, record) if directory is not None else None
    if found is None:  # in memory: no folder, or a folder that could not be written
        found = _memory(sdata).get(key, (None, None))[1]
    if found is not None and all(len(f) == spots.n_spots for f in found):
        logger.info("Reusing the stored %r features of %d spots (%s).", encoder.name, spots.n_spots, key)
        return found
    others = [k for k in _keys(sdata, directory) if k.split("-")[0] == key.split("-")[0] and k != key]
    if others:
        logger.info(
            "Stored %r features (%s) are for another encoder configuration, crop geometry or spot set: computing "
            "them for these spots.", encoder.name, ", ".join(sorted(others)),
        )  # fmt: skip
    features = compute()
    features = tuple(np.asarray(f, dtype=np.float32) for f in features)
    rank = process_rank()  # only the first process of a distributed run writes the folder
    if directory is not None and rank == 0 and _save(directory / key, record, features):
        logger.info("Stored the %r features of %d spots in %s.", encoder.name, spots.n_spots, directory / key)
    else:
        if directory is not None and rank > 0:  # processes of one run would write the same entry at once
            logger.info(
                "Process %d of a distributed run keeps the features in memory; the first stores them.", rank + 1
            )
        _remember(sdata, key, record, features)
    return features


def feature_key(record: dict[str, Any]) -> str:
    """Return the store key of a record: the encoder name (and view) and a hash of all that determines the features."""
    digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
    view = record.get("view")
    name = "".join(c if c.isalnum() else "_" for c in str(record["encoder"]))
    if view is not None:  # e.g. "squidpy_view1", "squidpy_view1_glass" (the OOD reference's edge colour)
        colour = view.get("edge_colour", "white")
        name += f"_view{view['index']}" + ("" if colour == "white" else f"_{colour}")
    return f"{name}-{digest[:16]}"


def drop_features(sdata: SpatialData) -> None:
    """Delete the frozen-encoder features stored for ``sdata``: its folder next to the data and its memory entries."""
    _MEMORY.pop(sdata, None)
    directory = _directory(sdata)
    if directory is not None and directory.exists():
        shutil.rmtree(directory)
        logger.info("Deleted the feature store %s.", directory)


def store_location(sdata: SpatialData) -> Path | None:
    """Folder of ``sdata``'s feature store next to the data, or ``None`` when its features are kept in memory."""
    return _directory(sdata)


def _record(spots: SpotData, encoder: Any, config: dict, size: int) -> dict[str, Any]:
    spot_set = hashlib.sha256()
    for section in spots.sections:
        element = spots.sdata.images[section.image_key]
        shape = list(getattr(element, "shape", ())) or None
        spot_set.update(json.dumps([section.spots_key, section.image_key, shape, section.value_scale]).encode())
        spot_set.update(np.ascontiguousarray(section.centres_px, dtype=np.float64).tobytes())
    return {
        "format": FORMAT,
        "encoder": encoder.name,
        "class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        "config": config,
        "input_size": size,
        "crop_um": {kind: [s.crop_um(kind) for s in spots.sections] for kind in CROP_KINDS},
        "microns_per_pixel": [s.microns_per_pixel for s in spots.sections],
        "spots": spot_set.hexdigest(),
        "n_spots": spots.n_spots,
        "background": spots.background,
        "view": None if spots.view is None else spots.view.record(),
    }


def _directory(sdata: SpatialData) -> Path | None:
    path = getattr(sdata, "path", None)
    return None if path is None else Path(path).parent / f"{Path(path).name}{STORE_SUFFIX}"


def _keys(sdata: SpatialData, directory: Path | None) -> list[str]:
    on_disk = []
    if directory is not None and directory.is_dir():
        on_disk = [p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return on_disk + list(_memory(sdata))


def _memory(sdata: SpatialData) -> dict[str, tuple[dict, Features]]:
    return _MEMORY.get(sdata, {})


def _remember(sdata: SpatialData, key: str, record: dict, features: Features) -> None:
    entries = _MEMORY.setdefault(sdata, {})
    entries.pop(key, None)
    entries[key] = (record, features)

    def size() -> int:
        return sum(f.nbytes for _, stored in entries.values() for f in stored)

    while len(entries) > MEMORY_ENTRIES or (entries and size() > MEMORY_BYTES):  # oldest first
        entries.pop(next(iter(entries)))


def _load(path: Path, record: dict) -> Features | None:
    if not path.is_dir():
        return None
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
        if dict(group.attrs).get("record") != json.loads(json.dumps(record, default=str)):
            logger.info("The stored features in %s do not match these spots and encoder: computing them anew.", path)
            return None
        return tuple(np.asarray(group[kind]) for kind in CROP_KINDS)
    except (OSError, KeyError, ValueError) as error:
        logger.warning("Could not read the stored features in %s (%s): computing them anew.", path, error)
        return None


def _save(path: Path, record: dict, features: Features) -> bool:
    """Write an entry atomically (a temporary folder renamed into place); ``False`` when it cannot be written."""
    import zarr

    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(temporary), mode="w")
        for kind, values in zip(CROP_KINDS, features, strict=True):
            group.create_array(kind, shape=values.shape, dtype=values.dtype)[...] = values
        group.attrs["record"] = json.loads(json.dumps(record, default=str))
        if path.exists():
            shutil.rmtree(path)
        os.replace(temporary, path)
        return True
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        logger.warning(
            "Cannot write frozen features next to the data in %s (%s): keeping them in memory for this session.",
            path.parent, error,
        )  # fmt: skip
        return False
