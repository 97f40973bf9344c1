"""Lazy access to H&E image elements: pyramid levels, channel and dtype checks, batched window reads.

Windows are cut from whole image chunks, each read once and kept in a :class:`BlockCache` while nearby windows
need it (spots are visited in chunk order); chunks over :data:`BLOCK_MAX_BYTES` are sliced per group of nearby
windows instead. Memory depends on the crop size, the batch size and the cache's bound, never on the slide size.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._logging import logger

if TYPE_CHECKING:
    from xarray import DataArray

BACKGROUND = 255  # white: the colour of glass in bright-field H&E, used to pad crops that leave the image
# A dask slice costs about a millisecond of graph building and scheduling, far more than a crop's pixels: chunks up to
# this size (as stored) are read whole, once, and windows are cut from them in numpy.
BLOCK_MAX_BYTES = 2**26
BLOCK_CACHE_BYTES = 2**25  # chunks kept per reader (as uint8 RGB), least recently used dropped first


@dataclass(frozen=True)
class ImageLevel:
    """One resolution level of an image element.

    Attributes
    ----------
    data
        The ``(c, y, x)`` array (dask or numpy) of this level.
    downscale
        Level-0 pixels per pixel of this level, ``(x, y)``.
    """

    data: Any
    downscale: tuple[float, float]

    @property
    def shape_yx(self) -> tuple[int, int]:
        """Height and width in pixels."""
        return int(self.data.shape[1]), int(self.data.shape[2])


def image_levels(element: Any, key: str) -> list[ImageLevel]:
    """List the levels of a single-scale (``DataArray``) or multiscale (``DataTree``) image, finest first."""
    from spatialdata.transformations import get_transformation

    arrays = _level_arrays(element, key)
    base = get_transformation(arrays[0], get_all=True)
    if not base:
        return [ImageLevel(arrays[0].data, (1.0, 1.0))]
    system = next(iter(base))
    base_matrix = _matrix(base[system])
    levels = []
    for array in arrays:
        # level pixel -> coordinate system -> level-0 pixel
        to_base = np.linalg.inv(base_matrix) @ _matrix(get_transformation(array, to_coordinate_system=system))
        levels.append(ImageLevel(array.data, (float(abs(to_base[0, 0])), float(abs(to_base[1, 1])))))
    return sorted(levels, key=lambda level: level.downscale[0])


def check_image(element: Any, key: str) -> tuple[int, ...]:
    """Check an image is RGB(A) with uint8 or float values; return the channel indices to read (RGB).

    Raises
    ------
    TypeError
        For other channel counts or dtypes, with the conversion to make.
    """
    array = _level_arrays(element, key)[0]
    if array.dims != ("c", "y", "x"):
        raise TypeError(f"Image '{key}' has dims {array.dims}; a 2D image with dims ('c', 'y', 'x') is needed.")
    n_channels, dtype = array.shape[0], np.dtype(array.dtype)
    if n_channels not in (3, 4):
        raise TypeError(
            f"Image '{key}' has {n_channels} channel(s); HyperST needs an RGB H&E image (3 channels, or 4 with alpha). "
            f"Select or convert the RGB channels first, e.g. `sdata.images[{key!r}] = "
            f"Image2DModel.parse(rgb_array, dims=('c', 'y', 'x'))`."
        )
    if dtype != np.uint8 and dtype.kind != "f":
        raise TypeError(
            f"Image '{key}' has dtype {dtype}; HyperST reads uint8 RGB (0-255) or float RGB (0-1) images. "
            "Convert it first, e.g. `(image / image.max() * 255).astype('uint8')` for a uint16 scan."
        )
    if n_channels == 4:
        logger.info("Image '%s' has 4 channels: reading RGB and dropping the alpha channel.", key)
    return (0, 1, 2)


def value_scale(dtype: np.dtype, sample_max: float) -> float:
    """Factor that maps the image's values to 0-255: 1 for uint8, 255 for float images in [0, 1]."""
    if np.dtype(dtype) == np.uint8:
        return 1.0
    if sample_max <= 1.0 + 1e-6:
        return 255.0
    logger.warning("Float image with values above 1 (max %.1f in sampled windows): reading it as 0-255.", sample_max)
    return 1.0


class BlockCache:
    """Whole image chunks as ``(3, h, w)`` uint8, read once and kept for the next windows (one per crop reader).

    At most about ``max_bytes`` are kept, the least recently used chunks dropped first; a batch whose windows touch
    more chunks holds them all while it is cut.
    """

    def __init__(self, max_bytes: int = BLOCK_CACHE_BYTES) -> None:
        self.max_bytes, self.nbytes = int(max_bytes), 0
        self.blocks: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def get(self, key: tuple) -> np.ndarray | None:
        block = self.blocks.get(key)
        if block is not None:
            self.blocks.move_to_end(key)
        return block

    def put(self, key: tuple, block: np.ndarray) -> None:
        self.blocks[key] = block
        self.nbytes += block.nbytes

    def trim(self) -> None:
        """Drop the least recently used chunks beyond the bound."""
        while self.nbytes > self.max_bytes and len(self.blocks) > 1:
            self.nbytes -= self.blocks.popitem(last=False)[1].nbytes


def read_windows(
    level: ImageLevel,
    boxes: np.ndarray,
    size: int | None,
    *,
    channels: tuple[int, ...] = (0, 1, 2),
    scale: float = 1.0,
    fill: int = BACKGROUND,
    paint: bool = False,
    blocks: BlockCache | None = None,
) -> list[np.ndarray]:
    """Read square windows, resample each to ``size`` px and return ``(3, size, size)`` uint8 arrays.

    Parameters
    ----------
    level
        Pyramid level to read from.
    boxes
        ``(n, 4)`` windows ``x0, y0, x1, y1`` in continuous pixel coordinates of this level (pixel ``i`` covers
        ``[i, i + 1)``); parts outside the image are filled with ``fill``.
    size
        Output side in pixels; ``None`` keeps the raw integer window (for checks).
    channels
        Channel indices to read.
    scale
        Multiplier mapping the stored values to 0-255 (see :func:`value_scale`).
    fill
        Grey value of padding outside the image.
    paint
        Paint the background pixels white (:func:`paint_background`) at the level's resolution, before resampling,
        so a background's colour does not bleed into the tissue pixels next to it.
    blocks
        Chunks read by earlier calls on the same image (a reader's cache); default: kept for this call only.
    """
    from PIL import Image

    height, width = level.shape_yx
    plans = []
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=float):
        ix0, iy0 = int(np.floor(x0)) - 1, int(np.floor(y0)) - 1  # one pixel margin for interpolation
        ix1, iy1 = int(np.ceil(x1)) + 1, int(np.ceil(y1)) + 1
        cx0, cy0, cx1, cy1 = max(ix0, 0), max(iy0, 0), min(ix1, width), min(iy1, height)
        plans.append((ix0, iy0, ix1, iy1, cx0, cy0, cx1, cy1, x0, y0, x1, y1))
    clipped = [p[4:8] for p in plans]
    channel_index = slice(0, 3) if tuple(channels) == (0, 1, 2) else list(channels)
    if _blockwise(level):
        values = _cut_from_blocks(level, clipped, channel_index, scale, BlockCache() if blocks is None else blocks)
    else:
        values = _read_groups(level, clipped, channel_index, scale)
    out = []
    for i, plan in enumerate(plans):
        ix0, iy0, ix1, iy1, cx0, cy0, cx1, cy1, x0, y0, x1, y1 = plan
        piece = values.get(i)
        if (cx0, cy0, cx1, cy1) == (ix0, iy0, ix1, iy1):
            window = piece  # fully inside the image: no padding copy
        else:
            window = np.full((3, iy1 - iy0, ix1 - ix0), fill, dtype=np.uint8)
            if piece is not None:
                window[:, cy0 - iy0 : cy1 - iy0, cx0 - ix0 : cx1 - ix0] = piece
        if paint:
            window = paint_background(window[None])[0]
        if size is None:
            out.append(np.ascontiguousarray(window))
            continue
        box = (x0 - ix0, y0 - iy0, x1 - ix0, y1 - iy0)
        # one 8-bit plane at a time: no channel-last copies, and faster than PIL's RGB path
        out.append(np.stack([_resize(np.ascontiguousarray(plane), size, box, Image) for plane in window]))
    return out


def _blockwise(level: ImageLevel) -> bool:
    """Whether windows are cut from whole chunks: a dask array whose chunks are at most :data:`BLOCK_MAX_BYTES`."""
    chunks = getattr(level.data, "chunks", None)
    if chunks is None or not hasattr(level.data, "dask"):
        return False
    return max(chunks[1]) * max(chunks[2]) * 3 * np.dtype(level.data.dtype).itemsize <= BLOCK_MAX_BYTES


def _cut_from_blocks(
    level: ImageLevel, windows: list[tuple[int, int, int, int]], channel_index: Any, scale: float, cache: BlockCache
) -> dict[int, np.ndarray]:
    """``{i: (3, y1 - y0, x1 - x0) uint8}`` of each non-empty window, cut from whole chunks (read once, in one call)."""
    import dask

    y_edges = np.cumsum((0, *level.data.chunks[1]))
    x_edges = np.cumsum((0, *level.data.chunks[2]))
    token = (getattr(level.data, "name", id(level.data)), str(channel_index), float(scale))
    spans, needed = {}, {}
    for i, (x0, y0, x1, y1) in enumerate(windows):
        if x1 <= x0 or y1 <= y0:
            continue
        rows = range(np.searchsorted(y_edges, y0, "right") - 1, np.searchsorted(y_edges, y1 - 1, "right"))
        columns = range(np.searchsorted(x_edges, x0, "right") - 1, np.searchsorted(x_edges, x1 - 1, "right"))
        spans[i] = (rows, columns)
        needed.update({(token, r, c): None for r in rows for c in columns})
    missing = [key for key in needed if cache.get(key) is None]
    reads = [level.data[channel_index, y_edges[r] : y_edges[r + 1], x_edges[c] : x_edges[c + 1]] for _, r, c in missing]
    for key, block in zip(missing, dask.compute(*reads) if reads else (), strict=True):
        block = _to_uint8(np.asarray(block), scale)
        cache.put(key, block if block.base is None else block.copy())  # never a view of the caller's array
    values = {}
    for i, (rows, columns) in spans.items():
        x0, y0, x1, y1 = windows[i]
        if len(rows) == 1 and len(columns) == 1:  # inside one chunk: a view
            by, bx = y_edges[rows[0]], x_edges[columns[0]]
            values[i] = cache.get((token, rows[0], columns[0]))[:, y0 - by : y1 - by, x0 - bx : x1 - bx]
            continue
        window = np.empty((3, y1 - y0, x1 - x0), dtype=np.uint8)
        for r in rows:
            for c in columns:
                by0, by1 = max(y0, y_edges[r]), min(y1, y_edges[r + 1])
                bx0, bx1 = max(x0, x_edges[c]), min(x1, x_edges[c + 1])
                block = cache.get((token, r, c))
                window[:, by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = block[
                    :, by0 - y_edges[r] : by1 - y_edges[r], bx0 - x_edges[c] : bx1 - x_edges[c]
                ]
        values[i] = window
    cache.trim()
    return values


def _read_groups(
    level: ImageLevel, windows: list[tuple[int, int, int, int]], channel_index: Any, scale: float
) -> dict[int, np.ndarray]:
    """``{i: (3, y1 - y0, x1 - x0) uint8}`` of each non-empty window: one slice per group of nearby windows."""
    import dask

    # One dask slice per group of nearby windows (not per window): slicing and graph optimisation cost far more
    # than the pixels of a crop, and windows of one batch lie in the same few chunks.
    groups = _group_windows(windows)
    regions = [level.data[channel_index, y0:y1, x0:x1] for x0, y0, x1, y1 in (g[0] for g in groups)]
    regions = [_to_uint8(np.asarray(r), scale) for r in dask.compute(*regions)] if regions else []
    values: dict[int, np.ndarray] = {}
    for ((gx0, gy0, _, _), members), region in zip(groups, regions, strict=True):
        for i in members:
            cx0, cy0, cx1, cy1 = windows[i]
            values[i] = region[:, cy0 - gy0 : cy1 - gy0, cx0 - gx0 : cx1 - gx0]
    return values


def _group_windows(
    windows: list[tuple[int, int, int, int]], *, overhead: float = 4.0
) -> list[tuple[tuple[int, int, int, int], list[int]]]:
    """Group consecutive windows ``x0, y0, x1, y1`` whose bounding box stays small; skip empty windows.

    A group's bounding box grows while its area is at most ``overhead`` times the summed area of its windows, so
    the pixels read stay within a few times those of the windows themselves, however the spots are spread.
    Returns ``(bounding box, window indices)`` per group.
    """
    groups: list[tuple[tuple[int, int, int, int], list[int]]] = []
    box, members, area = None, [], 0
    for i, (x0, y0, x1, y1) in enumerate(windows):
        if x1 <= x0 or y1 <= y0:
            continue
        if box is not None:
            merged = (min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1))
            merged_area = (merged[2] - merged[0]) * (merged[3] - merged[1])
            if merged_area <= overhead * (area + (x1 - x0) * (y1 - y0)):
                box, area = merged, area + (x1 - x0) * (y1 - y0)
                members.append(i)
                continue
            groups.append((box, members))
        box, members, area = (x0, y0, x1, y1), [i], (x1 - x0) * (y1 - y0)
    if box is not None:
        groups.append((box, members))
    return groups


def _resize(plane: np.ndarray, size: int, box: tuple[float, ...], image_module: Any) -> np.ndarray:
    """Bilinear resampling (antialiased when shrinking) of the continuous ``box`` of a 2D uint8 plane."""
    resized = image_module.fromarray(plane).resize((size, size), resample=image_module.Resampling.BILINEAR, box=box)
    return np.asarray(resized)


# Background that is not glass: a masked export's black and scanners' black padding. Written by hand: squidpy's
# `detect_tissue` works on whole images (a luminance threshold against the corners' colour) and takes a black
# background for tissue (docs/data.md, "Backgrounds"). Glass itself is left as scanned: pixel by pixel, pale stroma
# cannot be told from glass (on her2st B4, painting bright grey pixels white cost 0.1 of raw r, benchmarks.md).
DARK_MAX = 40  # no channel above this: black masks and padding (haematoxylin-dense nuclei keep a brighter channel)


def background_mask(crops: np.ndarray) -> np.ndarray:
    """``(n, h, w)`` mask of the non-glass background pixels of ``(n, 3, h, w)`` uint8 crops: near black.

    On her2st 0.06 % of the pixels under the tissue are this dark (artefacts, folds); a masked export's black
    and a scanner's black padding are all of it.
    """
    return np.asarray(crops).max(axis=1) <= DARK_MAX


def paint_background(crops: np.ndarray, fill: int = BACKGROUND) -> np.ndarray:
    """Return ``(n, 3, h, w)`` uint8 crops with their :func:`background_mask` pixels set to ``fill`` (white, as glass)."""
    return np.where(background_mask(crops)[:, None], np.uint8(fill), crops)


def tissue_fraction(crops: np.ndarray) -> np.ndarray:
    """Fraction of pixels of ``(n, 3, h, w)`` uint8 crops that look like stained tissue (saturated colour).

    Glass (white), dark borders and grey padding have low saturation; haematoxylin and eosin are saturated.
    """
    crops = np.asarray(crops, dtype=np.float32)
    high, low = crops.max(axis=1), crops.min(axis=1)
    saturated = (high - low) > 0.1 * np.maximum(high, 1.0)
    return (saturated & (high > 30)).reshape(len(crops), -1).mean(axis=1)


def _to_uint8(values: np.ndarray, scale: float) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    return np.clip(np.nan_to_num(values.astype(np.float32) * scale), 0, 255).round().astype(np.uint8)


def _level_arrays(element: Any, key: str) -> list[DataArray]:
    from xarray import DataArray, DataTree

    if isinstance(element, DataArray):
        return [element]
    if isinstance(element, DataTree):
        names = sorted(element.children, key=lambda name: int("".join(c for c in name if c.isdigit()) or 0))
        return [next(iter(element[name].ds.data_vars.values())) for name in names]
    raise TypeError(f"Image '{key}' is a {type(element).__name__}, not a SpatialData image (DataArray or DataTree).")


def _matrix(transformation: Any) -> np.ndarray:
    return transformation.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))


def choose_level(levels: list[ImageLevel], window_px: float, size: int) -> ImageLevel:
    """Pick the coarsest level with at least one pixel per output pixel for a window of ``window_px`` level-0 px.

    Reading from a coarser level would blur the crop; reading from a finer one wastes I/O.
    """
    target = window_px / size  # level-0 pixels per output pixel
    fine_enough = [level for level in levels if level.downscale[0] <= target * 1.1]
    return fine_enough[-1] if fine_enough else levels[0]


def window_boxes(centres_px: np.ndarray, side_px: float, level: ImageLevel) -> np.ndarray:
    """Square windows of ``side_px`` level-0 pixels around ``(n, 2)`` level-0 centres, as ``x0, y0, x1, y1`` of ``level``."""
    fx, fy = level.downscale
    half = side_px / 2
    x, y = centres_px[:, 0], centres_px[:, 1]
    return np.column_stack([(x - half) / fx, (y - half) / fy, (x + half) / fx, (y + half) / fy])


def sample_max(level: ImageLevel, boxes: np.ndarray, channels: tuple[int, ...]) -> float:
    """Largest stored value inside the windows (to tell float images in [0, 1] from [0, 255])."""
    import dask

    height, width = level.shape_yx
    parts = []
    for x0, y0, x1, y1 in boxes:
        cx0, cy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        cx1, cy1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
        if cx1 > cx0 and cy1 > cy0:
            parts.append(level.data[list(channels), cy0:cy1, cx0:cx1].max())
    return float(np.nanmax(dask.compute(*parts))) if parts else 1.0
