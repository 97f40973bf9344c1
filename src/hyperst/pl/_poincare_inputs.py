"""What :func:`hyperst.pl.poincare` reads from the prediction table: levels, curvature, colours, chosen spots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._constants import HIERARCHY_PAIRS, STREAMS, Key
from hyperst._logging import logger

if TYPE_CHECKING:
    from anndata import AnnData

#: Streams that are parents in the hierarchy (they have entailment cones).
HIERARCHY_PARENTS = tuple(dict.fromkeys(parent for parent, _ in HIERARCHY_PAIRS))


def hyperbolic_params(table: AnnData, table_key: str) -> tuple[float, dict[str, Any]]:
    """Return the curvature parameter ``c`` and the model configuration recorded by ``hst.tl.predict``."""
    record = table.uns.get(Key.UNS)
    if not isinstance(record, dict):
        raise KeyError(f"Table {table_key!r} has no uns[{Key.UNS!r}] record. Run `hst.tl.predict` first.")
    geometry = record.get("geometry", "lorentz")
    if geometry != "lorentz" or record.get("curvature") is None:
        raise ValueError(
            f"Table {table_key!r} holds no hyperbolic embeddings (geometry {geometry!r}, no curvature in "
            f"uns[{Key.UNS!r}]): the model was trained with `alignment` other than 'hyperbolic'. Fit with "
            "`alignment='hyperbolic'` (the default) to plot the Poincaré disk."
        )
    return float(record["curvature"]), dict(record.get("config") or {})


def resolve_streams(table: AnnData, levels: str | Sequence[str], table_key: str) -> list[str]:
    """Return the requested embedding streams that the table holds, in the order given; raise when none is left."""
    levels = [levels] if isinstance(levels, str) else list(levels)
    unknown = [level for level in levels if level not in STREAMS]
    if unknown or not levels:
        raise ValueError(f"Unknown embedding level(s) {unknown}; choose from {list(STREAMS)}.")
    present = [level for level in levels if Key.embedding(level) in table.obsm]
    missing = [level for level in levels if level not in present]
    if not present:
        raise KeyError(
            f"Table {table_key!r} has none of the levels {levels} (obsm keys {[Key.embedding(lv) for lv in levels]}). "
            "Run `hst.tl.predict` first; gene levels exist only for spots with measured counts."
        )
    if missing:
        logger.info("Table %r has no %s embeddings (no measured counts); plotting %s.", table_key, missing, present)
    return present


def subsample(n: int, max_points: int | None, seed: int) -> np.ndarray:
    """Return sorted row indices: all rows, or ``max_points`` of them drawn without replacement with ``seed``."""
    if max_points is not None and (isinstance(max_points, bool) or int(max_points) < 1):
        raise ValueError(f"`max_points` must be a positive integer or None; got {max_points!r}.")
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=int(max_points), replace=False))


def choose_spots(table: AnnData, spots: int | Sequence[int | str] | None, order: np.ndarray, name: str) -> np.ndarray:
    """Return the rows of the spots for ``links`` / ``cones``.

    ``n`` gives the first ``n`` rows of the random ``order`` of the plotted rows (so ``links`` and ``cones`` drawn at
    random share their spots); a list gives row indices or obs names.
    """
    if spots is None:
        return np.array([], dtype=int)
    if isinstance(spots, bool):
        raise TypeError(f"`{name}` takes a number of random spots or a list of spots (row indices or obs names).")
    if isinstance(spots, int | np.integer):
        if spots < 0:
            raise ValueError(f"`{name}` must be a non-negative number of spots; got {spots}.")
        return np.sort(order[: int(spots)])
    if isinstance(spots, str):
        spots = [spots]
    rows = []
    for spot in spots:
        if isinstance(spot, str):
            if spot not in table.obs_names:
                raise KeyError(f"`{name}`: no spot named {spot!r} in the table's obs_names.")
            rows.append(table.obs_names.get_loc(spot))
        elif isinstance(spot, int | np.integer) and -table.n_obs <= spot < table.n_obs:
            rows.append(int(spot) % table.n_obs)
        else:
            raise ValueError(f"`{name}`: {spot!r} is neither an obs name nor a row index below {table.n_obs}.")
    return np.asarray(rows, dtype=int)


@dataclass
class Colouring:
    """Colour values of the plotted spots: categories (with their colours) or numbers (with a colour map)."""

    label: str
    values: np.ndarray  # category codes (-1: missing) or floats
    categories: list[str] | None = None
    palette: list[str] | None = None


def resolve_colour(table: AnnData, color: str, rows: np.ndarray, layer: str) -> Colouring:
    """Return the colour values of ``rows`` from an obs column (categorical or numeric) or a gene of ``layer``."""
    import pandas as pd

    in_obs, in_var = color in table.obs.columns, color in table.var_names
    if in_obs and in_var:
        raise ValueError(f"{color!r} is both an obs column and a gene of the table; rename the obs column.")
    if in_var:
        if layer not in table.layers:
            raise KeyError(f"The table has no layer {layer!r} (layers: {list(table.layers)}); use `layer='predicted'`.")
        column = table.var_names.get_loc(color)
        values = np.asarray(table.layers[layer][rows, column], dtype=np.float64).ravel()
        return Colouring(f"{color} ({layer}, log2(1 + count))", values)
    if not in_obs:
        raise KeyError(f"{color!r} is neither an obs column nor a gene of the table (obs: {list(table.obs.columns)}).")
    column = table.obs[color]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return Colouring(color, column.to_numpy(dtype=np.float64)[rows])
    column = column.astype("category")
    categories = [str(c) for c in column.cat.categories]
    return Colouring(color, column.cat.codes.to_numpy()[rows], categories, _palette(table, color, len(categories)))


def _palette(table: AnnData, key: str, n: int) -> list[str]:
    """Return the colours of ``n`` categories: scanpy's stored ``uns[f"{key}_colors"]``, else Okabe–Ito, else scanpy's."""
    from hyperst.pl._utils import OKABE_ITO

    stored = table.uns.get(f"{key}_colors")
    if stored is not None and len(stored) == n:
        return [str(c) for c in stored]
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO[:n])
    from scanpy.plotting.palettes import default_20, default_28, default_102

    if n > len(default_102):
        raise ValueError(f"{key!r} has {n} categories: too many to tell apart by colour; colour by a coarser column.")
    logger.info("%d categories in %r: more than the 8 colour-blind-safe colours; using scanpy's palette.", n, key)
    palette = default_20 if n <= len(default_20) else default_28 if n <= len(default_28) else default_102
    return list(palette[:n])
