"""``hst.datasets.hest``: samples of HEST-1k downloaded from the Hugging Face Hub (gated), then read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hyperst._constants import DATA_DIR_ENV
from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata import SpatialData

HEST_REPO = "MahmoodLab/hest"
HEST_URL = f"https://huggingface.co/datasets/{HEST_REPO}"
# Files of a sample that `hst.io.read_hest` needs, relative to the dataset's root.
HEST_FILES = ("st/{id}.h5ad", "wsis/{id}.tif", "metadata/{id}.json")


def hest(
    ids: str | Sequence[str],
    *,
    join: Literal["union", "inner"] = "union",
    include: Sequence[str] = (),
    data_dir: str | Path | None = None,
    token: str | None = None,
) -> SpatialData:
    """Download samples of HEST-1k (Jaume et al., NeurIPS 2024) once, then read them with :func:`hyperst.io.read_hest`.

    HEST-1k is a gated dataset on the Hugging Face Hub: accept its terms at
    ``https://huggingface.co/datasets/MahmoodLab/hest`` with your account, then make a read token available
    (``HF_TOKEN`` environment variable, ``hf auth login``, or ``token=``). Only the listed samples' files are
    fetched (:func:`huggingface_hub.snapshot_download` with one pattern per file), into ``hest/`` of the dataset
    cache (``$HYPERST_DATA_DIR``, default the user cache folder); samples already there are read without network.

    Parameters
    ----------
    ids
        HEST sample ids (column ``id`` of HEST's metadata table), e.g. ``["TENX95", "NCBI783"]``.
    join
        Genes of the table: ``"union"`` or ``"inner"`` (see :func:`hyperst.io.read_hest`).
    include
        Optional HEST folders to download as well, e.g. ``("tissue_seg", "cellvit_seg")``; hyperst does not need
        them.
    data_dir
        Cache folder, overriding ``$HYPERST_DATA_DIR``.
    token
        Hugging Face token; default the one ``huggingface_hub`` finds.

    Returns
    -------
    The samples as one SpatialData object (see :func:`hyperst.io.read_hest`).

    Examples
    --------
    >>> sdata = hst.datasets.hest(ids=["TENX95"])  # doctest: +SKIP
    """
    from hyperst.io import read_hest

    ids = [ids] if isinstance(ids, str) else list(ids)
    if not ids or len(set(ids)) != len(ids) or not all(isinstance(i, str) and i.strip() for i in ids):
        raise ValueError(f"`ids` must be distinct HEST sample ids (strings), got {ids}.")
    if isinstance(include, str):
        include = [include]
    root = cache_dir(data_dir) / "hest"
    missing = [i for i in ids if not all((root / f.format(id=i)).is_file() for f in HEST_FILES)]
    if missing or include:
        _download(root, missing if not include else ids, include, token)
    absent = [i for i in ids if not (root / "st" / f"{i}.h5ad").is_file()]
    if absent:
        raise KeyError(
            f"HEST-1k has no samples {absent} (nothing was downloaded for them). Check the ids against the `id` "
            f"column of HEST's metadata table ({HEST_URL}, file HEST_v1_1_0.csv)."
        )
    return read_hest(root, ids, join=join)


def cache_dir(data_dir: str | Path | None = None) -> Path:
    """Return the dataset cache: ``data_dir``, else ``$HYPERST_DATA_DIR``, else the user cache folder."""
    import os

    import pooch

    if data_dir is not None:
        return Path(data_dir)
    return Path(os.environ.get(DATA_DIR_ENV) or pooch.os_cache("hyperst"))


def allow_patterns(ids: Sequence[str], include: Sequence[str] = ()) -> list[str]:
    """Return the Hub patterns of the samples' files: the three hyperst reads, plus ``{folder}/{id}*`` per folder."""
    patterns = [f.format(id=i) for i in ids for f in HEST_FILES]
    return patterns + [f"{folder.strip('/')}/{i}[_.]*" for i in ids for folder in include]


def _download(root: Path, ids: Sequence[str], include: Sequence[str], token: str | None) -> None:
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError as err:
        raise ImportError(
            "Downloading HEST-1k needs huggingface_hub: `pip install huggingface-hub` (or `pip install hyperst[hest]`)."
        ) from err
    logger.info("Downloading HEST-1k samples %s into %s.", list(ids), root)
    try:
        huggingface_hub.snapshot_download(
            HEST_REPO, repo_type="dataset", local_dir=root, allow_patterns=allow_patterns(ids, include), token=token
        )
    except errors.RepositoryNotFoundError as err:  # includes GatedRepoError: gated repos answer 401/403/404
        raise PermissionError(_access_message(err)) from err
    except errors.HfHubHTTPError as err:
        if err.response is not None and err.response.status_code in (401, 403):
            raise PermissionError(_access_message(err)) from err
        raise OSError(f"Downloading HEST-1k samples {list(ids)} failed: {err}") from err
    except (errors.LocalEntryNotFoundError, OSError) as err:  # offline, or the Hub unreachable
        raise OSError(
            f"Could not download HEST-1k samples {list(ids)} ({err}). Check the connection, or put the files "
            f"({', '.join(HEST_FILES)}) under {root} to work offline."
        ) from err


def _access_message(err: Exception) -> str:
    from huggingface_hub import get_token

    found = "A token was found but it has no access." if get_token() else "No Hugging Face token was found."
    return (
        f"Cannot download HEST-1k from {HEST_URL}: access denied ({type(err).__name__}). {found} The dataset is "
        f"gated. To get access: 1) log in at {HEST_URL} and accept the terms; 2) create a read token at "
        "https://huggingface.co/settings/tokens; 3) set it as the HF_TOKEN environment variable (or run "
        "`hf auth login`, or pass `token=`)."
    )
