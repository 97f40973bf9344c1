"""Read SpatialData zarr stores and write outputs atomically: staged next to the target, then moved into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata import SpatialData


def check_output(path: str | Path, overwrite: bool) -> Path:
    """Fail before any work when ``path`` exists and ``overwrite`` is off; return it as a ``Path``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it, or choose another output.")
    return path


def check_input(path: str | Path, what: str) -> Path:
    """Fail with one line when ``path`` does not exist."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist.")
    return path


def read_store(path: str | Path) -> SpatialData:
    """Open a SpatialData zarr store lazily (images stay on disk until read)."""
    path = check_input(path, "The input")
    import spatialdata

    try:
        sdata = spatialdata.read_zarr(path)
    except (ValueError, OSError) as error:  # zarr's "no group found" is both
        raise ValueError(f"{path} is not a SpatialData zarr store ({error}).") from error
    logger.info(
        "Read %s: %d image(s), %d shapes, %d table(s).", path, *map(len, (sdata.images, sdata.shapes, sdata.tables))
    )
    return sdata


def write_store(sdata: SpatialData, path: str | Path, *, overwrite: bool) -> None:
    """Write ``sdata`` to the zarr store ``path`` so that ``path`` is either complete or untouched."""
    import anndata

    # anndata's current layout, chosen explicitly: unset, it warns once per array that sharding becomes the default
    with anndata.settings.override(auto_shard_zarr_v3=False):
        _write_atomically(lambda staged: sdata.write(staged), Path(path), overwrite=overwrite)


def write_text(text: str, path: str | Path) -> None:
    """Write a small text file (metrics) atomically, replacing an existing one."""
    _write_atomically(lambda staged: staged.write_text(text), Path(path), overwrite=True)


def _write_atomically(write: Callable[[Path], object], path: Path, *, overwrite: bool) -> None:
    """Run ``write`` on a path in a temporary folder next to ``path``, then rename it to ``path``.

    A rename within one folder is atomic on POSIX file systems, so a job killed mid-write leaves at most the hidden
    temporary folder, never a half-written ``path``. An existing ``path`` is moved aside first and restored if the
    rename fails; it may be the store the data was read from, which is safe: everything is written before it moves.
    """
    path = path.absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        staged = staging / path.name
        write(staged)
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} appeared while writing; pass --overwrite to replace it.")
            replaced = staging / "replaced"
            os.replace(path, replaced)
            try:
                os.replace(staged, path)
            except OSError:
                os.replace(replaced, path)
                raise
        else:
            os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Wrote %s.", path)
