"""Every key, name and choice hyperst reads or writes, defined once (squidpy's ``_constants`` pattern).

Torch-free and import-free, so every layer may use it. Container keys are constants of :class:`Key` (derived keys
are functions), sizes are constants of :class:`Unit`, and every option with a fixed set of values is one
``Literal`` whose values :func:`choices` lists and :func:`check_choice` enforces.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Final, Literal, get_args

# ---------------------------------------------------------------------------------------------- choices
Stream = Literal["image_spot", "image_niche", "gene_spot", "gene_niche"]  # the four embedding streams
Modality = Literal["image", "gene"]
Alignment = Literal["hyperbolic", "euclidean", "none"]  # HyperST and its two alignment ablations
DecoderInput = Literal["spot+niche", "spot", "niche"]
HEAReduction = Literal["mean", "reference"]  # paper: mean of the pair terms; reference code: 0.5 * sum
# Spot lattices: Visium, legacy ST, Visium HD bins (touching squares on a square lattice), anything else.
Grid = Literal["hexagonal", "square", "bins", "generic"]
TileGrid = Literal["hexagonal", "square"]  # lattices `hst.pp.tile_tissue` lays out
ValidationMode = Literal["auto", "group", "spatial", "none"]  # early-stopping split of `hst.tl.fit`
OutOfBounds = Literal["pad", "exclude"]  # spots whose crops leave the image
# What crops show where an export hides the glass: "white" paints a masked export's black and scanners' black padding
# white, as glass (hyperst.data.paint_background); "keep" reads the pixels as they are (models saved before it).
CropBackground = Literal["white", "keep"]
# What an edge view paints beyond its line: white (the crop background a masked export is painted to) or the
# crop's own glass colour (a tissue edge of the slide itself)
EdgeColour = Literal["white", "glass"]
GeneSelection = Literal["hmhvg", "hvg"]  # `hst.pp.select_genes` methods
# What HyperST predicts: "raw" log2(1 + count) (the paper), or "normalised" log2(1 + count / library size x the
# median training library size), the library size being the spot's total over all genes of its table row.
TargetScale = Literal["raw", "normalised"]
# Which epoch's weights training keeps: lowest validation MSE, lowest validation total loss, or the last epoch.
Checkpoint = Literal["mse", "loss", "last"]
# Frozen features standardised with the training spots' statistics, or each section with its own (slide-centred).
FeatureScaling = Literal["training", "section"]
# What `hst.tl.adapt` moves: the decoder ("head"), the image path after the encoder ("image") or everything ("all").
AdaptParts = Literal["head", "image", "all"]
Normalisation = Literal["library_size", "panel"]  # how `evaluate` normalises: the whole row, or the panel only
# What `hst.tl.cross_validate(baselines=...)` runs beside HyperST (hyperst.baselines): a ridge probe, BLEEP-style
# kNN retrieval, and the shuffled-image control (a control: never the "best baseline" HyperST is compared with).
Baseline = Literal["ridge", "knn", "shuffled"]
BASELINE_CONTROLS: Final = ("shuffled",)
# Members of other kinds `hst.tl.fit(blend=...)` adds to HyperST's networks (hyperst.model.Blender): a ridge probe on
# the frozen features, and retrieval in the aligned space (training spots whose gene embeddings lie nearest).
BlendMember = Literal["ridge", "retrieval"]
# Blend weights chosen on the validation spots: one set for the whole panel, or one per gene.
BlendWeights = Literal["global", "gene"]
# The two scales `evaluate` and `cross_validate` score on: log2(1 + count), and library-size-normalised observations.
Scale = Literal["raw", "normalised"]


def choices(literal: Any) -> tuple[str, ...]:
    """Return the values of a ``Literal`` choice, in order (e.g. ``choices(Alignment)``)."""
    return get_args(literal)


def check_choice(name: str, value: Any, literal: Any) -> None:
    """Raise a ``ValueError`` naming the option and its values when ``value`` is not one of ``literal``'s."""
    if value not in get_args(literal):
        raise ValueError(f"`{name}` must be one of {get_args(literal)}, got {value!r}.")


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an ``int``; raise a ``ValueError`` naming the option unless it is a whole number >= minimum."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"`{name}` must be a whole number >= {minimum}, got {value!r}.")
    return int(value)


#: The embedding streams in drawing order, generic to specific: image above gene, spot above niche.
STREAMS: Final[tuple[Stream, ...]] = get_args(Stream)
IMAGE_STREAMS: Final[tuple[Stream, Stream]] = ("image_spot", "image_niche")
#: Parent -> child pairs of the hierarchy that HEA's entailment cones enforce: the image entails the gene profile
#: at both scales, the spot entails its niche in both modalities (docs/method.md, "Hierarchical entailment").
IMAGE_GENE_PAIRS: Final[tuple[tuple[Stream, Stream], ...]] = (
    ("image_spot", "gene_spot"),
    ("image_niche", "gene_niche"),
)
SPOT_NICHE_PAIRS: Final[tuple[tuple[Stream, Stream], ...]] = (
    ("image_spot", "image_niche"),
    ("gene_spot", "gene_niche"),
)
HIERARCHY_PAIRS: Final = IMAGE_GENE_PAIRS + SPOT_NICHE_PAIRS


# ---------------------------------------------------------------------------------------------- keys
class Key:
    """Container keys (tables, columns, layers, obsm, uns); derived keys are functions."""

    # tables
    TABLE: Final = "table"  # input counts table
    OUTPUT_TABLE: Final = "hyperst"  # prediction table written by ``tl.predict``

    # table.obs / table.var / table.uns of the input table
    REGION: Final = "region"  # SpatialData region_key written by hyperst
    INSTANCE: Final = "spot_id"  # SpatialData instance_key written by hyperst
    SECTION: Final = "section"
    PATIENT: Final = "patient"
    ORGAN: Final = "organ"  # obs column written by readers that know it (HEST)
    TECHNOLOGY: Final = "technology"  # obs column: the spatial platform (HEST's "st_technology")
    # uns entry of the input table: spots element -> level-0 pixel size (µm) of its image, written by readers that
    # know it (HEST); `prepare_spots` takes it when `microns_per_pixel` is not passed.
    PIXEL_SIZES: Final = "hyperst_microns_per_pixel"
    GENE_PANEL: Final = "hyperst_gene"  # var column (bool): the panel ``pp.select_genes`` chose
    GENE_PANEL_RECORD: Final = "hyperst_genes"  # uns record of that choice: method, ranked genes, parameters

    # layers / obsm / uns of the output table
    LIBRARY_SIZE: Final = "hyperst_library_size"  # obs column: the spot's total count over all genes of its row
    PREDICTED: Final = "predicted"
    PREDICTED_SD: Final = "predicted_sd"  # layer: calibrated sd of an ensemble's prediction
    OBSERVED: Final = "observed"
    OOD: Final = "hyperst_ood"  # obs column in [0, 1]: share of training spots closer to the training data
    OOD_FLAG: Final = "hyperst_ood_flag"  # obs column (bool): OOD above `OOD_THRESHOLD`
    TISSUE_FRACTION: Final = "hyperst_tissue_fraction"  # obs column in [0, 1]: share of the spot crop on tissue
    SPATIAL: Final = "spatial"
    UNS: Final = "hyperst"
    METRICS: Final = "metrics"

    @staticmethod
    def embedding(stream: Stream) -> str:
        """``obsm`` key of a stream's embeddings in the output table, e.g. ``"hyperst_image_spot"``."""
        return f"{Key.UNS}_{stream}"


class Column:
    """Columns of the table :func:`hyperst.tl.cross_validate` returns; derived names are functions."""

    PCC: Final = "pcc_mean"  # HyperST's fixed-panel mean r
    DIFFERENCE: Final = "difference"  # HyperST's mean r minus the best baseline's, fold by fold
    BASELINES: Final = "baselines"  # `DataFrame.attrs` entry: per scale, the best baseline, the paired summary
    UNBLENDED: Final = "unblended"  # a blended model's HyperST networks alone (`pcc_mean_unblended`, ...)

    @staticmethod
    def scaled(name: str, scale: Scale) -> str:
        """Return the column on ``scale``: ``name`` on the raw scale, ``f"{name}_norm"`` on the normalised one."""
        return name if scale == "raw" else f"{name}_norm"

    @staticmethod
    def baseline(method: str, scale: Scale) -> str:
        """Return the column of a baseline's mean r on ``scale``, e.g. ``"pcc_mean_ridge"``, ``"pcc_mean_norm_ridge"``."""
        return f"{Column.scaled(Column.PCC, scale)}_{method}"


class Unit:
    """Physical sizes used across the package, in micrometres."""

    VISIUM_SPOT_DIAMETER_UM: Final = 55.0
    VISIUM_SPOT_SPACING_UM: Final = 100.0
    LEGACY_ST_SPOT_DIAMETER_UM: Final = 100.0
    LEGACY_ST_SPOT_SPACING_UM: Final = 200.0
    MIN_SPOT_CROP_UM: Final = 112.0
    # Visium HD bins (docs/data.md, "Visium HD"): a bin's niche is every bin whose centre lies in a Visium spot's
    # disk around it, and its spot crop is the bin and its ring of neighbours, at least this wide (about 2 cells).
    BIN_NICHE_DIAMETER_UM: Final = VISIUM_SPOT_DIAMETER_UM
    MIN_BIN_CROP_UM: Final = 16.0


# Uncertainty: `predicted +- INTERVAL_Z x predicted_sd` covers INTERVAL_COVERAGE of the calibration spots' values.
INTERVAL_COVERAGE: Final = 0.9
INTERVAL_Z: Final = 1.6448536269514722  # standard normal quantile of (1 + 0.9) / 2
# Spots with `obs["hyperst_ood"]` above this lie further from the training data than 99 % of training spots.
OOD_THRESHOLD: Final = 0.99

# Environment variable naming the dataset cache directory (also the offline override of the download registry).
DATA_DIR_ENV: Final = "HYPERST_DATA_DIR"

# Default image encoder of `hst.tl.fit` and `HyperST`: frozen squidpy colour/texture features. On small data they
# match a CNN trained end to end at a fraction of the cost (docs/benchmarks.md, "Default image encoder").
DEFAULT_ENCODER: Final = "squidpy"

# Default processes reading crops (`n_jobs` of `fit`, `predict`, `cross_validate`): the main process only. Worker
# processes cost a start-up and a copy of the slide's handles each and pay off from a few thousand spots on, and
# hyperst cannot tell how many cores a shared machine has for it (docs/benchmarks.md, "Default encoder, crop
# reading and the feature store").
DEFAULT_N_JOBS: Final = 1

# Options of `HyperST.train` by where they go (scvi-tools' grouping): Lightning's Trainer, the training plan, the
# data loaders; each group's defaults.
TRAINER_DEFAULTS: Final = {"accelerator": "auto", "devices": "auto", "strategy": "auto", "precision": None}
PLAN_DEFAULTS: Final = {"lr": 1e-4, "weight_decay": 0.01}
LOADER_DEFAULTS: Final = {"cache_dir": None, "num_workers": 0, "n_jobs": DEFAULT_N_JOBS}

# Suffix of the spot grid written by `hst.pp.tile_tissue`: shapes f"{image_key}_tiles".
TILES_SUFFIX: Final = "_tiles"
