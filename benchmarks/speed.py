"""Speed and scale of ``hst.tl.fit`` and ``hst.tl.predict`` against bare torch loops, and the import time.

Four measurements, each printed as a markdown table (the shared machines are noisy: every number is a median
over repeats with its min-max spread, and the ratios are what matter):

- ``fit``: seconds per epoch of ``hst.tl.fit`` against a bare ``for batch in DataLoader(...)`` loop (forward,
  loss, backward, gradient clipping at 1.0, AdamW step) over the same cached tensors and the same network, batch
  size and optimiser. Two paths: the ``cnn`` encoder trained end to end on cached crops (dihedral augmentation
  in both loops), and the frozen path on cached features (``encoder="features"``, the path of ``"squidpy"`` after
  its one encoding pass). ``fit``'s seconds per epoch is ``(t(1 + E epochs) - t(1 epoch)) / E`` over whole
  ``hst.tl.fit`` calls, so its setup (spot preparation, crop cache, trainer) cancels out; it trains with
  ``validation="none"``, as the bare loop does not validate.
- ``predict``: end-to-end spots per second of ``hst.tl.predict`` on a lazily generated slide against a bare loop
  that reads the same spot and niche crops (``hyperst.data.iter_crops``, same batch size) and runs the same
  network on them under ``torch.inference_mode``. Crop reading is in both; ``predict`` adds spot preparation
  (sections, spot lattice, niche graph) and the output table.
- ``scaling``: ``hst.tl.predict`` on synthetic slides of 1k, 10k and 100k Visium-like spots, each in its own
  process after a warm-up prediction on 100 spots (one-time imports): time, seconds per 1,000 spots, and the
  resident memory before and at its peak during the prediction (sampled every 20 ms).
- ``profile-fit``: cProfile of ``fit`` on the features path with a tiny head, where the loop's fixed costs weigh
  most: function calls and Lightning ``log`` calls, which do not depend on the machine's load.
- ``import``: wall time of ``python -c "import hyperst"`` (and of first use) in fresh processes.
- ``default``: the default (``"squidpy"``) encoder end to end: ``hst.tl.predict`` spots/s on a lazily generated
  slide with ``n_jobs`` crop-reading processes (feature store emptied first), the same ``predict`` again (features
  read from the store), and a second ``hst.tl.fit`` on the same toy slide against the first (the feature step).
- ``ensemble``: ``hst.tl.predict`` spots/s of the default model (5 members on frozen features, OOD scores) on 2,000
  measured toy spots, wall and CPU time, encoding the crops and with the features stored.
- ``encoder``: crops per second of the default ``"squidpy"`` encoder at 32, 64 and 224 px on one core, against the
  same features through one :class:`squidpy.im.ImageContainer` per crop (the encoder's code before issue 16).

Contention from other jobs only adds time, so the ratio of the fastest repeats is reported next to the median
ratio and its range.

Run (one torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/speed.py all
    OMP_NUM_THREADS=1 python benchmarks/speed.py fit --repeats 3 --epochs 3
    OMP_NUM_THREADS=1 python benchmarks/speed.py scaling --sizes 1000 10000 100000
    OMP_NUM_THREADS=1 python benchmarks/speed.py encoder --sizes 32 64 224
    OMP_NUM_THREADS=1 python benchmarks/speed.py default --spots 10000 --n-jobs 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _synthetic import slide_sdata

MICRONS_PER_PIXEL = 2.0  # the slides of predict and scaling: 112 µm spot crops span 56 px, niche crops ~128 px
CNN = {"input_size": 64, "width": 16}
SCALING_CNN = {"input_size": 32, "width": 16}
MODEL = {"embed_dim": 256, "lr": 1e-3}
FEATURES_EMBED_DIM = 64


def spread(values: list[float], digits: int = 2) -> str:
    """Median with the min-max range."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _threads() -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


# ---------------------------------------------------------------------------------------------------- fit
def _fit_data(n_spots: int, feature_dim: int):
    import hyperst as hst

    sdata = hst.datasets.toy(n_sections=2, n_spots=n_spots // 2, n_genes=60, seed=0)
    table = sdata.tables["table"]
    rng = np.random.default_rng(0)
    table.obsm["bench_spot"] = rng.normal(size=(table.n_obs, feature_dim)).astype(np.float32)
    table.obsm["bench_niche"] = rng.normal(size=(table.n_obs, feature_dim)).astype(np.float32)
    return sdata


def _fit_options(path: str, batch_size: int, feature_dim: int) -> dict:
    common = dict(MODEL, batch_size=batch_size, seed=0, validation="none", progress_bar=False, device="cpu")
    if path == "cnn":
        return dict(common, encoder="cnn", encoder_kwargs=dict(CNN))
    features = {"spot_key": "bench_spot", "niche_key": "bench_niche", "out_dim": feature_dim}
    # a narrow head: little compute per step, so fixed per-step costs of the training loop weigh most
    return dict(common, encoder="features", encoder_kwargs=features, embed_dim=FEATURES_EMBED_DIM)


def _fit_seconds(sdata, genes: list[str], epochs: int, options: dict) -> float:
    import hyperst as hst

    start = time.perf_counter()
    model = hst.tl.fit(sdata, genes=genes, max_epochs=epochs, patience=epochs + 1, **options)
    seconds = time.perf_counter() - start
    if len(model.history) != epochs:
        raise RuntimeError(f"fit ran {len(model.history)} epochs instead of {epochs}.")
    return seconds


def _bare_epochs(sdata, genes: list[str], epochs: int, options: dict) -> list[float]:
    """Seconds of each epoch of a plain torch loop over the same cached tensors and network as ``fit``."""
    import torch
    from torch.utils.data import DataLoader

    import hyperst as hst
    from hyperst.data import CropCache, SpotDataset, prepare_spots

    spots = prepare_spots(sdata, genes=genes)
    rows = np.flatnonzero(spots.trainable)
    kwargs = {k: options[k] for k in ("embed_dim",)}
    model = hst.HyperST(genes, encoder=options["encoder"], encoder_kwargs=options["encoder_kwargs"], seed=0, **kwargs)
    network = model.network if hasattr(type(model), "network") else model.module  # before issue 25: .module
    if model.encoder.frozen:
        features = model.frozen_features(spots)
        network.scaler.fit(torch.from_numpy(np.concatenate([f[rows] for f in features])))
        dataset = SpotDataset(spots, rows, size=model.input_size, features=features)
        image_keys = ("spot_features", "niche_features")
    else:
        cache = CropCache(spots, size=model.input_size)
        dataset = SpotDataset(spots, rows, size=model.input_size, cache=cache, augment=True)
        image_keys = ("spot_image", "niche_image")

    def collate(items):
        spot, niche, counts, niche_counts = (torch.stack(column) for column in zip(*items, strict=True))
        batch = dict(zip(image_keys, (spot, niche), strict=True))
        return batch | {"spot_genes": torch.log2(1 + counts), "niche_genes": torch.log2(1 + niche_counts)}

    batch_size = options["batch_size"]
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(
        dataset, batch_size, shuffle=True, drop_last=len(rows) > batch_size, generator=generator, collate_fn=collate
    )
    groups = network.head.parameter_groups(0.01)
    encoder = [p for p in network.encoder.parameters() if p.requires_grad]
    if encoder:
        groups.append({"params": encoder, "weight_decay": 0.01})
    optimiser = torch.optim.AdamW(groups, lr=options["lr"])
    network.train()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for batch in loader:
            loss = network(batch).loss.total
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def bench_fit(args: argparse.Namespace) -> None:
    _threads()
    rows = []
    for path in args.paths:
        n_spots = args.cnn_spots if path == "cnn" else args.feature_spots
        sdata = _fit_data(n_spots, args.feature_dim)
        genes = list(sdata.tables["table"].var_names)
        options = _fit_options(path, args.batch_size, args.feature_dim)
        fit_epoch, bare_epoch, ratios = [], [], []
        _fit_seconds(sdata, genes, 1, options)  # warm-up: first-call imports and allocations
        for _ in range(args.repeats):
            one = _fit_seconds(sdata, genes, 1, options)
            more = _fit_seconds(sdata, genes, 1 + args.epochs, options)
            bare = statistics.median(_bare_epochs(sdata, genes, args.epochs, options))
            fit_epoch.append((more - one) / args.epochs)
            bare_epoch.append(bare)
            ratios.append(fit_epoch[-1] / bare)
            print(json.dumps({"path": path, "fit_s": fit_epoch[-1], "bare_s": bare}), file=sys.stderr, flush=True)
        rows.append((path, n_spots, fit_epoch, bare_epoch, ratios))
    print(
        f"\nfit: {args.repeats} repeats of {args.epochs} epochs, batch {args.batch_size}, {MODEL}, cnn {CNN}, "
        f"features path: {args.feature_dim}-d features, embed_dim={FEATURES_EMBED_DIM}"
    )
    print("| path | spots | `hst.tl.fit` s/epoch | bare loop s/epoch | overhead ratio | ratio of fastest |")
    print("|---|---|---|---|---|---|")
    for path, n_spots, fit_epoch, bare_epoch, ratios in rows:
        fastest = min(fit_epoch) / min(bare_epoch)
        print(
            f"| {path} | {n_spots:,} | {spread(fit_epoch)} | {spread(bare_epoch)} | {spread(ratios)} | {fastest:.2f} |"
        )


def bench_profile_fit(args: argparse.Namespace) -> None:
    """Where ``fit``'s time goes on the features path with a tiny head (cProfile; counts do not depend on load)."""
    import cProfile
    import pstats

    _threads()
    sdata = _fit_data(args.spots, args.feature_dim)
    genes = list(sdata.tables["table"].var_names)
    options = dict(_fit_options("features", args.batch_size, args.feature_dim), embed_dim=args.embed_dim)
    _fit_seconds(sdata, genes, 1, options)
    profile = cProfile.Profile()
    profile.enable()
    _fit_seconds(sdata, genes, args.epochs, options)
    profile.disable()
    stats = pstats.Stats(profile).stats
    logs = [v for k, v in stats.items() if k[0].endswith("lightning/pytorch/core/module.py") and k[2] == "log"]
    steps = [v for k, v in stats.items() if k[0].endswith("train/_plan.py") and k[2] == "training_step"]
    print(f"\nprofile-fit: features path, {args.spots:,} spots, embed_dim={args.embed_dim}, {args.epochs} epochs")
    print(
        "| training steps | Python function calls | `LightningModule.log` calls | time in `log` (s) | profiled fit (s) |"
    )
    print("|---|---|---|---|---|")
    total = pstats.Stats(profile)
    print(
        f"| {sum(v[1] for v in steps)} | {total.total_calls:,} | {sum(v[1] for v in logs)} | "
        f"{sum(v[3] for v in logs):.2f} | {total.total_tt:.1f} |"
    )


# ------------------------------------------------------------------------------------------------ predict
def _trained_model(encoder_kwargs: dict):
    """A model of the benchmark's shape, trained for one epoch on a small toy slide (weights do not matter)."""
    import hyperst as hst

    toy = hst.datasets.toy(n_sections=1, n_spots=100, n_genes=50, seed=0)
    genes = list(toy.tables["table"].var_names)
    options = dict(MODEL, encoder="cnn", encoder_kwargs=encoder_kwargs, max_epochs=1, batch_size=32)
    return hst.tl.fit(toy, genes=genes, progress_bar=False, device="cpu", seed=0, **options)


def _predict_seconds(sdata, model, batch_size: int) -> float:
    import hyperst as hst

    start = time.perf_counter()
    table = hst.tl.predict(
        sdata, model, table_key=None, spots_key="spots", batch_size=batch_size, device="cpu", inplace=False
    )
    seconds = time.perf_counter() - start
    if table.n_obs != len(sdata.shapes["spots"]):
        raise RuntimeError("predict returned the wrong number of spots.")
    return seconds


def _bare_predict_seconds(sdata, model, batch_size: int, forward: bool = True) -> float:
    """Read the same spot and niche crops in the same batches and run the network on them (or only read them)."""
    import torch

    from hyperst.data import iter_crops, prepare_spots

    spots = prepare_spots(sdata, table_key=None, spots_key="spots")
    network = (model.network if hasattr(type(model), "network") else model.module).eval()
    size = model.input_size
    start = time.perf_counter()
    with torch.inference_mode():
        spot = iter_crops(spots, kind="spot", size=size, batch_size=batch_size)
        niche = iter_crops(spots, kind="niche", size=size, batch_size=batch_size)
        for (_, spot_crops), (_, niche_crops) in zip(spot, niche, strict=True):
            crops = [torch.from_numpy(c).float().div_(255.0) for c in (spot_crops, niche_crops)]
            if forward:
                network({"spot_image": crops[0], "niche_image": crops[1]}).prediction.numpy()
    return time.perf_counter() - start


def bench_predict(args: argparse.Namespace) -> None:
    _threads()
    model = _trained_model(dict(CNN))
    sdata = slide_sdata(args.spots, microns_per_pixel=MICRONS_PER_PIXEL)
    ours, bare, read, ratios = [], [], [], []
    for _ in range(args.repeats):
        ours.append(_predict_seconds(sdata, model, args.batch_size))
        bare.append(_bare_predict_seconds(sdata, model, args.batch_size))
        read.append(_bare_predict_seconds(sdata, model, args.batch_size, forward=False))
        ratios.append(ours[-1] / bare[-1])
        print(json.dumps({"predict_s": ours[-1], "bare_s": bare[-1], "read_s": read[-1]}), file=sys.stderr, flush=True)
    per_s = [args.spots / s for s in ours]
    bare_per_s = [args.spots / s for s in bare]
    read_per_s = [args.spots / s for s in read]
    print(f"\npredict: {args.spots:,} spots at {MICRONS_PER_PIXEL} µm/px, batch {args.batch_size}, cnn {CNN}")
    print("| `hst.tl.predict` spots/s | bare read + forward spots/s | crop reading alone spots/s | overhead ratio |")
    print("|---|---|---|---|")
    print(f"| {spread(per_s, 0)} | {spread(bare_per_s, 0)} | {spread(read_per_s, 0)} | {spread(ratios)} |")


# ------------------------------------------------------------------------------------------------ scaling
def _rss_mib() -> float:
    """Current resident memory of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Sample the resident memory every 20 ms in a thread while the block runs; ``peak`` is the largest sample."""

    def __enter__(self) -> PeakRSS:
        import threading

        self.peak, self._stop = _rss_mib(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())


def _scaling_worker(n_spots: int, model_dir: str, batch_size: int) -> dict:
    _threads()
    import hyperst as hst

    model = hst.HyperST.load(model_dir)
    _predict_seconds(slide_sdata(100, microns_per_pixel=MICRONS_PER_PIXEL), model, batch_size)  # one-time imports
    sdata = slide_sdata(n_spots, microns_per_pixel=MICRONS_PER_PIXEL)
    rss_before = _rss_mib()
    with PeakRSS() as rss:
        seconds = _predict_seconds(sdata, model, batch_size)
    side = sdata.images["slide"].shape[-1]
    output_mib = n_spots * (len(model.genes) * 2 + 2 * model.config.embed_dim) * 4 / 2**20
    return {"n_spots": n_spots, "seconds": seconds, "rss_before_mib": rss_before, "peak_rss_mib": rss.peak,
            "side_px": side, "output_mib": output_mib}  # fmt: skip


def bench_scaling(args: argparse.Namespace) -> None:
    _threads()
    with tempfile.TemporaryDirectory() as folder:
        _trained_model(dict(SCALING_CNN)).save(folder, overwrite=True)
        results = []
        for n_spots in args.sizes:
            command = [sys.executable, __file__, "scaling-worker", str(n_spots), folder, str(args.batch_size)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(f"\nscaling: hst.tl.predict at {MICRONS_PER_PIXEL} µm/px, batch {args.batch_size}, cnn {SCALING_CNN}")
    print("| spots | slide side (px) | time (s) | s per 1,000 spots | spots/s | RSS before (MiB) | "
          "peak RSS in predict (MiB) | growth (MiB) | output arrays (MiB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['n_spots']:,} | {r['side_px']:,} | {r['seconds']:.1f} | {1000 * r['seconds'] / r['n_spots']:.2f} | "
            f"{r['n_spots'] / r['seconds']:.0f} | {r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} | "
            f"{r['peak_rss_mib'] - r['rss_before_mib']:.0f} | {r['output_mib']:.0f} |"
        )


# ------------------------------------------------------------------------------------------------ default
def _default_model():
    """A model with the default encoder, trained for one epoch on a small toy slide (weights do not matter)."""
    import hyperst as hst

    toy = hst.datasets.toy(n_sections=1, n_spots=100, n_genes=50, seed=0)
    return hst.tl.fit(toy, max_epochs=1, batch_size=32, progress_bar=False, device="cpu", seed=0, **MODEL)


def _jobs(n_jobs: int) -> dict:
    return {} if n_jobs == 1 else {"n_jobs": n_jobs}  # so the benchmark also runs on code without `n_jobs`


def bench_default(args: argparse.Namespace) -> None:
    import hyperst as hst
    from hyperst.data import prepare_spots

    _threads()
    try:
        from hyperst.data import drop_features
    except ImportError:  # code before the feature store: nothing to drop
        drop_features = None
    model = _default_model()
    sdata = slide_sdata(args.spots, microns_per_pixel=MICRONS_PER_PIXEL)
    options = dict(table_key=None, spots_key="spots", batch_size=args.batch_size, device="cpu", inplace=False)
    rows = []
    for n_jobs in args.n_jobs:
        first, again = [], []
        for _ in range(args.repeats):
            if drop_features is not None:
                drop_features(sdata)
            start = time.perf_counter()
            hst.tl.predict(sdata, model, **options, **_jobs(n_jobs))
            first.append(args.spots / (time.perf_counter() - start))
            start = time.perf_counter()
            hst.tl.predict(sdata, model, **options, **_jobs(n_jobs))
            again.append(args.spots / (time.perf_counter() - start))
            print(json.dumps({"n_jobs": n_jobs, "predict": first[-1], "again": again[-1]}), file=sys.stderr, flush=True)
        rows.append((n_jobs, first, again))
    print(f"\ndefault encoder: `hst.tl.predict` on {args.spots:,} spots at {MICRONS_PER_PIXEL} µm/px, {MODEL}")
    print("| `n_jobs` | `hst.tl.predict` spots/s | again (features from the store) spots/s |")
    print("|---|---|---|")
    for n_jobs, first, again in rows:
        print(f"| {n_jobs} | {spread(first, 0)} | {spread(again, 0)} |")

    toy = hst.datasets.toy(n_sections=2, n_spots=args.fit_spots // 2, n_genes=50, seed=0)
    fit_options = dict(MODEL, max_epochs=1, batch_size=32, progress_bar=False, device="cpu", validation="none")
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        hst.tl.fit(toy, **fit_options)
        seconds.append(time.perf_counter() - start)
    spots = prepare_spots(toy)
    if drop_features is not None:
        drop_features(toy)
    step = []
    for _ in range(2):  # the feature step of a fit: encode (then read from the store)
        start = time.perf_counter()
        model.frozen_features(spots, **_jobs(args.n_jobs[0]))
        step.append(time.perf_counter() - start)
    print(f"\nsecond fit: `hst.tl.fit` (1 epoch) twice on a {args.fit_spots:,}-spot toy slide, default encoder")
    print("| call | `hst.tl.fit` s | feature step (`model.frozen_features`) s |")
    print("|---|---|---|")
    for name, fit_s, step_s in zip(("first", "second"), seconds, step, strict=True):
        print(f"| {name} | {fit_s:.2f} | {step_s:.3f} |")


# ------------------------------------------------------------------------------------------------ ensemble
def bench_ensemble(args: argparse.Namespace) -> None:
    """``hst.tl.predict`` spots/s of the default model (5 members on frozen features, OOD) on a measured toy slide.

    Wall and CPU seconds (the CPU time counts this process only, so other jobs' load weighs less); the first call
    encodes every crop (feature store emptied), the second reads the stored features: members, OOD score, table.
    """
    import hyperst as hst
    from hyperst.data import drop_features

    _threads()
    toy = hst.datasets.toy(n_sections=2, n_spots=args.spots // 2, seed=0)
    hst.pp.select_genes(toy, n_genes=30)
    model = hst.tl.fit(toy, max_epochs=1, seed=0, progress_bar=False, device="cpu")
    rows = {"first (encodes)": ([], []), "again (stored features)": ([], [])}
    for _ in range(args.repeats):
        drop_features(toy)
        for wall, cpu in rows.values():
            start, start_cpu = time.perf_counter(), time.process_time()
            hst.tl.predict(toy, model, device="cpu", inplace=False)
            wall.append(args.spots / (time.perf_counter() - start))
            cpu.append(args.spots / (time.process_time() - start_cpu))
    print(f"\nensemble: `hst.tl.predict` on {args.spots:,} measured toy spots, {model.n_models} members, OOD reference")
    print("| call | spots/s (wall) | spots/s (CPU time) |")
    print("|---|---|---|")
    for name, (wall, cpu) in rows.items():
        print(f"| {name} | {spread(wall, 0)} | {spread(cpu, 0)} |")


# ------------------------------------------------------------------------------------------------ encoder
def _container_features(image: np.ndarray, bins: int) -> np.ndarray:
    """The ``"squidpy"`` encoder's features of one crop through ``ImageContainer``s, as it computed them before."""
    from squidpy.im import ImageContainer

    grey = (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.uint8)
    colour = ImageContainer(image, layer="image")
    features = {
        **colour.features_summary(layer="image"),
        **colour.features_histogram(layer="image", bins=bins, v_range=(0, 255)),
        **ImageContainer(grey[..., None], layer="image").features_texture(
            layer="image", props=("contrast", "homogeneity", "correlation", "ASM"), angles=(0.0, np.pi / 2)
        ),
    }
    return np.array([features[k] for k in sorted(features)])


def bench_encoder(args: argparse.Namespace) -> None:
    import torch

    from hyperst.nn.encoders import build_encoder

    _threads()
    rows = []
    for size in args.sizes:
        encoder = build_encoder("squidpy", input_size=size)
        crops = torch.rand(args.crops, 3, size, size, generator=torch.Generator().manual_seed(size))
        images = (crops * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        _container_features(images[0], encoder.histogram_bins)  # warm-up: squidpy's imports
        encoder(crops[: args.batch_size])
        before, after = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for image in images[: args.container_crops]:
                _container_features(image, encoder.histogram_bins)
            before.append(args.container_crops / (time.perf_counter() - start))
            start = time.perf_counter()
            for first in range(0, args.crops, args.batch_size):
                encoder(crops[first : first + args.batch_size])
            after.append(args.crops / (time.perf_counter() - start))
            print(json.dumps({"size": size, "before": before[-1], "after": after[-1]}), file=sys.stderr, flush=True)
        rows.append((size, encoder.out_dim, before, after))
    print(
        f"\nencoder: default `squidpy` encoder, crops/s on {torch.get_num_threads()} thread(s), batch "
        f"{args.batch_size}; before = one `ImageContainer` per crop ({args.container_crops} crops), after = batched "
        f"({args.crops} crops); median (min-max) of {args.repeats}"
    )
    print("| crop (px) | features | before crops/s | after crops/s | speed-up (medians) |")
    print("|---|---|---|---|---|")
    for size, out_dim, before, after in rows:
        ratio = statistics.median(after) / statistics.median(before)
        print(f"| {size} | {out_dim} | {spread(before, 1)} | {spread(after, 0)} | {ratio:.0f}x |")


# ------------------------------------------------------------------------------------------------- import
IMPORTS = {
    "`import hyperst`": "import hyperst",
    "`hst.tl` (first access)": "import hyperst as hst; hst.tl.fit",
    "training stack (`hyperst.model`: torch, Lightning)": "import hyperst.model",
    "bare interpreter start": "pass",
}


def bench_import(args: argparse.Namespace) -> None:
    rows = {}
    for _ in range(args.repeats):  # interleaved, so load changes hit every row alike
        for name, code in IMPORTS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            rows.setdefault(name, []).append(time.perf_counter() - start)
    print(f"\nimport: wall time of `python -c ...` in {args.repeats} fresh processes each")
    print("| what | wall time (s) |")
    print("|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {spread(seconds)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit overhead against a bare torch loop")
    fit.add_argument("--paths", nargs="+", choices=["cnn", "features"], default=["cnn", "features"])
    fit.add_argument("--cnn-spots", type=int, default=600)
    fit.add_argument("--feature-spots", type=int, default=3000)
    fit.add_argument("--feature-dim", type=int, default=128)
    fit.add_argument("--batch-size", type=int, default=128)
    fit.add_argument("--epochs", type=int, default=3)
    fit.add_argument("--repeats", type=int, default=3)
    profile = sub.add_parser("profile-fit", help="cProfile of fit on the features path with a tiny head")
    profile.add_argument("--spots", type=int, default=3000)
    profile.add_argument("--feature-dim", type=int, default=128)
    profile.add_argument("--embed-dim", type=int, default=32)
    profile.add_argument("--batch-size", type=int, default=128)
    profile.add_argument("--epochs", type=int, default=6)
    predict = sub.add_parser("predict", help="predict overhead against a bare forward loop")
    predict.add_argument("--spots", type=int, default=2000)
    predict.add_argument("--batch-size", type=int, default=64)
    predict.add_argument("--repeats", type=int, default=3)
    scaling = sub.add_parser("scaling", help="predict time and memory on 1k-100k spot slides")
    scaling.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    scaling.add_argument("--batch-size", type=int, default=64)
    worker = sub.add_parser("scaling-worker")
    worker.add_argument("n_spots", type=int)
    worker.add_argument("model_dir")
    worker.add_argument("batch_size", type=int)
    imports = sub.add_parser("import", help="import time of hyperst")
    imports.add_argument("--repeats", type=int, default=10)
    default = sub.add_parser("default", help="default encoder: predict spots/s with n_jobs, second fit")
    default.add_argument("--spots", type=int, default=10000)
    default.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    default.add_argument("--batch-size", type=int, default=64)
    default.add_argument("--fit-spots", type=int, default=2000)
    default.add_argument("--repeats", type=int, default=1)
    ensemble = sub.add_parser("ensemble", help="predict spots/s of the default 5-member model with OOD scores")
    ensemble.add_argument("--spots", type=int, default=2000)
    ensemble.add_argument("--repeats", type=int, default=3)
    encoder = sub.add_parser("encoder", help="default encoder crops/s, batched against one ImageContainer per crop")
    encoder.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 224])
    encoder.add_argument("--crops", type=int, default=1024)
    encoder.add_argument("--container-crops", type=int, default=40)
    encoder.add_argument("--batch-size", type=int, default=64)
    encoder.add_argument("--repeats", type=int, default=3)
    sub.add_parser("all", help="everything with the defaults")
    args = parser.parse_args()
    if args.command == "scaling-worker":
        print(json.dumps(_scaling_worker(args.n_spots, args.model_dir, args.batch_size)))
        return
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")  # fmt: skip
    commands = {
        "fit": bench_fit,
        "predict": bench_predict,
        "scaling": bench_scaling,
        "import": bench_import,
        "encoder": bench_encoder,
        "default": bench_default,
        "ensemble": bench_ensemble,
    }
    if args.command == "all":
        for name, function in commands.items():
            function(parser.parse_args([name]))
    elif args.command == "profile-fit":
        bench_profile_fit(args)
    else:
        commands[args.command](args)


if __name__ == "__main__":
    main()
