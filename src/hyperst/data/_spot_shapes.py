"""Spot centres and radii read from the shapes element, and the image they sit on with the spots -> pixel affine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata import SpatialData

# An image is a candidate for a spots element when at least this fraction of the spot centres falls on it.
_MIN_INSIDE = 0.5


def spot_shapes(shapes: Any, instance_ids: np.ndarray, spots_key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Centres ``(n, 2)`` and radii ``(n,)`` (``None`` for bare points) of the given spots, in shapes coordinates.

    Circles are points with a ``radius`` column; polygons give their centroid and the radius of a disk of equal area.
    """
    positions = shapes.index.get_indexer(instance_ids)
    if (positions < 0).any():
        missing = np.asarray(instance_ids)[positions < 0][:5].tolist()
        raise KeyError(
            f"{(positions < 0).sum()} table rows point to spots missing from shapes {spots_key!r} "
            f"(instance ids {missing}); the table's instance key must match the index of the shapes element."
        )
    geometry = shapes.geometry.iloc[positions]
    kinds = set(geometry.geom_type)
    if kinds <= {"Point"}:
        centres = np.column_stack([geometry.x.to_numpy(), geometry.y.to_numpy()])
        radii = shapes["radius"].to_numpy(dtype=float)[positions] if "radius" in shapes else None
    elif kinds <= {"Polygon", "MultiPolygon"}:
        centroids = geometry.centroid
        centres = np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()])
        radii = np.sqrt(geometry.area.to_numpy() / np.pi)
    else:
        raise TypeError(f"Shapes {spots_key!r} hold {sorted(kinds)} geometries; spots must be circles or polygons.")
    if not np.all(np.isfinite(centres)):
        raise ValueError(f"Shapes {spots_key!r} have spot centres that are NaN or infinite; drop or fix those spots.")
    return centres.astype(float), radii


def match_image(
    sdata: SpatialData, spots_key: str, centres: np.ndarray, image_key: str | None
) -> tuple[str, str, np.ndarray]:
    """Pick the image of a spots element; return it, the shared coordinate system and the 3x3 spots -> pixel affine.

    Without ``image_key``: every image sharing a coordinate system with the spots and covering most spot centres
    is a candidate; among images of the same area (e.g. hires and lowres of one Visium slide) the finest wins.
    """
    from spatialdata.transformations import get_transformation

    shapes = sdata.shapes[spots_key]
    spot_systems = get_transformation(shapes, get_all=True)
    if image_key is not None:
        if image_key not in sdata.images:
            raise KeyError(
                f"`image_key={image_key!r}` is not an image of the SpatialData object ({list(sdata.images)})."
            )
        names = [image_key]
    else:
        names = list(sdata.images)
    options = []
    for name in names:
        element = sdata.images[name]
        shared = [s for s in get_transformation(element, get_all=True) if s in spot_systems]
        if not shared:
            continue
        system = "global" if "global" in shared else sorted(shared)[0]
        matrix = _spots_to_pixels(shapes, element, system)
        height, width = _level0_shape(element)
        xy = centres @ matrix[:2, :2].T + matrix[:2, 2]
        inside = np.mean((xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height))
        options.append((name, system, matrix, inside, _extent(matrix, width, height)))
    if not options:
        if image_key is not None:
            raise ValueError(
                f"Image {image_key!r} has no coordinate system shared with shapes {spots_key!r} (spots: "
                f"{sorted(spot_systems)}); add a transformation with `spatialdata.transformations.set_transformation`."
            )
        raise ValueError(
            f"No image shares a coordinate system with shapes {spots_key!r} (its coordinate systems: "
            f"{sorted(spot_systems)}); pass `image_key=` and give both elements a common coordinate system."
        )
    if image_key is not None:
        name, system, matrix, _, _ = options[0]
        return name, system, matrix
    covering = [option for option in options if option[3] >= _MIN_INSIDE] or options
    covering.sort(key=lambda option: -abs(np.linalg.det(option[2][:2, :2])))  # finest first
    finest = covering[0]
    for other in covering[1:]:
        if _overlap(finest[4], other[4]) < 0.8:
            raise ValueError(
                f"Several images could belong to shapes {spots_key!r}: {[o[0] for o in covering]}. "
                f"Pass `image_key={{{spots_key!r}: ...}}`."
            )
    if len(covering) > 1:
        logger.info("Shapes %r: using image %r, the finest of %s.", spots_key, finest[0], [o[0] for o in covering])
    return finest[0], finest[1], finest[2]


def _spots_to_pixels(shapes: Any, image: Any, system: str) -> np.ndarray:
    """Affine of shapes coordinates -> coordinate system -> level-0 image pixels."""
    from spatialdata.transformations import Sequence, get_transformation

    to_system = get_transformation(shapes, to_coordinate_system=system)
    image_to_system = get_transformation(image, to_coordinate_system=system)
    sequence = Sequence([to_system, image_to_system.inverse()])
    return sequence.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))


def _level0_shape(element: Any) -> tuple[int, int]:
    from hyperst.data._image import image_levels

    return image_levels(element, "")[0].shape_yx


def _extent(matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return the image's bounding box in shapes coordinates, ``x0, y0, x1, y1``."""
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=float)
    inverse = np.linalg.inv(matrix)
    xy = corners @ inverse[:2, :2].T + inverse[:2, 2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)])


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0
