"""What the ``hyperst`` command line costs on top of the Python API, on the toy slide.

Three ways to do the same job (``predict``: read the store, load the model, predict, write the store; ``fit``:
read, train, save), each timed as wall-clock seconds:

- ``cli``: ``python -m hyperst.cli predict|fit ...`` in a fresh process;
- ``python script``: the same steps written against the Python API (``spatialdata.read_zarr``, ``hst.tl``,
  ``sdata.write`` / ``model.save``), also in a fresh process: the difference to ``cli`` is the command line's own
  cost (argument parsing, checks, the staged write and move);
- ``in session``: the ``hst.tl`` call alone in a warm process (the data in memory, imports done), what a notebook
  pays: the difference to ``cli`` is what a batch job pays per slide for imports and I/O.

Every number is a median over repeats with its min-max range. Wall time and CPU time (user + system of the
process) are both reported: on a shared machine wall time grows with the load, CPU time much less.

Run (one torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/cli_overhead.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
FIT_OPTIONS = {"encoder": "cnn", "max_epochs": 2, "batch_size": 32, "embed_dim": 32, "lr": 3e-3, "seed": 0}
ENCODER_KWARGS = {"input_size": 32, "n_blocks": 3, "width": 8}

PREDICT_SCRIPT = """
import sys, anndata, spatialdata, hyperst as hst
data, model_dir, out = sys.argv[1:]
sdata = spatialdata.read_zarr(data)
hst.tl.predict(sdata, hst.HyperST.load(model_dir))
with anndata.settings.override(auto_shard_zarr_v3=False):
    sdata.write(out, overwrite=True)
"""
FIT_SCRIPT = f"""
import sys, spatialdata, hyperst as hst
data, out = sys.argv[1:]
sdata = spatialdata.read_zarr(data)
hst.tl.fit(sdata, progress_bar=False, encoder_kwargs={ENCODER_KWARGS}, **{FIT_OPTIONS}).save(out, overwrite=True)
"""


def spread(values: list[float]) -> str:
    """Median with the min-max range."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


CPU: dict[tuple[str, str], list[float]] = {}  # CPU seconds (user + system) of the subprocesses, by (command, how)


def timed(command: list[str], key: tuple[str, str] | None = None) -> float:
    """Wall seconds of ``command`` in a fresh process; its CPU seconds go to ``CPU[key]`` (less load-dependent)."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if key is not None:
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        CPU.setdefault(key, []).append(cpu)
    return wall


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cli_fit_args(data: Path, out: Path) -> list[str]:
    import json

    args = ["fit", str(data), "--out", str(out), "--overwrite", "-q", "--no-progress"]
    args += ["--encoder", FIT_OPTIONS["encoder"], "--max-epochs", str(FIT_OPTIONS["max_epochs"])]
    args += ["--batch-size", str(FIT_OPTIONS["batch_size"]), "--seed", str(FIT_OPTIONS["seed"])]
    args += ["--set", f"embed_dim={FIT_OPTIONS['embed_dim']}", "--set", f"lr={FIT_OPTIONS['lr']}"]
    return [*args, "--set", f"encoder_kwargs={json.dumps(ENCODER_KWARGS)}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import anndata
    import spatialdata

    import hyperst as hst

    folder = Path(tempfile.mkdtemp(prefix="hyperst-cli-bench-"))
    try:
        sdata = hst.datasets.toy(n_sections=2, n_spots=120, n_genes=30, seed=0)
        data, model_dir, out = folder / "toy.zarr", folder / "model", folder / "out.zarr"
        with anndata.settings.override(auto_shard_zarr_v3=False):
            sdata.write(data)
        python = [sys.executable]
        cli = [*python, "-m", "hyperst.cli"]
        timed([*cli, *cli_fit_args(data, model_dir)])  # warm the file cache; the model predict uses

        times: dict[tuple[str, str], list[float]] = {}
        backed = spatialdata.read_zarr(data)
        model = hst.HyperST.load(model_dir)
        hst.tl.predict(backed, model, inplace=False)  # warm-up: imports and first-call costs
        for _ in range(args.repeats):
            key = ("predict", "cli")
            predict_args = ["predict", str(data), "--model", str(model_dir), "--out", str(out), "--overwrite", "-q"]
            times.setdefault(key, []).append(timed([*cli, *predict_args], key))
            key = ("predict", "python script")
            times.setdefault(key, []).append(
                timed([*python, "-c", PREDICT_SCRIPT, str(data), str(model_dir), str(out)], key)
            )
            start, cpu = time.perf_counter(), cpu_now()
            hst.tl.predict(backed, model, inplace=False)
            times.setdefault(("predict", "in session"), []).append(time.perf_counter() - start)
            CPU.setdefault(("predict", "in session"), []).append(cpu_now() - cpu)

            key = ("fit", "cli")
            times.setdefault(key, []).append(timed([*cli, *cli_fit_args(data, folder / "m_cli")], key))
            key = ("fit", "python script")
            times.setdefault(key, []).append(
                timed([*python, "-c", FIT_SCRIPT, str(data), str(folder / "m_script")], key)
            )
            start, cpu = time.perf_counter(), cpu_now()
            hst.tl.fit(backed, progress_bar=False, encoder_kwargs=ENCODER_KWARGS, **FIT_OPTIONS)
            times.setdefault(("fit", "in session"), []).append(time.perf_counter() - start)
            CPU.setdefault(("fit", "in session"), []).append(cpu_now() - cpu)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"toy slide: 2 sections x 120 spots, 30 genes; {args.repeats} repeats\n")
    print("| command | how | wall time (s) | CPU time (s) | CPU minus in session (s) |")
    print("|---|---|---|---|---|")
    for command in ("predict", "fit"):
        session = statistics.median(CPU[(command, "in session")])
        for how in ("cli", "python script", "in session"):
            cpu = CPU[(command, how)]
            row = f"| {command} | {how} | {spread(times[(command, how)])} | {spread(cpu)} |"
            print(f"{row} {statistics.median(cpu) - session:.2f} |")


if __name__ == "__main__":
    main()
