"""Crop extraction speed and memory on large lazily generated slides.

10,000 Visium-like spots (hexagonal grid, 100 µm spacing, 55 µm spots) on a synthetic dask-backed H&E-sized image
that is never materialised: each 1024 x 1024 chunk is produced on demand. Every spot gets its spot crop (112 µm)
and niche crop (255 µm), both resampled to 224 px, streamed in batches and discarded. Each configuration runs in
its own process so the peak resident memory (``ru_maxrss``) belongs to it alone. Memory should not depend on the
image size: only the chunks under a batch of spots are ever read.

With ``--n-jobs 1 2`` each configuration also runs with that many crop-reading processes
(``hyperst.data.crop_batches``: spot and niche crops of a batch together, worker processes reading in order); peak
memory then also reports the largest worker (``RUSAGE_CHILDREN``).

Run::

    python benchmarks/crop_extraction.py                      # 20,000 and 40,000 px, 10,000 spots
    python benchmarks/crop_extraction.py --sizes 20000 40000 --n-spots 10000 --crop-size 224
    python benchmarks/crop_extraction.py --sizes 20000 --n-jobs 1 2
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import tracemalloc

from _synthetic import CHUNK, slide_sdata

MICRONS_PER_PIXEL = 0.5


def _jobs_worker(side: int, n_spots: int, crop_size: int, n_jobs: int) -> dict:
    """Read every spot's spot and niche crop with ``n_jobs`` processes; crops/s and peak memory."""
    from hyperst.data import crop_batches, prepare_spots

    sdata = slide_sdata(n_spots, microns_per_pixel=MICRONS_PER_PIXEL, side=side)
    spots = prepare_spots(sdata, table_key=None, spots_key="spots")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, checksum = time.perf_counter(), 0
    for _, (spot, niche) in crop_batches(spots, size=crop_size, batch_size=64, n_jobs=n_jobs):
        checksum += int(spot[:, :, 0, 0].sum()) + int(niche[:, :, 0, 0].sum())
    return {
        "side": side,
        "n_jobs": n_jobs,
        "n_spots": spots.n_spots,
        "seconds": time.perf_counter() - start,
        "rss_before_mib": rss_before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "checksum": checksum,
    }


def _worker(side: int, n_spots: int, crop_size: int, trace: bool) -> dict:
    from hyperst.data import iter_crops, prepare_spots

    sdata = slide_sdata(n_spots, microns_per_pixel=MICRONS_PER_PIXEL, side=side)
    start = time.perf_counter()
    spots = prepare_spots(sdata, table_key=None, spots_key="spots")
    setup_s = time.perf_counter() - start
    section = spots.sections[0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        tracemalloc.start()
    timings, checksum = {}, 0
    for kind in ("spot", "niche"):
        start = time.perf_counter()
        for _, crops in iter_crops(spots, kind=kind, size=crop_size, batch_size=64):
            checksum += int(crops[:, :, 0, 0].sum())
        timings[kind] = time.perf_counter() - start
    result = {
        "side": side,
        "n_spots": spots.n_spots,
        "setup_s": setup_s,
        "spot_s": timings["spot"],
        "niche_s": timings["niche"],
        "rss_before_mib": rss_before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "microns_per_pixel": section.microns_per_pixel,
        "spot_crop_px": section.crop_px("spot"),
        "niche_crop_px": section.crop_px("niche"),
        "checksum": checksum,
    }
    if trace:
        result["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def _run(args: argparse.Namespace, side: int, trace: bool) -> dict:
    command = [sys.executable, __file__, "--worker", str(side), "--n-spots", str(args.n_spots)]
    command += ["--crop-size", str(args.crop_size)] + (["--trace"] if trace else [])
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 40000], help="image sides in pixels")
    parser.add_argument("--n-spots", type=int, default=10000)
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[], help="also read with this many processes")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--jobs-worker", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.jobs_worker is not None:
        print(json.dumps(_jobs_worker(args.jobs_worker[0], args.n_spots, args.crop_size, args.jobs_worker[1])))
        return
    if args.worker is not None:
        print(json.dumps(_worker(args.worker, args.n_spots, args.crop_size, args.trace)))
        return

    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    header = "| image side (px) | spots | setup (s) | spot crops (s) | niche crops (s) | crops/s | peak RSS (MiB) | RSS growth during extraction (MiB) | tracemalloc peak (MiB) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for side in args.sizes:
        timed = _run(args, side, trace=False)
        traced = _run(args, side, trace=True)
        total = timed["spot_s"] + timed["niche_s"]
        print(
            f"| {side:,} | {timed['n_spots']:,} | {timed['setup_s']:.1f} | {timed['spot_s']:.1f} | "
            f"{timed['niche_s']:.1f} | {2 * timed['n_spots'] / total:.0f} | {timed['peak_rss_mib']:.0f} | "
            f"{timed['peak_rss_mib'] - timed['rss_before_mib']:.0f} | {traced['tracemalloc_peak_mib']:.0f} |"
        )
    if args.n_jobs:
        _print_jobs(args)
    print(
        f"(spot crop {timed['spot_crop_px']:.0f} px, niche crop {timed['niche_crop_px']:.0f} px at "
        f"{timed['microns_per_pixel']} µm/px, resampled to {args.crop_size} px; chunks {CHUNK} px)"
    )


def _print_jobs(args: argparse.Namespace) -> None:
    print("\n| image side (px) | spots | `n_jobs` | spot + niche crops (s) | crops/s | peak RSS main (MiB) | "
          "peak RSS largest worker (MiB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for side in args.sizes:
        for n_jobs in args.n_jobs:
            command = [sys.executable, __file__, "--jobs-worker", str(side), str(n_jobs)]
            command += ["--n-spots", str(args.n_spots), "--crop-size", str(args.crop_size)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            r = json.loads(output.strip().splitlines()[-1])
            worker = f"{r['worker_peak_rss_mib']:.0f}" if n_jobs > 1 else "-"
            print(
                f"| {side:,} | {r['n_spots']:,} | {n_jobs} | {r['seconds']:.1f} | {2 * r['n_spots'] / r['seconds']:.0f} "
                f"| {r['peak_rss_mib']:.0f} | {worker} |"
            )


if __name__ == "__main__":
    main()
