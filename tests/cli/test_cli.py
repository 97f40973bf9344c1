"""The ``hyperst`` command line: fit -> predict -> evaluate in subprocesses on toy zarr stores, and its bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hyperst as hst
from hyperst.cli import main

SRC = Path(hst.__file__).parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    """``python -m hyperst.cli ARGS`` in a fresh process, with this checkout's package first on the path."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "hyperst.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def write(sdata, path: Path) -> Path:
    import anndata
    import spatialdata

    with anndata.settings.override(auto_shard_zarr_v3=False):
        spatialdata.deepcopy(sdata).write(path)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory, toy_sdata) -> Path:
    """The two-section toy slide as a zarr store."""
    return write(toy_sdata, tmp_path_factory.mktemp("cli") / "toy.zarr")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, toy_model) -> Path:
    path = tmp_path_factory.mktemp("cli_model") / "model"
    toy_model.save(path)
    return path


def fast_options(fast_fit_kwargs: dict) -> list[str]:
    """The tiny model of the test suite as `hyperst fit` options: own flags and `--set` for the rest."""
    kwargs = dict(fast_fit_kwargs)
    options = ["--encoder", kwargs.pop("encoder"), "--batch-size", str(kwargs.pop("batch_size")), "--no-progress"]
    kwargs.pop("progress_bar")
    for key, value in kwargs.items():
        options += ["--set", f"{key}={json.dumps(value)}"]
    return options


def test_version():
    result = subprocess.run([sys.executable, "-m", "hyperst", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"hyperst {hst.__version__}"


def test_fit_predict_evaluate(store, tmp_path, fast_fit_kwargs, capsys):
    import spatialdata

    model_dir, out = tmp_path / "model", tmp_path / "pred" / "out.zarr"
    fitted = run("fit", str(store), "--out", str(model_dir), "--n-genes", "12", "--max-epochs", "1",
                 "--seed", "3", "--n-models", "2", *fast_options(fast_fit_kwargs))  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    assert fitted.stdout == "" and "Saved the model (12 genes" in fitted.stderr  # logs on stderr only
    model = hst.HyperST.load(model_dir)
    assert len(model.genes) == 12 and model.config.embed_dim == fast_fit_kwargs["embed_dim"]
    assert model.train_params["max_epochs"] == 1 and model.train_params["seed"] == 3
    assert model.n_models == 2

    predicted = run(
        "predict", str(store), "--model", str(model_dir), "--out", str(out), "--evaluate", "--device", "cpu"
    )
    assert predicted.returncode == 0, predicted.stderr
    assert sorted(os.listdir(out.parent)) == ["out.zarr"]  # no staging folder left behind
    result = spatialdata.read_zarr(out)
    table = result.tables["hyperst"]
    assert table.n_obs == 240 and list(table.var_names) == model.genes
    assert "predicted_sd" in table.layers and "hyperst_ood" in table.obs  # the ensemble's uncertainty is written
    assert set(result.images) == set(spatialdata.read_zarr(store).images)
    # the same numbers as the Python API on the same store
    sdata = spatialdata.read_zarr(store)
    hst.tl.predict(sdata, model, device="cpu")
    np.testing.assert_allclose(table.layers["predicted"], sdata.tables["hyperst"].layers["predicted"], atol=1e-5)
    metrics = hst.tl.evaluate(sdata)
    saved = table.uns["hyperst"]["metrics"]["raw"]["pcc_mean"]
    assert saved == pytest.approx(metrics["pearson"].mean(), abs=1e-4)

    scores = tmp_path / "metrics.json"
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json", str(scores), "--groupby", "section", "-q"]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""  # -q: nothing but the result, on stdout
    summary = json.loads(scores.read_text())
    assert summary["raw"]["pcc_mean"] == pytest.approx(saved, abs=1e-6)
    assert set(summary["per_group"]) == {"S1", "S2"}
    pcc_row = next(line for line in printed.out.splitlines() if line.startswith("pcc_mean"))
    assert float(pcc_row.split()[1]) == pytest.approx(saved, abs=1e-4)


def test_predict_tile_tissue_on_an_he_only_slide(toy_sdata, toy_model, model_dir, tmp_path):
    """An H&E image and nothing else: `--tile-tissue` lays the grid, predicts for it, writes shapes and table."""
    import spatialdata

    image = toy_sdata.images["S1_image"]
    he = write(spatialdata.SpatialData(images={"slide": image}), tmp_path / "he.zarr")
    out = tmp_path / "he_out.zarr"
    result = run("predict", str(he), "--model", str(model_dir), "--out", str(out), "--tile-tissue",
                 "--without-images")  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = spatialdata.read_zarr(out)
    assert list(written.images) == [] and list(written.shapes) == ["slide_tiles"]
    table = written.tables["hyperst"]
    sdata = spatialdata.read_zarr(he)  # the same steps through the Python API
    hst.pp.tile_tissue(sdata, "slide")
    hst.tl.predict(sdata, toy_model, table_key=None, spots_key="slide_tiles")
    assert table.n_obs == sdata.tables["hyperst"].n_obs == len(written.shapes["slide_tiles"]) > 50
    np.testing.assert_allclose(table.layers["predicted"], sdata.tables["hyperst"].layers["predicted"], atol=1e-5)
    assert "observed" not in table.layers and np.isfinite(table.layers["predicted"]).all()
    assert list(np.atleast_1d(table.uns["spatialdata_attrs"]["region"])) == ["slide_tiles"]


@pytest.mark.slow
def test_predict_on_two_processes_writes_the_one_process_table(toy_sdata, toy_model, store, model_dir, tmp_path):
    """`--devices 2 --strategy ddp`: Lightning starts the second process, the first writes the whole table once."""
    import spatialdata

    out = tmp_path / "ddp.zarr"
    result = run("predict", str(store), "--model", str(model_dir), "--out", str(out), "--without-images",
                 "--devices", "2", "--accelerator", "cpu", "--strategy", "ddp")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Process 2 of 2 predicted" in result.stderr and result.stderr.count("Wrote ") == 1
    table = spatialdata.read_zarr(out).tables["hyperst"]
    expected = hst.tl.predict(toy_sdata, toy_model, inplace=False)
    np.testing.assert_allclose(table.layers["predicted"], expected.layers["predicted"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(table.obs_names, expected.obs_names)


def test_bad_input_is_one_line_without_traceback(tmp_path):
    result = run("predict", str(tmp_path / "missing.zarr"), "--model", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"hyperst predict: error: The input {tmp_path / 'missing.zarr'} does not exist."
    ]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["fit", "{store}", "--out", "{tmp}/m", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["fit", "{store}", "--out", "{tmp}/m", "--max-epochs", "0"], 2, "must be greater than 0"),
        (["fit", "{store}", "--out", "{tmp}/m", "--validation", "random"], 2, "invalid choice: 'random'"),
        (["fit", "{store}", "--out", "{tmp}/m", "--set", "embed_dim"], 2, "expected KEY=VALUE"),
        (["fit", "{store}"], 2, "the following arguments are required: --out"),
        (["fit", "{store}", "--out", "{tmp}/m", "--set", "max_epochs=3"], 1, "use --max-epochs"),
        (
            ["fit", "{store}", "--out", "{tmp}/m", "--set", "no_such_option=1"],
            1,
            "--set no_such_option: unknown option 'no_such_option', neither a keyword of `hst.tl.fit`",
        ),
        (["fit", "{store}", "--out", "{tmp}/m", "--genes", "{tmp}/genes.txt"], 1, "gene list"),
        (["fit", "{tmp}", "--out", "{tmp}/m"], 1, "is not a SpatialData zarr store"),
        (["fit", "{store}", "--out", "{tmp}/m", "--table-key", "counts", "--n-genes", "5"], 1, "No table 'counts'"),
        (["predict", "{store}", "--model", "{tmp}/none", "--out", "{tmp}/o.zarr"], 1, "model folder"),
        (["predict", "{store}", "--model", "{tmp}", "--out", "{tmp}/o.zarr"], 1, "config.json"),
        (["predict", "{store}", "--spots", "a", "--tile-tissue", "b", "--model", "x", "--out", "y"], 2, "not allowed"),
        (["predict", "{store}", "--model", "x", "--out", "y", "--devices", "0"], 2, "must be a count >= 1"),
        (["predict", "{store}", "--model", "x", "--out", "y", "--devices", "two"], 2, "'two' is not a number"),
        (["evaluate", "{store}"], 1, "run `hyperst predict` first"),
        ([], 2, ""),
    ],
)
def test_bad_inputs(args, status, message, store, tmp_path, capsys):
    args = [arg.format(store=store, tmp=tmp_path) for arg in args]
    with pytest.raises(SystemExit) if status == 2 and args else _no_exit() as raised:
        code = main(args)
    code = raised.value.code if status == 2 and args else code
    assert code == status
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "m").exists() and not (tmp_path / "o.zarr").exists()


def test_existing_output_needs_overwrite(store, model_dir, tmp_path, capsys):
    out = tmp_path / "out.zarr"
    out.mkdir()
    (out / "keep").write_text("x")
    assert main(["predict", str(store), "--model", str(model_dir), "--out", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert os.listdir(out) == ["keep"]
    assert main(["fit", str(store), "--out", str(model_dir)]) == 1  # checked before reading or training
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_tile_tissue_needs_a_key_with_several_images(store, model_dir, tmp_path, capsys):
    args = ["predict", str(store), "--model", str(model_dir), "--out", str(tmp_path / "o.zarr"), "--tile-tissue"]
    assert main(args) == 1
    assert "has 2 images (['S1_image', 'S2_image']); name one: --tile-tissue IMAGE_KEY" in capsys.readouterr().err
    assert main([*args, "S1_image", "--evaluate"]) == 1
    assert "--tile-tissue predicts a new grid without measurements" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_write_is_atomic(tmp_path):
    """A failing write leaves neither a partial output nor a staging folder; a replaced output is restored."""
    from hyperst.cli._store import write_store

    class Failing:
        def write(self, path):
            Path(path).mkdir()
            (Path(path) / "half").write_text("x")
            raise ValueError("disk full")

    class Working:
        def write(self, path):
            Path(path).mkdir()
            (Path(path) / "new").write_text("x")

    out = tmp_path / "out.zarr"
    with pytest.raises(ValueError, match="disk full"):
        write_store(Failing(), out, overwrite=False)
    assert os.listdir(tmp_path) == []
    out.mkdir()
    (out / "old").write_text("x")
    with pytest.raises(ValueError, match="disk full"):
        write_store(Failing(), out, overwrite=True)
    assert os.listdir(tmp_path) == ["out.zarr"] and os.listdir(out) == ["old"]
    write_store(Working(), out, overwrite=True)
    assert os.listdir(tmp_path) == ["out.zarr"] and os.listdir(out) == ["new"]


class _no_exit:
    """Context manager standing in for ``pytest.raises`` where ``main`` returns instead of exiting."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
