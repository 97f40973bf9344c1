"""``hst.tl.adapt``: fit a trained model to a new lab's slides with a few measured spots (few-shot adaptation)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hyperst._constants import PLAN_DEFAULTS, AdaptParts, BlendMember, Checkpoint, Key, ValidationMode, check_choice
from hyperst._docs import doc_image_key, doc_layer, doc_params, doc_table_key_counts
from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from hyperst.data import SpotData
    from hyperst.model import HyperST
    from hyperst.tl._fit import FitJob

# Default learning rate, whatever the base model trained at. Measured on her2st (docs/benchmarks.md, "Few-shot
# adaptation"): 1e-4 is the best or tied of 1e-3 to 1e-5 for train="all" on a block of the adapted slide (base
# trained at 1e-3), and on a new patient's other sections (base at the default 1e-4) the former default, a tenth of
# the base's rate (1e-5), barely moved the weights: raw r 0.33 at 1e-4 against 0.23 at 1e-5, normalised 0.09 / 0.05.
LR = 1e-4
PANEL_FIX = "The adapted model keeps the model's panel: rename the table's genes to match `model.genes`."


@doc_params(table_key=doc_table_key_counts, layer=doc_layer, image_key=doc_image_key)
def adapt(
    sdata: SpatialData,
    model: HyperST,
    *,
    table_key: str = Key.TABLE,
    spots: float | Sequence[str] | Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    train: AdaptParts = "all",
    refit_scaler: bool = False,
    blend: Sequence[BlendMember] | Literal["auto"] | None = "auto",
    layer: str | None = None,
    image_key: str | dict[str, str] | None = None,
    spot_diameter_um: float | None = None,
    microns_per_pixel: float | None = None,
    max_epochs: int = 50,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    patience: int = 10,
    checkpoint: Checkpoint = "mse",
    validation: ValidationMode = "auto",
    validation_groupby: str = Key.SECTION,
    device: str = "auto",
    progress_bar: bool = True,
) -> HyperST:
    """Return a new model: ``model`` fine-tuned on measured spots of a new lab's slides.

    A model trained on public data meets other stains, scanners and sequencing depths on a new lab's slides;
    measuring a few spots there and adapting the trained model to them is what a lab can afford. The new model
    starts as a copy of ``model`` (same gene panel, encoder and sizes) and trains only the parts ``train`` names on
    the adaptation spots, with early stopping as :func:`~hyperst.tl.fit`. ``model`` itself is never changed. A
    model with ``target="normalised"`` takes the adaptation spots' median library size as its new reference. Every
    member of an ensemble is adapted; their spread is calibrated again on the adaptation's validation spots (no
    ``predicted_sd`` when there are fewer than two), and the out-of-distribution reference stays the base model's.

    Parameters
    ----------
    sdata
        SpatialData with the new slides' H&E images, spots and a table of raw counts holding the model's genes.
    model
        A trained :class:`~hyperst.HyperST` (e.g. from :func:`~hyperst.tl.fit` on public data).
    {table_key}
    spots
        Adaptation spots: ``None``, every measured spot; a fraction in (0, 1], drawn with ``seed`` as whole
        spatial tiles of each section (:func:`hyperst.data.spatial_sample`); ``obs`` names, integer row positions
        or a boolean mask of the table's rows.
    seed
        Seed of the fraction's tiles, shuffling and the early-stopping split.
    train
        What moves: ``"all"``, every parameter (the encoder too when trainable; the default, the best on her2st,
        docs/benchmarks.md); ``"image"``, the image path after the encoder (projectors, image alignment heads,
        decoder); ``"head"``, the decoder only. The rest stays bit-identical to ``model``.
    refit_scaler
        Frozen encoders: standardise the features with the statistics of every spot of the new slides (their
        images, measured or not) instead of the base model's training spots (off by default: it lowered accuracy on
        her2st).
    blend
        Members of other kinds blended with the adapted networks, as :func:`~hyperst.tl.fit`'s ``blend``: fitted
        on the adaptation spots, their weights chosen on its validation spots. ``"auto"`` (default): the base
        model's members plus a ridge probe on the frozen features when the encoder is frozen and the adaptation
        has at least 10 validation spots (on a new patient's other sections, the adapted networks and a ridge on
        the measured section each fell short of the two blended: docs/benchmarks.md); ``None``: the networks
        alone.
    {layer}
    {image_key}
    spot_diameter_um
        Spot diameter in µm where the data cannot tell (as in :func:`~hyperst.tl.predict`).
    microns_per_pixel
        Pixel size of the image in µm, overriding what the spot grid implies (a small block of measured spots may
        not show its lattice).
    max_epochs
        Upper bound of training epochs (early stopping usually ends sooner).
    batch_size
        Spots per batch; default the base model's.
    lr
        AdamW learning rate; default 1e-4, whatever the base model trained at (measured, docs/benchmarks.md).
    weight_decay
        AdamW weight decay; default the base model's.
    patience
        Epochs without improvement of the ``checkpoint`` term before stopping; the best weights are restored.
    checkpoint
        Which epoch's weights to keep, as in :func:`~hyperst.tl.fit`.
    validation
        Early-stopping spots among the adaptation spots, as in :func:`~hyperst.tl.fit` (``"auto"``: a held-out
        group with 3 or more groups, else a spatial band of each section).
    validation_groupby
        Column of ``obs`` whose groups ``validation="group"`` holds out; without a ``"section"`` column, each
        spots element is a section (logged).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    progress_bar
        Show progress bars.

    Returns
    -------
    The adapted :class:`~hyperst.HyperST`. Its ``adapted_from`` (saved with it and written by
    :func:`~hyperst.tl.predict` into ``uns["hyperst"]["adapted_from"]``) records the base model's
    configuration and weight hashes, the adaptation spots' ``obs`` names, ``train``, ``refit_scaler`` and the
    member kinds blended (``blend``).

    Examples
    --------
    >>> model = hst.tl.fit(public)  # doctest: +SKIP
    >>> new = hst.tl.adapt(lab, model, spots=0.1, seed=0)  # doctest: +SKIP
    >>> hst.tl.predict(lab, new)  # doctest: +SKIP
    """
    from hyperst.data import check_genes, get_table, prepare_spots
    from hyperst.tl._checks import check_sdata_and_model
    from hyperst.tl._fit import FitJob
    from hyperst.train import inference_device, lightning_device

    check_sdata_and_model(sdata, model, "hst.tl.adapt")
    _check_adapt(model, train, validation, spots, refit_scaler, blend)
    table = get_table(sdata, table_key)
    check_genes(table, model.genes, table_key, panel="model", fix=PANEL_FIX)
    prepared = prepare_spots(
        sdata,
        table_key=table_key,
        genes=model.genes,
        layer=layer,
        image_key=image_key,
        spot_diameter_um=spot_diameter_um,
        microns_per_pixel=microns_per_pixel,
        out_of_bounds="pad",
        background=model.background,
    )
    rows = adaptation_rows(prepared, table.obs_names, spots, seed)
    base = model.train_params
    options = {
        "max_epochs": max_epochs,
        "batch_size": batch_size or base.get("batch_size", 128),
        "patience": patience,
        "checkpoint": checkpoint,
        "progress_bar": progress_bar,
        "fit_scaler": False,  # the base model's statistics, or the new slides' (refitted below)
        "trainer_kwargs": lightning_device(device),
        "plan_kwargs": {
            "lr": LR if lr is None else lr,
            "weight_decay": base.get("weight_decay", PLAN_DEFAULTS["weight_decay"])
            if weight_decay is None
            else weight_decay,
        },
    }
    job = FitJob(
        spots=prepared,
        genes=model.genes,
        seed=seed,
        model_options={},
        train_options=options,
        validation=validation,
        validation_groupby=validation_groupby,
    )
    new = copy.deepcopy(model)  # torch modules and numpy state copy whole; `model` is never touched
    new.blend = adaptation_blend(model, blend, job, rows)
    if refit_scaler:  # on every spot of the new slides (images only, no counts), on the device `train` encodes on
        trainer = options["trainer_kwargs"]
        new.refit_scaler(prepared, device=inference_device(trainer["accelerator"]), progress=progress_bar)
    logger.info("Adapting %s (%r) on %d spots.", model, train, len(rows))
    with contextlib.ExitStack() as stack:  # every member of an ensemble moves the same part
        for member in new.members:
            stack.enter_context(member.training_only(train))
        job.train(new, rows)
    # The out-of-distribution reference stays the base model's: its training spots, not the few new ones, are what
    # the model knows (the adaptation spots alone would make every spot unlike them look far). The members' spread
    # is calibrated anew on the adaptation's validation spots: those of the new slides.
    new.ood_reference = copy.deepcopy(model.ood_reference)
    new.train_params.update(table_key=table_key, layer=layer, validation=validation, device=device)
    new.adapted_from = _provenance(model, prepared.obs.index[rows], train, bool(refit_scaler), table_key, new.blend)
    return new


def adaptation_blend(model: HyperST, blend: Any, job: FitJob, rows: np.ndarray) -> Any:
    """Return the member kinds an adaptation of ``model`` on ``rows`` blends (:func:`adapt`'s ``blend``)."""
    from hyperst.data import validation_split
    from hyperst.model import MIN_VALIDATION_SPOTS

    if not _is_auto(blend):
        return blend  # checked by _check_adapt
    kinds = model.blend
    if not model.encoder.frozen or "ridge" in kinds:
        return kinds
    _, held_out = validation_split(job.spots, rows, mode=job.validation, groupby=job.validation_groupby, seed=job.seed)
    if len(held_out) < MIN_VALIDATION_SPOTS:
        logger.info(
            "No ridge probe blended into the adapted model: %d validation spots, %d needed to weigh it (adapt on "
            "more spots to have one).",
            len(held_out),
            MIN_VALIDATION_SPOTS,
        )
        return kinds
    logger.info("Blending a ridge probe fitted on the adaptation spots with the adapted networks (blend='auto').")
    return (*kinds, "ridge")


def _provenance(
    model: HyperST, names: Any, train: str, refit_scaler: bool, table_key: str, blend: tuple[str, ...]
) -> dict[str, Any]:
    """Return what an adapted model records of its making: the base model's hashes, the options, the spots."""
    from hyperst.model import model_digest

    return {
        "base": model_digest(model),
        "base_adapted_from": model.adapted_from,
        "train": train,
        "refit_scaler": refit_scaler,
        "blend": list(blend),
        "table_key": table_key,
        "n_spots": len(names),
        "spots": names.astype(str).tolist(),
    }


def _check_adapt(model: HyperST, train: Any, validation: Any, spots: Any, refit_scaler: bool, blend: Any) -> None:
    """Raise for an untrained model and bad :func:`adapt` options, before anything is read."""
    if not model.is_trained:
        raise ValueError("The model is untrained; adapt a trained model (`hst.tl.fit` or `hst.HyperST.load`).")
    check_choice("train", train, AdaptParts)
    check_choice("validation", validation, ValidationMode)
    if _is_fraction(spots) and not 0 < spots <= 1:
        raise ValueError(f"A fraction of spots (`spots=`) must be in (0, 1], got {spots}.")
    if refit_scaler and not model.encoder.frozen:
        raise ValueError(
            f"`refit_scaler` re-standardises frozen features, but the {model.encoder.name!r} encoder is trained with "
            "the model and has no feature scaler. Leave it unset (train='all' fine-tunes the encoder)."
        )
    if not _is_auto(blend):
        model.check_blend(blend)


def _is_auto(blend: Any) -> bool:
    return isinstance(blend, str) and blend == "auto"  # `blend` may be an array-like, where == compares elements


def adaptation_rows(spots: SpotData, obs_names: Any, which: Any, seed: int) -> np.ndarray:
    """Row positions into ``spots`` of the adaptation spots ``which`` (see :func:`adapt`); at least two measured."""
    from hyperst.data import spatial_sample

    measured = np.flatnonzero(spots.trainable)
    if which is None:
        rows = measured
    elif _is_fraction(which):
        rows = spatial_sample(spots, measured, float(which), seed=seed)
    else:
        selected = _table_rows(which, obs_names)
        rows = np.flatnonzero(np.isin(spots.obs_indices, selected) & spots.trainable)
        if len(rows) < len(np.unique(selected)):
            logger.warning(
                "%d of the %d chosen spots have no counts of the panel (or no spots element) and are left out.",
                len(np.unique(selected)) - len(rows),
                len(np.unique(selected)),
            )
    if len(rows) < 2:
        raise ValueError(
            f"Adaptation needs at least 2 measured spots (the contrastive terms compare spots); got {len(rows)}. "
            "Choose more spots (`spots=`) or check that the table has counts of the model's genes."
        )
    return rows


def _table_rows(which: Any, obs_names: Any) -> np.ndarray:
    """Table row positions of ``obs`` names, integer positions or a boolean mask."""
    values = np.asarray(which)
    if values.size == 0:
        return np.zeros(0, dtype=int)
    if values.dtype == bool:
        if values.shape != (len(obs_names),):
            raise ValueError(f"A boolean `spots` mask needs one value per table row ({len(obs_names)}).")
        return np.flatnonzero(values)
    if values.dtype.kind in "iu":
        if values.size and (values.min() < 0 or values.max() >= len(obs_names)):
            raise IndexError(f"`spots` positions must lie in [0, {len(obs_names)}).")
        return values.astype(int)
    if values.dtype.kind in "UO":
        positions = obs_names.get_indexer(values.astype(str))
        if (positions < 0).any():
            unknown = values[positions < 0][:5].tolist()
            raise KeyError(f"{(positions < 0).sum()} `spots` names are not in the table's obs_names: {unknown}.")
        return positions
    raise TypeError(
        "`spots` must be None, a fraction in (0, 1], obs names, integer row positions or a boolean mask; "
        f"got {type(which).__name__}."
    )


def _is_fraction(which: Any) -> bool:
    return isinstance(which, Real) and not isinstance(which, bool | np.bool_)
