"""Duplicate HEST samples: byte-identical files, or one section published under two ids.

HEST-1k gathers public datasets, and a few sections appear twice (the same 10x sample under its GEO and its 10x
id). Two copies of a section on both sides of a train/test split inflate scores, so they are named in a warning.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from hyperst._constants import Key
from hyperst._logging import logger

_BLOCK = 1 << 22  # bytes hashed at a time (4 MiB)


def warn_duplicates(root: Path, parts: list[dict[str, Any]]) -> list[list[str]]:
    """Log a warning naming each group of samples that look like one section; return the groups.

    Two samples are duplicates when their counts (``st/``) or slides (``wsis/``) are byte-identical, or when they
    have the same patient, the same slide size in pixels, the same number of spots and the same total count.
    Files are hashed only when another file of the same kind has the same size, so large slides are rarely read.
    """
    groups: list[list[str]] = []
    for folder, suffix in (("st", ".h5ad"), ("wsis", ".tif")):
        paths = {p["sample"]: root / folder / f"{p['sample']}{suffix}" for p in parts}
        for group in _identical_files(paths):
            groups.append(group)
            logger.warning(
                "HEST samples %s have byte-identical %s/ files: they are one sample under several ids. Keep one, "
                "or they leak across train/test splits.",
                group, folder,
            )  # fmt: skip
    by_fingerprint: dict[tuple, list[str]] = defaultdict(list)
    for part in parts:
        table, image = part["table"], part["image"]
        shape = tuple(_level0(image).shape)
        total = round(float(table.X.sum()))
        by_fingerprint[(table.obs[Key.PATIENT].iloc[0], shape, table.n_obs, total)].append(part["sample"])
    for group in by_fingerprint.values():
        if len(group) > 1 and not any(set(group) <= set(known) for known in groups):
            groups.append(group)
            logger.warning(
                "HEST samples %s look like one section under several ids (same patient, slide size, number of spots "
                "and total count). Keep one, or they leak across train/test splits.",
                group,
            )
    return groups


def _identical_files(paths: dict[str, Path]) -> list[list[str]]:
    by_size: dict[int, list[str]] = defaultdict(list)
    for sample, path in paths.items():
        by_size[path.stat().st_size].append(sample)
    groups = []
    for samples in by_size.values():
        if len(samples) < 2:
            continue
        by_hash: dict[str, list[str]] = defaultdict(list)
        for sample in samples:
            by_hash[_sha256(paths[sample])].append(sample)
        groups.extend(sorted(group) for group in by_hash.values() if len(group) > 1)
    return groups


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _level0(image: Any) -> Any:
    """Level-0 array of a single-scale or multiscale image."""
    return image["scale0"]["image"] if hasattr(image, "children") and "scale0" in image.children else image
