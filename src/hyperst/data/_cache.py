"""A crop cache: every spot's spot and niche crop decoded once, kept in memory or in ``.npy`` memory maps.

Multi-epoch training then reads uint8 arrays instead of decoding image chunks each epoch. On disk, a small JSON
fingerprint (spots, image keys, crop sizes, pixel sizes) lets a later run reuse the files and refuses stale ones.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hyperst._logging import logger
from hyperst.data._loader import extract_crops
from hyperst.data._sections import CROP_KINDS

if TYPE_CHECKING:
    from hyperst.data._spots import SpotData


class CropCache:
    """Spot and niche crops of all spots at one output size.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`).
    size
        Crop side in pixels (the encoder's input size).
    directory
        Folder for ``.npy`` memory maps (reused when they match these spots); ``None`` keeps the crops in memory
        (``2 * n_spots * 3 * size**2`` bytes).
    batch_size
        Crops read together while filling.
    n_jobs
        Processes reading crops while filling (see :func:`~hyperst.data.crop_batches`).
    progress
        Show progress bars while filling.

    Attributes
    ----------
    spot, niche
        ``(n_spots, 3, size, size)`` uint8 arrays (or memory maps) indexed like ``spots``.
    """

    def __init__(
        self,
        spots: SpotData,
        *,
        size: int,
        directory: str | Path | None = None,
        batch_size: int = 64,
        n_jobs: int = 1,
        progress: bool = False,
    ) -> None:
        self.size = int(size)
        self.fingerprint = _fingerprint(spots, self.size)
        shape = (spots.n_spots, 3, self.size, self.size)
        arrays: dict[str, np.ndarray] = {}
        if directory is None:
            for kind in CROP_KINDS:
                arrays[kind] = extract_crops(
                    spots, kind=kind, size=self.size, batch_size=batch_size, n_jobs=n_jobs, progress=progress
                )
        else:
            directory = Path(directory)
            directory.mkdir(parents=True, exist_ok=True)
            meta = directory / "crops.json"
            paths = {kind: directory / f"{kind}_crops_{self.size}px.npy" for kind in CROP_KINDS}
            if _matches(meta, self.fingerprint) and all(p.exists() for p in paths.values()):
                logger.info("Reusing cached crops in %s.", directory)
                arrays = {kind: np.load(path, mmap_mode="r") for kind, path in paths.items()}
            else:
                meta.unlink(missing_ok=True)
                for kind, path in paths.items():
                    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
                    extract_crops(
                        spots,
                        kind=kind,
                        size=self.size,
                        batch_size=batch_size,
                        out=out,
                        n_jobs=n_jobs,
                        progress=progress,
                    )
                    out.flush()
                    arrays[kind] = np.load(path, mmap_mode="r")
                meta.write_text(json.dumps({"fingerprint": self.fingerprint}))
        self.spot, self.niche = arrays["spot"], arrays["niche"]

    def __len__(self) -> int:
        return len(self.spot)

    def get(self, kind: str) -> np.ndarray:
        """Return the ``"spot"`` or ``"niche"`` crops."""
        if kind not in CROP_KINDS:
            raise ValueError(f"`kind` must be one of {CROP_KINDS}, got {kind!r}.")
        return self.spot if kind == "spot" else self.niche


def _fingerprint(spots: SpotData, size: int) -> str:
    digest = hashlib.sha256()
    digest.update(str(size).encode())
    for section in spots.sections:
        record = [section.spots_key, section.image_key, section.microns_per_pixel, section.spot_diameter_um]
        digest.update(json.dumps(record + [section.spot_spacing_um, section.value_scale]).encode())
        digest.update(np.ascontiguousarray(section.centres_px, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _matches(meta: Path, fingerprint: str) -> bool:
    if not meta.exists():
        return False
    try:
        return json.loads(meta.read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False
