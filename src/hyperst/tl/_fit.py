"""``hst.tl.fit``: train HyperST on the spots of a SpatialData object."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._constants import (
    DEFAULT_ENCODER,
    DEFAULT_N_JOBS,
    BlendMember,
    BlendWeights,
    Checkpoint,
    CropBackground,
    FeatureScaling,
    Key,
    OutOfBounds,
    TargetScale,
    ValidationMode,
    check_choice,
    check_count,
)
from hyperst._docs import doc_image_key, doc_layer, doc_out_of_bounds, doc_params, doc_table_key_counts
from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from hyperst.data import SpotData
    from hyperst.model import HyperST


SMALL_DATA_SPOTS = 5_000  # below this many training spots the network is narrower (see `size_defaults`)
# Members of an ensemble when `n_models` is not given and the encoder is frozen (docs/benchmarks.md, "Uncertainty").
DEFAULT_FROZEN_MEMBERS = 5
# Augmented views frozen encoders train on (docs/benchmarks.md, "Slides as other labs export them": ahead on clean
# and degraded her2st B4; trainable encoders augment their crops instead)
DEFAULT_VIEWS = 4


@doc_params(table_key=doc_table_key_counts, layer=doc_layer, image_key=doc_image_key, out_of_bounds=doc_out_of_bounds)
def fit(
    sdata: SpatialData,
    *,
    table_key: str = Key.TABLE,
    genes: list[str] | None = None,
    encoder: Any = DEFAULT_ENCODER,
    max_epochs: int = 50,
    batch_size: int = 128,
    seed: int = 0,
    device: str = "auto",
    layer: str | None = None,
    image_key: str | dict[str, str] | None = None,
    validation: ValidationMode = "auto",
    validation_groupby: str = Key.SECTION,
    encoder_kwargs: dict[str, Any] | None = None,
    lr: float = 1e-4,
    weight_decay: float = 0.01,
    patience: int = 10,
    progress_bar: bool = True,
    accelerator: str | None = None,
    devices: int | str | list[int] = "auto",
    strategy: str | Any = "auto",
    precision: str | None = None,
    out_of_bounds: OutOfBounds = "pad",
    background: CropBackground = "white",
    n_views: int = DEFAULT_VIEWS,
    target: TargetScale = "raw",
    checkpoint: Checkpoint = "mse",
    augment: bool | None = None,
    stain_augment: float = 0.0,
    feature_scaling: FeatureScaling = "training",
    n_models: int | None = None,
    n_jobs: int = DEFAULT_N_JOBS,
    blend: tuple[BlendMember, ...] | list[BlendMember] | None = None,
    blend_weights: BlendWeights = "global",
    **model_kwargs: Any,
) -> HyperST:
    """Train HyperST to predict the gene panel from the spot and niche H&E crops of every spot.

    Parameters
    ----------
    sdata
        SpatialData with H&E images, spots (circles) and a table of raw counts annotating them.
    {table_key}
    genes
        Gene panel; default ``table.var["hyperst_gene"]`` when set (:func:`hyperst.pp.select_genes`), else the
        200 HMHVG genes selected on the fly (written nowhere).
    encoder
        Image encoder: ``"squidpy"`` (default: frozen colour and texture features, computed once), ``"cnn"``
        (trained end to end; wants more spots and epochs), a foundation model name (``"uni"``, ``"uni2-h"``,
        ``"hoptimus0"``; GPU advised), ``"features"`` (embeddings already in ``obsm``: pass
        ``encoder_kwargs={"spot_key": ..., "niche_key": ...}``) or an :class:`~hyperst.nn.encoders.ImageEncoder`
        instance.
    max_epochs
        Upper bound of training epochs (early stopping usually ends sooner).
    batch_size
        Spots per batch; the contrastive terms compare the spots within a batch.
    seed
        Seed of initialisation, shuffling, augmentation and the validation split: the same seed gives
        bit-identical CPU results.
    device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    {layer}
    {image_key}
    validation
        Early-stopping set: ``"auto"`` (one held-out ``validation_groupby`` group with 3 or more groups, else a
        spatial block of each section), ``"group"``, ``"spatial"`` or ``"none"`` (stop on the training loss).
    validation_groupby
        Column of ``obs`` whose groups ``validation="group"`` holds out; without a ``"section"`` column, each
        spots element is a section (logged).
    encoder_kwargs
        Options of a named encoder (e.g. ``{"input_size": 64}``).
    lr
        AdamW learning rate.
    weight_decay
        AdamW weight decay (weight matrices only).
    patience
        Epochs without improvement of the ``checkpoint`` term before stopping; the best weights are restored.
    progress_bar
        Show progress bars.
    accelerator
        Lightning accelerator; overrides ``device`` (e.g. ``"gpu"`` with ``devices=4, strategy="ddp"``).
    devices
        Lightning devices.
    strategy
        Lightning strategy (``"ddp"``, ``"ddp_spawn"``, ...).
    precision
        Lightning precision; default mixed precision on CUDA, float32 elsewhere.
    {out_of_bounds}
    background
        What crops show where an export hides the glass: ``"white"`` (default) paints a masked export's black and
        a scanner's black padding white, as glass, here and when the model predicts, so a tissue-masked export
        reads like the slide; ``"keep"`` reads the pixels as they are.
    n_views
        Frozen encoders: augmented views of every training spot (a coarser scan, a stain shift, a tissue edge;
        :class:`~hyperst.data.CropView`), encoded once and stored with the other features, drawn per spot and epoch
        in training and added to the out-of-distribution reference, so slides from other scanners and labs, and
        spots at tissue edges, lie closer to what the model learned; the views' features cost one encoding pass
        each, once. 0 trains on the crops as they are. Trainable encoders ignore it (``augment`` and
        ``stain_augment`` change their crops as they train).
    target
        Expression scale to learn and predict: ``"raw"``, the paper's ``log2(1 + count)``; ``"normalised"``,
        ``log2(1 + count / library size x median training library size)`` with the library size over all genes of
        the spot's row (sequencing depth removed; see docs/usage.md, "Expression scales").
    checkpoint
        Which epoch's weights to keep (and what early stopping watches): ``"mse"``, the lowest validation
        prediction error; ``"loss"``, the lowest validation total loss; ``"last"``, the last epoch.
    augment
        Random dihedral symmetries of the crops; default on for trainable encoders (``"cnn"``, foundation models
        with LoRA). An error with a frozen encoder, whose features are computed once.
    stain_augment
        With ``augment``, jitter the crops' stain densities (HED) by up to this fraction, for robustness to other
        stains and scanners (0.05 is Tellez et al.'s "HED-light"); trainable encoders only.
    feature_scaling
        Frozen encoders: standardise features with the training spots' statistics (``"training"``) or each
        section with its own (``"section"``: every slide centred on itself).
    n_models
        Members of the ensemble (seeds ``seed``, ``seed + 1``, ...; one validation split, which calibrates their
        spread into ``layers["predicted_sd"]``). Default: 5 with a frozen encoder, whose features are computed
        once and shared (members then cost seconds each), 1 with a trained one (each member is a full training).
    n_jobs
        Processes reading crops from the images (and computing ``"squidpy"`` features): 1, the default, reads in
        this process; more pay off from a few thousand spots on. Frozen-encoder features are stored and reused by
        later calls on the same spots (docs/usage.md, "The feature store").
    blend
        Members of other kinds to blend with the networks (docs/usage.md, "Blending"): ``"ridge"``, a ridge probe
        on the frozen encoder's features (frozen encoders only); ``"retrieval"``, the mean expression of the 50
        training spots whose gene embeddings lie nearest the spot's image embedding (BLEEP-style, in HyperST's
        aligned space). Their weights are chosen on the validation spots (logged; in ``train_params["blend"]``).
        Default: the networks alone.
    blend_weights
        ``"global"``: one weight per member for the whole panel (default); ``"gene"``: one per member and gene.
    **model_kwargs
        Hyperparameters of :class:`~hyperst.nn.HyperSTConfig` (``embed_dim``, ``alignment``, ``entailment``,
        ``image_gene_entailment``, ``decoder_input``, ...). Without ``embed_dim`` / ``dropout`` they follow the
        data: 256 and 0.3 below 5,000 training spots, else the paper's 1024 and 0.1.

    Returns
    -------
    The trained :class:`~hyperst.HyperST`; its ``history`` holds every loss term per epoch.

    Examples
    --------
    >>> sdata = hst.datasets.toy(seed=0)  # doctest: +SKIP
    >>> model = hst.tl.fit(sdata, max_epochs=20, embed_dim=256)  # doctest: +SKIP
    """
    options = {
        "table_key": table_key,
        "genes": genes,
        "encoder": encoder,
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
        "layer": layer,
        "image_key": image_key,
        "validation": validation,
        "validation_groupby": validation_groupby,
        "encoder_kwargs": encoder_kwargs,
        "lr": lr,
        "weight_decay": weight_decay,
        "patience": patience,
        "progress_bar": progress_bar,
        "accelerator": accelerator,
        "devices": devices,
        "strategy": strategy,
        "precision": precision,
        "out_of_bounds": out_of_bounds,
        "background": background,
        "n_views": n_views,
        "target": target,
        "checkpoint": checkpoint,
        "augment": augment,
        "stain_augment": stain_augment,
        "feature_scaling": feature_scaling,
        "n_models": n_models,
        "n_jobs": n_jobs,
        "blend": blend,
        "blend_weights": blend_weights,
    }
    job = prepare_fit(sdata, options | model_kwargs)
    model = job.new_model()
    job.train(model, np.flatnonzero(job.spots.trainable))
    model.train_params.update(table_key=table_key, layer=layer, validation=validation, device=device)
    return model


# Where each option of `fit` goes besides `fit`'s own (table_key, genes, layer, image_key, out_of_bounds, seed,
# device, validation, validation_groupby) and the HyperSTConfig fields, which go to the model.
MODEL_OPTIONS = (
    "encoder",
    "encoder_kwargs",
    "target",
    "feature_scaling",
    "n_models",
    "background",
    "n_views",
    "blend",
    "blend_weights",
)
TRAIN_OPTIONS = ("max_epochs", "batch_size", "patience", "checkpoint", "augment", "stain_augment", "progress_bar")
PLAN_OPTIONS = ("lr", "weight_decay")  # -> HyperST.train(plan_kwargs=...)
LOADER_OPTIONS = ("n_jobs",)  # -> HyperST.train(loader_kwargs=...)
TRAINER_OPTIONS = ("strategy", "precision")  # -> HyperST.train(trainer_kwargs=...), with accelerator and devices


@dataclass(frozen=True)
class FitJob:
    """What :func:`fit` and :func:`~hyperst.tl.cross_validate` share: spots prepared once, and options sorted.

    The options of the model, of its training and of the early-stopping split come from one set of ``fit`` options.
    """

    spots: SpotData
    genes: list[str]
    seed: int
    model_options: dict[str, Any]  # keywords of HyperST(): encoder, encoder_kwargs, target, HyperSTConfig fields
    train_options: dict[str, Any]  # keywords of HyperST.train, with its trainer_, plan_ and loader_kwargs
    validation: ValidationMode
    validation_groupby: str

    def new_model(self) -> HyperST:
        """Return an untrained model with the job's panel, encoder, hyperparameters and members."""
        from hyperst.model import HyperST

        options = dict(self.model_options)
        n_models = options.pop("n_models")
        model = HyperST(self.genes, seed=self.seed, n_models=1 if n_models is None else n_models, **options)
        if n_models is None and model.encoder.frozen:  # frozen features are shared: members are cheap
            model.add_members(DEFAULT_FROZEN_MEMBERS - 1)
            logger.info(
                "Training an ensemble of %d members on the frozen %r features (pass `n_models=` to choose).",
                model.n_models,
                model.encoder.name,
            )
        return model

    def train(self, model: HyperST, rows: np.ndarray) -> None:
        """Split ``rows`` into training and early-stopping spots and train ``model`` on them."""
        from hyperst.data import validation_split

        train_rows, held_out = validation_split(
            self.spots, rows, mode=self.validation, groupby=self.validation_groupby, seed=self.seed
        )
        logger.info("Training on %d spots, early stopping on %d validation spots.", len(train_rows), len(held_out))
        model.train(self.spots, train_rows, held_out, seed=self.seed, **self.train_options)

    @property
    def inference_device(self) -> str:
        """The device the passes after training run on (``"cpu"`` after a CPU fit)."""
        from hyperst.train import inference_device

        return inference_device(self.train_options["trainer_kwargs"]["accelerator"])

    @property
    def n_jobs(self) -> int:
        """Processes reading crops."""
        return self.train_options["loader_kwargs"]["n_jobs"]


def prepare_fit(sdata: SpatialData, options: dict[str, Any]) -> FitJob:
    """Check ``options``, choose the panel and prepare the spots once.

    ``options`` are keywords of :func:`fit`; the missing ones take its defaults.

    Options go where the tuples above say: :data:`MODEL_OPTIONS` and :class:`~hyperst.nn.HyperSTConfig`'s fields
    to the model, :data:`TRAIN_OPTIONS` to :meth:`HyperST.train <hyperst.HyperST.train>`, with
    :data:`PLAN_OPTIONS`, :data:`LOADER_OPTIONS` and :data:`TRAINER_OPTIONS` (plus ``accelerator`` and ``devices``
    from ``device``) in its grouped keywords; the rest are ``fit``'s own.
    """
    from hyperst.data import check_n_jobs, check_spatialdata, prepare_spots
    from hyperst.nn import HyperSTConfig
    from hyperst.train import lightning_device

    check_spatialdata(sdata, "hst.tl.fit")
    defaults = {name: p.default for name, p in inspect.signature(fit).parameters.items() if p.default is not p.empty}
    config_fields = {f.name for f in dataclasses.fields(HyperSTConfig)}
    check_n_jobs(options.get("n_jobs", DEFAULT_N_JOBS))  # its own, more precise message first
    check_fit_options(options)
    options = defaults | options
    check_choice("validation", options["validation"], ValidationMode)
    if options["n_models"] is not None:
        check_count("n_models", options["n_models"])
    check_n_jobs(options["n_jobs"])
    table_key, layer = options["table_key"], options["layer"]
    genes = _panel(sdata, table_key, options["genes"], layer)
    spots = prepare_spots(
        sdata,
        table_key=table_key,
        genes=genes,
        layer=layer,
        image_key=options["image_key"],
        out_of_bounds=options["out_of_bounds"],
        background=options["background"],
    )
    encoder = options["encoder"]
    model_options = {k: v for k, v in options.items() if k in config_fields or k in MODEL_OPTIONS}
    for name, value in size_defaults(int(spots.trainable.sum())).items():
        model_options.setdefault(name, value)
    model_options |= {
        "encoder_kwargs": _encoder_kwargs(sdata, encoder, options["encoder_kwargs"], table_key),
    }
    trainer = lightning_device(options["device"], options["accelerator"], options["devices"])
    train_options = {k: options[k] for k in TRAIN_OPTIONS} | {
        "trainer_kwargs": trainer | {k: options[k] for k in TRAINER_OPTIONS},
        "plan_kwargs": {k: options[k] for k in PLAN_OPTIONS},
        "loader_kwargs": {k: options[k] for k in LOADER_OPTIONS},
    }
    return FitJob(
        spots=spots,
        genes=genes,
        seed=options["seed"],
        model_options=model_options,
        train_options=train_options,
        validation=options["validation"],
        validation_groupby=options["validation_groupby"],
    )


def check_fit_options(options: dict[str, Any], *, prefix: str = "") -> None:
    """Raise naming the option that :func:`fit` would reject: an unknown keyword or a value of the wrong kind.

    Checked before any work (the command line calls it before reading the store and selecting genes): keywords of
    :class:`~hyperst.nn.HyperSTConfig` by building a config with them, ``fit``'s own numeric and boolean options by
    the kind of their default. ``prefix`` starts each message (``"--set "`` for the command line).
    """
    from hyperst.nn import HyperSTConfig

    defaults = {name: p.default for name, p in inspect.signature(fit).parameters.items() if p.kind == p.KEYWORD_ONLY}
    fields = {field.name for field in dataclasses.fields(HyperSTConfig)}
    unknown = sorted(set(options) - set(defaults) - fields)
    if unknown:
        raise TypeError(
            f"{prefix}{unknown[0]}: unknown option {unknown[0]!r}, neither a keyword of `hst.tl.fit` nor a field of "
            "`hst.nn.HyperSTConfig`; see their parameters."
        )
    for key, value in options.items():
        default = defaults.get(key)
        flag = isinstance(value, bool | np.bool_)
        if isinstance(default, bool) and not flag:
            raise TypeError(f"{prefix}{key}={value!r}: `{key}` takes True or False.")
        if isinstance(default, Real) and not isinstance(default, bool) and (flag or not isinstance(value, Real)):
            raise TypeError(f"{prefix}{key}={value!r}: `{key}` takes a number (default {default}).")
    config = {key: value for key, value in options.items() if key in fields}
    try:
        HyperSTConfig(**config)
    except (TypeError, ValueError) as error:
        for key, value in config.items():  # name the culprit when one value is wrong on its own
            try:
                HyperSTConfig(**{key: value})
            except (TypeError, ValueError) as alone:
                raise ValueError(f"{prefix}{key}={value!r} is invalid: {alone}") from None
        raise ValueError(f"{prefix}{error}") from None


def size_defaults(n_spots: int) -> dict[str, Any]:
    """Return ``embed_dim`` and ``dropout`` for ``n_spots`` training spots: 256 and 0.3 below 5,000, else 1024, 0.1.

    Measured on her2st (about 900 training spots, frozen features; docs/benchmarks.md): widths 128 and 256 tie and
    512 is worse on the held-out patient; dropout 0.3 beats 0.1 there and on the section folds' raw scale. The
    paper's 1024 and 0.1 come from UNI features and tens of thousands of spots.
    """
    small = n_spots < SMALL_DATA_SPOTS
    values = {"embed_dim": 256, "dropout": 0.3} if small else {"embed_dim": 1024, "dropout": 0.1}
    logger.info(
        "embed_dim=%d, dropout=%g for %d training spots (pass `embed_dim=` / `dropout=` to choose).",
        values["embed_dim"],
        values["dropout"],
        n_spots,
    )
    return values


def _encoder_kwargs(sdata: SpatialData, encoder: Any, kwargs: dict | None, table_key: str) -> dict[str, Any]:
    """Complete the options of the ``"features"`` encoder with what the table says (its width, its table)."""
    kwargs = dict(kwargs or {})
    if encoder != "features":
        return kwargs
    if "spot_key" not in kwargs:
        raise ValueError('encoder="features" reads embeddings from obsm: pass `encoder_kwargs={"spot_key": ...}`.')
    kwargs.setdefault("table_key", table_key)
    obsm = sdata.tables[kwargs["table_key"]].obsm
    if kwargs["spot_key"] not in obsm:
        raise KeyError(f"No obsm[{kwargs['spot_key']!r}] in table {kwargs['table_key']!r} (obsm: {list(obsm)}).")
    kwargs.setdefault("out_dim", int(obsm[kwargs["spot_key"]].shape[1]))
    return kwargs


def _panel(sdata: SpatialData, table_key: str, genes: list[str] | None, layer: str | None) -> list[str]:
    """Return the requested genes, else ``var["hyperst_gene"]``, else 200 HMHVG genes selected on the fly."""
    from hyperst.data import get_table, resolve_genes
    from hyperst.pp import select_genes

    table = get_table(sdata, table_key)
    if genes is not None or Key.GENE_PANEL in table.var:
        return resolve_genes(table, genes, table_key)
    n_genes = min(200, table.n_vars)
    logger.info("No gene panel given: selecting %d genes (HMHVG); run `hst.pp.select_genes` to choose.", n_genes)
    return select_genes(sdata, n_genes, table_key=table_key, layer=layer, inplace=False)
