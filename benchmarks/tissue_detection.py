"""Tissue detection of ``hst.pp.tile_tissue`` on a whole-slide-sized read: time, spots, spots off the tissue.

A synthetic slide at the size cap of ``tile_tissue``'s working resolution (5000 x 5000 px at 7 µm per pixel, a 35 x
35 mm field read as it is): three round tissue pieces (1000, 700 and 150 px radius) on glass, with per-channel
scanner noise of +-20, once on white glass and once on yellowish (tinted) glass. ``hst.pp.tile_tissue`` lays the
default Visium grid; reported are its seconds (median of repeats, min-max; the first call's imports excluded), the
number of spots, and how many of them lie off the tissue pieces. Run it once with the code before squidpy's
``detect_tissue`` was used (``PYTHONPATH`` pointing at an export of that commit's ``src/``) and once after.

Run (one thread)::

    OMP_NUM_THREADS=1 python benchmarks/tissue_detection.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

SIDE = 5000
PIECES = [(1500, 1500, 1000), (3500, 3600, 700), (4000, 1000, 150)]  # y, x, radius in px
MPP = 7.0  # µm per pixel: 55 µm spots / 8 pixels per diameter, so the whole image is the working read


def synthetic_read(glass: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.zeros((SIDE, SIDE), dtype=bool)
    yy, xx = np.ogrid[:SIDE, :SIDE]
    for y, x, radius in PIECES:
        truth |= (yy - y) ** 2 + (xx - x) ** 2 < radius**2
    rgb = np.empty((3, SIDE, SIDE), dtype=np.int16)
    rgb[:] = np.array(glass)[:, None, None]
    rgb[:, truth] = np.array([200, 110, 170])[:, None]
    rgb += rng.integers(-20, 21, rgb.shape, dtype=np.int16)
    return np.clip(rgb, 0, 255).astype(np.uint8), truth


def tile(rgb: np.ndarray):
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel

    import hyperst as hst

    sdata = SpatialData(images={"slide": Image2DModel.parse(rgb, dims=("c", "y", "x"))})
    return hst.pp.tile_tissue(sdata, microns_per_pixel=MPP, inplace=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tile(synthetic_read((235, 235, 235))[0][:, :600, :600])  # warm-up: imports
    print("| glass | seconds | spots | spots off the tissue |")
    print("|---|---|---|---|")
    for name, glass in (("white", (235, 235, 235)), ("tinted", (235, 228, 196))):
        rgb, truth = synthetic_read(glass)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            shapes = tile(rgb)
            seconds.append(time.perf_counter() - start)
        rows = np.clip(shapes.geometry.y.to_numpy().astype(int), 0, SIDE - 1)
        cols = np.clip(shapes.geometry.x.to_numpy().astype(int), 0, SIDE - 1)
        off = int((~truth[rows, cols]).sum())
        spread = f"{statistics.median(seconds):.2f} ({min(seconds):.2f}-{max(seconds):.2f})"
        print(f"| {name} | {spread} | {len(shapes)} | {off} |")


if __name__ == "__main__":
    main()
