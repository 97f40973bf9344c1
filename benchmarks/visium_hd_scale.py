"""``hst.tl.predict`` on a synthetic Visium HD-like slide of up to a million 8 µm bins: time and peak memory.

The slide is laid out as ``spatialdata_io.visium_hd`` lays it out (bins ``"hd_square_008um"`` in full-resolution
pixels, the image ``"hd_full_image"``, both in the coordinate system ``"hd"``); its image is generated chunk by
chunk on demand and never materialised (``_synthetic.lazy_slide``). The pixel size comes from the bin width in the
name over the bin spacing in pixels; crops are the bin-scale ones (docs/data.md, "Visium HD"). Each size runs in its
own process after a warm-up prediction on 100 bins (one-time imports), with the model of ``speed.py scaling``
(``cnn``, 32 px input, ``embed_dim=256``, 50 genes) trained once. Resident memory is sampled every 20 ms during
the prediction; "output arrays" are what the result must hold (predictions in ``X`` and ``layers["predicted"]``,
the two image embeddings); "growth beyond outputs" is the peak minus the memory before minus those arrays.

Run (one torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/visium_hd_scale.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile

from _synthetic import bins_sdata
from speed import SCALING_CNN, PeakRSS, _rss_mib, _threads, _trained_model

MICRONS_PER_PIXEL = 0.5  # a Visium HD full-resolution image is 0.25-0.5 µm/px


def _worker(n_bins: int, model_dir: str, batch_size: int, geometry: str) -> dict:
    _threads()
    import hyperst as hst

    model = hst.HyperST.load(model_dir)
    warm = bins_sdata(100, microns_per_pixel=MICRONS_PER_PIXEL, geometry=geometry)
    _predict(warm, model, batch_size)
    sdata = bins_sdata(n_bins, microns_per_pixel=MICRONS_PER_PIXEL, geometry=geometry)
    rss_before = _rss_mib()
    with PeakRSS() as rss:
        seconds, table = _predict(sdata, model, batch_size)
    output_mib = n_bins * (len(model.genes) * 2 + 2 * model.config.embed_dim) * 4 / 2**20
    section = table.uns["hyperst"]["sections"]["hd_square_008um"]
    return {"n_bins": n_bins, "seconds": seconds, "rss_before_mib": rss_before, "peak_rss_mib": rss.peak,
            "output_mib": output_mib, "side_px": sdata.images["hd_full_image"].shape[-1], "section": section}  # fmt: skip


def _predict(sdata, model, batch_size: int):
    import time

    import hyperst as hst

    start = time.perf_counter()
    table = hst.tl.predict(
        sdata, model, table_key=None, spots_key="hd_square_008um", batch_size=batch_size, device="cpu", inplace=False
    )
    return time.perf_counter() - start, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000, 1000000], help="numbers of bins")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--geometry", choices=["circles", "squares"], default="circles")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(_worker(int(args.worker[0]), args.worker[1], args.batch_size, args.geometry)))
        return
    _threads()
    print(f"python {platform.python_version()} on {platform.machine()}; cnn {SCALING_CNN}, batch {args.batch_size}")
    header = (
        "| bins | slide side (px) | time (s) | bins/s | RSS before (MiB) | peak RSS in predict (MiB) | growth (MiB) | "
        "output arrays (MiB) | growth beyond outputs (MiB) |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as folder:
        _trained_model(dict(SCALING_CNN)).save(folder, overwrite=True)
        for n_bins in args.sizes:
            command = [sys.executable, __file__, "--worker", str(n_bins), folder]
            command += ["--batch-size", str(args.batch_size), "--geometry", args.geometry]
            r = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            growth = r["peak_rss_mib"] - r["rss_before_mib"]
            print(
                f"| {r['n_bins']:,} | {r['side_px']:,} | {r['seconds']:.1f} | {r['n_bins'] / r['seconds']:.0f} | "
                f"{r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} | {growth:.0f} | {r['output_mib']:.0f} | "
                f"{growth - r['output_mib']:.0f} |",
                flush=True,
            )
            print(json.dumps(r["section"]), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
