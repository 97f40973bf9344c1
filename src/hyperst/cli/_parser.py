"""The argument parser of the ``hyperst`` command line; options mirror the keywords of ``hst.tl``'s functions."""

from __future__ import annotations

import argparse
from typing import Any

from hyperst._constants import DEFAULT_ENCODER, Checkpoint, Key, TargetScale, TileGrid, Unit, ValidationMode, choices

ONLY_IMAGE = ""  # `--tile-tissue` without a key: the store's only image
EPILOG = "Logs and progress go to stderr. Documentation: https://hyperst.readthedocs.io/en/latest/cli.html"


def build_parser(version: str) -> argparse.ArgumentParser:
    """Return the parser of ``hyperst`` with its ``fit``, ``predict`` and ``evaluate`` subcommands."""
    from hyperst.cli import _commands

    # allow_abbrev=False everywhere: a prefix such as `--tile` must not silently run `--tile-tissue`.
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (-vv: every warning)")
    common.add_argument("-q", "--quiet", action="count", default=0, help="warnings and errors only")
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")

    parser = argparse.ArgumentParser(
        prog="hyperst",
        description="Predict spatial gene expression from H&E images (HyperST).",
        epilog=EPILOG,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"hyperst {version}")
    parser.set_defaults(command=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        parents=[common],
        allow_abbrev=False,
        help="train a model on a slide (or cohort) with measured counts",
        epilog=EPILOG,
    )
    fit.set_defaults(command="fit", run=_commands.fit)
    fit.add_argument("data", metavar="DATA.zarr", help="SpatialData zarr store: H&E image(s), spots, counts table")
    fit.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder to save the trained model to")
    fit.add_argument("--table-key", default=Key.TABLE, help="table of raw counts (default: %(default)s)")
    fit.add_argument("--layer", help="layer of the table holding the counts (default: X)")
    fit.add_argument("--image-key", action="append", metavar="KEY|SPOTS=IMAGE", help="image per spots element")
    genes = fit.add_mutually_exclusive_group()
    genes.add_argument("--n-genes", type=positive(int), help="select this many genes with hst.pp.select_genes")
    genes.add_argument("--genes", metavar="FILE", help="text file with the gene panel, one gene per line")
    fit.add_argument("--encoder", default=DEFAULT_ENCODER, help="image encoder (default: %(default)s)")
    fit.add_argument("--max-epochs", type=positive(int), default=50, help="(default: %(default)s)")
    fit.add_argument("--batch-size", type=positive(int), default=128, help="(default: %(default)s)")
    fit.add_argument("--seed", type=non_negative_int, default=0, help="(default: %(default)s)")
    fit.add_argument("--validation", choices=choices(ValidationMode), default="auto", help="early-stopping set")
    fit.add_argument("--target", choices=choices(TargetScale), default="raw", help="expression scale to learn")
    fit.add_argument("--checkpoint", choices=choices(Checkpoint), default="mse", help="which epoch's weights to keep")
    fit.add_argument(
        "--n-models", type=positive(int), help="members of the ensemble (default: 5 for a frozen encoder, else 1)"
    )
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: %(default)s)")
    fit.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        type=setting,
        metavar="KEY=VALUE",
        help="any other keyword of hst.tl.fit or HyperSTConfig; VALUE is read as JSON, else as text "
        "(e.g. --set embed_dim=256 --set 'encoder_kwargs={\"input_size\": 64}')",
    )
    _progress_and_overwrite(fit, "MODEL_DIR")

    predict = commands.add_parser(
        "predict",
        parents=[common],
        allow_abbrev=False,
        help="predict the model's genes for the spots of a slide",
        epilog=EPILOG,
    )
    predict.set_defaults(command="predict", run=_commands.predict)
    predict.add_argument("data", metavar="DATA.zarr", help="SpatialData zarr store with the H&E image(s)")
    predict.add_argument("--model", required=True, metavar="MODEL_DIR", help="folder written by `hyperst fit`")
    predict.add_argument("--out", required=True, metavar="OUT.zarr", help="zarr store to write")
    where = predict.add_mutually_exclusive_group()
    where.add_argument("--spots", action="append", metavar="KEY", help="spots element(s) to predict")
    where.add_argument(
        "--tile-tissue",
        nargs="?",
        const=ONLY_IMAGE,
        metavar="IMAGE_KEY",
        help="lay a spot grid over the tissue of this image (default: the only image) and predict for it",
    )
    predict.add_argument("--table-key", help=f"table of the spots (default: {Key.TABLE!r} when present, else none)")
    predict.add_argument("--layer", help="layer of the table holding the counts (default: X)")
    predict.add_argument("--image-key", action="append", metavar="KEY|SPOTS=IMAGE", help="image per spots element")
    predict.add_argument("--key-added", default=Key.OUTPUT_TABLE, help="output table (default: %(default)s)")
    predict.add_argument("--batch-size", type=positive(int), default=64, help="(default: %(default)s)")
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: %(default)s)")
    multi = predict.add_argument_group("on several devices (Lightning's Trainer.predict; one process per device)")
    multi.add_argument(
        "--devices", type=devices, default=1, help="a count, indices as 0,1,3, or auto (default: %(default)s)"
    )
    multi.add_argument("--accelerator", help="Lightning accelerator (gpu, cpu, ...); overrides --device")
    multi.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (default: %(default)s)")
    predict.add_argument("--microns-per-pixel", type=positive(float), help="level-0 pixel size of the image in µm")
    predict.add_argument("--spot-diameter-um", type=positive(float), help="spot diameter where the data cannot tell")
    predict.add_argument("--evaluate", action="store_true", help="score against measured counts before writing")
    predict.add_argument("--without-images", action="store_true", help="leave the images out of OUT.zarr")
    tiles = predict.add_argument_group("with --tile-tissue")
    tiles.add_argument("--grid", choices=choices(TileGrid), default="hexagonal", help="(default: %(default)s)")
    tiles.add_argument(
        "--spacing-um", type=positive(float), default=Unit.VISIUM_SPOT_SPACING_UM, help="(default: %(default)s)"
    )
    tiles.add_argument("--min-tissue-fraction", type=positive(float), default=0.5, help="(default: %(default)s)")
    _progress_and_overwrite(predict, "OUT.zarr")

    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        allow_abbrev=False,
        help="print the metrics of a prediction against measured counts",
        epilog=EPILOG,
    )
    evaluate.set_defaults(command="evaluate", run=_commands.evaluate)
    evaluate.add_argument("data", metavar="OUT.zarr", help="zarr store written by `hyperst predict`")
    evaluate.add_argument("--table-key", default=Key.OUTPUT_TABLE, help="output table (default: %(default)s)")
    evaluate.add_argument("--groupby", help="column of obs to score per group as well (e.g. section)")
    evaluate.add_argument("--json", metavar="FILE", help="also write the metrics as JSON ('-': stdout only)")
    evaluate.add_argument("--per-gene", metavar="FILE", help="write the per-gene metrics as CSV")
    for command in (fit, predict, evaluate):
        command.set_defaults(flags=_flags(command))
    return parser


# Keywords of `hst.tl` whose command-line option has another name.
KEYWORD_FLAGS = {"spots_key": "--spots", "progress_bar": "--progress"}


def _flags(parser: argparse.ArgumentParser) -> dict[str, tuple[str, bool]]:
    """Keyword -> (its long option, whether the option takes no value), for error messages in the CLI's words."""
    flags = {}
    for action in parser._actions:  # argparse has no public list of a parser's options
        long = [option for option in action.option_strings if option.startswith("--")]
        if long:
            flags.setdefault(action.dest, (long[0], action.nargs == 0))
    flags |= {keyword: (flag, flags[flag[2:]][1]) for keyword, flag in KEYWORD_FLAGS.items() if flag[2:] in flags}
    return flags


def _progress_and_overwrite(parser: argparse.ArgumentParser, output: str) -> None:
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None, help="progress bars")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="(default off unless a tty)")
    parser.add_argument("--overwrite", action="store_true", help=f"replace an existing {output}")


def in_cli_words(message: str, flags: dict[str, tuple[str, bool]]) -> str:
    """Rewrite the Python keywords that ``hst.tl``'s errors name as the command's options.

    `` `overwrite=True` `` becomes `` `--overwrite` ``, `` `table_key=` `` `` `--table-key` ``, `` `key_added` ``
    `` `--key-added` `` and `` `layer='counts', image_key=...` `` `` `--layer counts --image-key ...` ``; a quoted
    span with a keyword the command has no option for, or a ``None`` value (leave the option out), stays as it is.
    """
    import re

    def options(match: re.Match) -> str:
        words = []
        for part in match.group(1).split(", "):
            keyword, equals, value = part.partition("=")
            value = value.strip("'\"")
            if keyword not in flags or value == "None" or not keyword.isidentifier():
                return match.group(0)
            flag, switch = flags[keyword]
            words.append(flag if switch or not value else f"{flag} {value}")
        return f"`{' '.join(words)}`"

    return re.sub(r"`([^`]+)`", options, message)


def positive(kind: type) -> Any:
    """Argument type: a number of ``kind`` greater than zero."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def devices(text: str) -> int | str | list[int]:
    """Argument type: a number of devices >= 1, device indices separated by commas, or ``auto``."""
    if text == "auto":
        return text
    try:
        value = [int(part) for part in text.split(",")] if "," in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number, a list like 0,1 or auto") from None
    if (value < 1) if isinstance(value, int) else min(value) < 0:
        raise argparse.ArgumentTypeError(f"must be a count >= 1 or device indices >= 0, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """Argument type: an integer of at least zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def setting(text: str) -> tuple[str, Any]:
    """Argument type of ``--set``: ``KEY=VALUE`` with VALUE read as JSON (numbers, true/false, lists, dicts), else text."""
    import json

    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value
