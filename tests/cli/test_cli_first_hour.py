"""The command line speaks in its own flags, checks ``--set`` before any work, takes no abbreviations (issue 23)."""

from __future__ import annotations

import pytest

from hyperst.cli import main
from hyperst.cli._commands import summary_table
from hyperst.cli._parser import build_parser, in_cli_words

from .test_cli import write


@pytest.fixture(scope="module")
def store(tmp_path_factory, toy_sdata):
    return write(toy_sdata, tmp_path_factory.mktemp("cli_first_hour") / "toy.zarr")


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["predict", "d.zarr", "--model", "m", "--out", "o", "--tile"], "--tile"),
        (["fit", "d.zarr", "--out", "m", "--n-gen", "5"], "--n-gen"),
        (["evaluate", "o.zarr", "--table", "x"], "--table"),
    ],
)
def test_abbreviated_options_are_refused(argv, prefix, capsys):
    with pytest.raises(SystemExit) as raised:
        build_parser("0").parse_args(argv)
    assert raised.value.code == 2 and f"unrecognized arguments: {prefix}" in capsys.readouterr().err


def test_errors_name_the_flags_not_the_python_keywords():
    flags = build_parser("0").parse_args(["predict", "d", "--model", "m", "--out", "o"]).flags
    message = "Table 'hyperst' exists; pass `overwrite=True` to replace it or another `key_added`. Pass `table_key=`."
    assert in_cli_words(message, flags) == (
        "Table 'hyperst' exists; pass `--overwrite` to replace it or another `--key-added`. Pass `--table-key`."
    )
    assert in_cli_words("pass `layer='counts'` or `spots_key=`; see `hst.tl.fit`", flags) == (
        "pass `--layer counts` or `--spots`; see `hst.tl.fit`"
    )
    assert in_cli_words("`layer='counts', key_added=x`; `table_key=None, spots_key=...`", flags) == (
        "`--layer counts --key-added x`; `table_key=None, spots_key=...`"  # None: leave the option out, not said
    )


def test_an_existing_output_table_is_reported_in_flags(store, tmp_path, toy_model, capsys):
    import spatialdata

    import hyperst as hst

    model_dir = tmp_path / "model"
    toy_model.save(model_dir)
    sdata = spatialdata.read_zarr(store)
    hst.tl.predict(sdata, toy_model, key_added="taken")
    taken = write(sdata, tmp_path / "taken.zarr")
    code = main(["predict", str(taken), "--model", str(model_dir), "--out", str(tmp_path / "o.zarr"),
                 "--key-added", "taken", "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "pass `--overwrite` to replace it or another `--key-added`" in err, err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "embed_dim=abc",
            "--set embed_dim='abc' is invalid: Invalid HyperSTConfig: need embed_dim an integer >= 1; got embed_dim='abc'.",
        ),
        ("hidden_ratio=abc", "--set hidden_ratio='abc' is invalid"),
        ("lr=fast", "--set lr='fast': `lr` takes a number (default 0.0001)"),
        ("bogus=1", "--set bogus: unknown option 'bogus', neither a keyword of `hst.tl.fit`"),
    ],
)
def test_set_is_checked_before_reading_and_gene_selection(setting, message, tmp_path, capsys):
    missing = tmp_path / "not_read.zarr"  # never opened: the check comes first
    code = main(["fit", str(missing), "--out", str(tmp_path / "m"), "--n-genes", "5", "--set", setting])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("hyperst fit: error: ") and message in err, err
    assert "Selected" not in err and "HyperSTConfig(" not in err and len(err.splitlines()) == 1


def test_evaluate_prints_counts_as_whole_numbers():
    scores = {"pcc_mean": 0.123456, "n_genes_with_r": 40.0}
    text = summary_table({"raw": scores, "normalised": scores, "n_spots": 240, "normalisation": "library_size"})
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:-1]}
    assert rows["n_genes_with_r"] == ["40", "40"] and rows["pcc_mean"] == ["0.1235", "0.1235"]
