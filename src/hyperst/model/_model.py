"""``HyperST``: the container-facing model: a gene panel, an image encoder and the saved torch network.

It owns training (:meth:`HyperST.train`), prediction, saving and loading, on spots prepared by :mod:`hyperst.data`;
it returns arrays and never writes into a SpatialData object (``hst.tl`` does that). scvi-tools' shape: the torch
network lives in :mod:`hyperst.module`, the Lightning loop in :mod:`hyperst.train`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from hyperst._constants import (
    DEFAULT_ENCODER,
    DEFAULT_N_JOBS,
    BlendMember,
    BlendWeights,
    Checkpoint,
    CropBackground,
    FeatureScaling,
    Key,
    TargetScale,
    check_choice,
    check_count,
)
from hyperst._logging import logger
from hyperst.data import CropView, crop_views, log2p, reference_library_size, scaled_spot_counts
from hyperst.model import _inference, _save_load, _scaling, _training_data
from hyperst.model._blend import MIN_VALIDATION_SPOTS, Blender, check_blend
from hyperst.model._options import accepts_old_keywords, group_options
from hyperst.model._save_load import ModelRecord
from hyperst.model._uncertainty import OOD_VIEWS, Calibration, OODReference, reference_groups
from hyperst.module import HyperSTHead, ImageToExpression
from hyperst.nn import HyperSTConfig
from hyperst.nn.encoders import ImageEncoder, build_encoder
from hyperst.train import (
    HyperSTTrainingPlan,
    check_devices,
    inference_device,
    lightning_device,
    run_training,
    torch_device,
)

if TYPE_CHECKING:
    from pathlib import Path

    from hyperst.data import SpotData


class HyperST:
    """HyperST: predicts a gene panel's expression (``log2(1 + count)``, raw or normalised) from H&E crops.

    Usually created and trained by :func:`hyperst.tl.fit`. The model holds the image encoder and the saved torch
    network :attr:`network` (:class:`~hyperst.module.ImageToExpression`: encoder, feature scaler and
    :class:`~hyperst.module.HyperSTHead`); sizes come from the data (panel, encoder width).

    Parameters
    ----------
    genes
        The gene panel, in output order.
    encoder
        Name of a built-in image encoder (``"squidpy"``, ``"cnn"``, ``"uni"``, ``"features"``, ...) or an
        :class:`~hyperst.nn.encoders.ImageEncoder` instance.
    encoder_kwargs
        Options of a named encoder (e.g. ``{"input_size": 64}``; ``{"lora_blocks": 11}`` for a foundation model).
    seed
        Seed of the weight initialisation (the global torch RNG is left as it was).
    target
        Expression scale it learns and predicts: ``"raw"`` ``log2(1 + count)`` (the paper's) or ``"normalised"``
        ``log2(1 + count / library size x reference)``, the library size being the spot's total over all genes
        and the reference the median over the training spots (:attr:`reference_library_size`, set by
        :meth:`train`).
    feature_scaling
        How a frozen encoder's features are standardised: ``"training"``, with the training spots' mean and
        spread (saved with the model); ``"section"``, each section with its own, so every slide is centred on
        itself (a new scanner's or stain's shift cancels, along with real differences in tissue composition).
    n_models
        Members of the ensemble: networks that differ in initialisation (seeds ``seed``, ``seed + 1``, ...) and
        batch order, share a frozen encoder, and predict their mean; their spread, calibrated on the validation
        spots, is the prediction's sd (:meth:`predict`).
    background
        What its crops show where an export hides the glass: ``"white"`` paints a masked export's black and a
        scanner's black padding white, as glass, in training and prediction, so a black background reads like a
        white one; ``"keep"`` reads the pixels as they are (models saved before hyperst 0.1).
    n_views
        Frozen encoders: augmented views of every training spot (:class:`~hyperst.data.CropView`: a coarser scan,
        a stain shift, a tissue edge) whose features are computed once and drawn per spot and epoch in training,
        and which join the out-of-distribution reference; 0 trains on the crops as they are.
    blend
        Members of other kinds blended with the networks' mean (:class:`~hyperst.model.Blender`): ``"ridge"``, a
        ridge probe on the frozen features; ``"retrieval"``, the mean expression of the training spots whose gene
        embeddings lie nearest the spot's image embedding. Their weights are chosen on the validation spots.
    blend_weights
        ``"global"``: one weight per member for the whole panel; ``"gene"``: one per member and gene.
    **config
        Fields of :class:`~hyperst.nn.HyperSTConfig` (``embed_dim``, ``alignment``, ``entailment``, ...).
    """

    def __init__(
        self,
        genes: list[str] | tuple[str, ...],
        *,
        encoder: str | ImageEncoder = DEFAULT_ENCODER,
        encoder_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        target: TargetScale = "raw",
        feature_scaling: FeatureScaling = "training",
        n_models: int = 1,
        background: CropBackground = "white",
        n_views: int = 0,
        blend: tuple[BlendMember, ...] | list[BlendMember] | None = None,
        blend_weights: BlendWeights = "global",
        **config: Any,
    ):
        check_choice("target", target, TargetScale)
        check_choice("background", background, CropBackground)
        n_models = check_count("n_models", n_models)
        check_choice("feature_scaling", feature_scaling, FeatureScaling)
        genes = [str(g) for g in genes]
        if not genes:
            raise ValueError("The gene panel is empty; select genes with `hst.pp.select_genes` or pass `genes=`.")
        if len(set(genes)) != len(genes):
            raise ValueError("The gene panel has duplicate names; make `var_names` unique first.")
        self.genes = genes
        self.target = target
        self.feature_scaling = feature_scaling
        self.background = background
        if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 0:
            raise ValueError(f"`n_views` must be a number of augmented views >= 0, got {n_views!r}.")
        self.n_views = n_views
        self.reference_library_size: float | None = None
        self.config = HyperSTConfig(**config)
        self.history = pd.DataFrame()
        self.train_params: dict[str, Any] = {}
        self.is_trained = False
        self.members: list[ImageToExpression] = []
        self._build = (encoder, dict(encoder_kwargs or {}), seed)  # how `add_members` builds more
        self.add_members(n_models)
        self.blend = blend
        check_choice("blend_weights", blend_weights, BlendWeights)
        self.blend_weights = blend_weights
        self.blender: Blender | None = None  # the fitted members of other kinds and their weights (see `train`)
        self.calibration: Calibration | None = None  # from the members' sd to a calibrated one (see `predict`)
        self.ood_reference: OODReference | None = None
        self.adapted_from: dict[str, Any] | None = None  # provenance of a model made by `hst.tl.adapt`

    def add_members(self, n: int) -> None:
        """Add ``n`` untrained members, the ``i``-th initialised with seed ``seed + i``."""
        if self.members and self.is_trained:
            raise ValueError("The model is trained; members can be added to an untrained model only.")
        encoder, encoder_kwargs, seed = self._build
        for member in range(len(self.members), len(self.members) + n):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + member)
                # A frozen encoder is shared by the members; a trained one is each member's own (an instance
                # passed in is copied: its initial weights are then shared, the members' heads still differ).
                if member == 0:
                    own = self.encoder = build_encoder(encoder, **encoder_kwargs)
                elif self.encoder.frozen:
                    own = self.encoder
                else:
                    own = (
                        copy.deepcopy(self.encoder)
                        if isinstance(encoder, ImageEncoder)
                        else build_encoder(encoder, **encoder_kwargs)
                    )
                head = HyperSTHead(len(self.genes), self.encoder.out_dim, self.config)
                self.members.append(ImageToExpression(own, head))

    @property
    def blend(self) -> tuple[BlendMember, ...]:
        """Member kinds blended with the networks (see the class's ``blend``); :meth:`train` fits them.

        Set before training (as :func:`hyperst.tl.adapt` does on its copy); a kind this encoder or alignment cannot
        serve is refused.
        """
        return self._blend

    @blend.setter
    def blend(self, kinds: Sequence[BlendMember] | None) -> None:
        self._blend = self.check_blend(kinds)

    def check_blend(self, kinds: Sequence[BlendMember] | None) -> tuple[BlendMember, ...]:
        """Return ``kinds`` as the member kinds this model can blend (``None``: none); set nothing.

        Raises naming a kind that is unknown, repeated, or that this encoder or alignment cannot serve.
        """
        kinds = check_blend(kinds)
        if "ridge" in kinds and not self.encoder.frozen:
            raise ValueError(
                f"The ridge member reads a frozen encoder's features, but the {self.encoder.name!r} encoder is trained "
                "with the model. Use blend=('retrieval',), or a frozen encoder (e.g. 'squidpy')."
            )
        if "retrieval" in kinds and self.config.alignment == "none":
            raise ValueError(
                "The retrieval member compares image and gene embeddings, which alignment='none' does not learn. "
                "Use blend=('ridge',), or an aligned model (alignment='hyperbolic')."
            )
        return kinds

    @property
    def network(self) -> ImageToExpression:
        """The saved torch network (the first member of an ensemble)."""
        return self.members[0]

    @property
    def module(self) -> ImageToExpression:
        """Deprecated name of :attr:`network`."""
        warnings.warn("`HyperST.module` is deprecated; it is `HyperST.network`.", DeprecationWarning, stacklevel=2)
        return self.network

    @property
    def n_models(self) -> int:
        """Members of the ensemble."""
        return len(self.members)

    @property
    def input_size(self) -> int:
        """Side in pixels the crops are resampled to (the encoder's input size)."""
        return int(self.encoder.input_size)

    def __repr__(self) -> str:
        state = f"trained for {len(self.history)} epochs" if self.is_trained else "untrained"
        members = f", n_models={self.n_models}" if self.n_models > 1 else ""
        return (
            f"HyperST({len(self.genes)} genes, encoder={self.encoder.name!r}, alignment={self.config.alignment!r}, "
            f"embed_dim={self.config.embed_dim}, target={self.target!r}{members}; {state})"
        )

    def target_record(self) -> dict[str, Any]:
        """Return the expression scale as saved and recorded in ``uns``: ``{"scale", "reference_library_size"}``."""
        return {"scale": self.target, "reference_library_size": self.reference_library_size}

    def _check_augment(self, augment: bool | None, stain_augment: float) -> bool:
        """Resolve ``augment`` (default: on for trainable encoders); refuse crop augmentation of frozen features."""
        if self.encoder.frozen and (augment or stain_augment > 0):
            raise ValueError(
                f"`augment` and `stain_augment` transform crops, but the frozen {self.encoder.name!r} encoder's "
                "features are computed once per spot and cannot be augmented. Leave both unset, or train an encoder "
                "with the model (e.g. encoder='cnn', or a foundation model with LoRA)."
            )
        if not 0 <= stain_augment < 1:
            raise ValueError(f"`stain_augment` must be in [0, 1), got {stain_augment}.")
        return not self.encoder.frozen if augment is None else bool(augment)

    def scaled_counts(self, spots: SpotData) -> tuple[np.ndarray, np.ndarray] | None:
        """Spot and niche counts of ``spots`` on the model's scale, before the logarithm (``None`` without counts)."""
        return scaled_spot_counts(spots, self.target, self.reference_library_size)

    # ------------------------------------------------------------------ training
    @accepts_old_keywords
    def train(
        self,
        spots: SpotData,
        train_rows: np.ndarray | None = None,
        validation_rows: np.ndarray | None = None,
        *,
        max_epochs: int = 50,
        batch_size: int = 128,
        patience: int = 10,
        checkpoint: Checkpoint = "mse",
        seed: int = 0,
        augment: bool | None = None,
        stain_augment: float = 0.0,
        fit_scaler: bool = True,
        progress_bar: bool = True,
        trainer_kwargs: dict[str, Any] | None = None,
        plan_kwargs: dict[str, Any] | None = None,
        loader_kwargs: dict[str, Any] | None = None,
    ) -> HyperST:
        """Train on the spots ``train_rows`` (row positions into ``spots``); early-stop on ``validation_rows``.

        Frozen encoders (``encoder.frozen``) run once over all crops (or their features are read from the feature
        store); training then sees cached features only, standardised with statistics of the training spots.
        Trainable encoders read crops decoded once into a :class:`~hyperst.data.CropCache` (in memory, or
        memory-mapped under ``cache_dir``) and see the same random dihedral transform on the spot and niche crop of
        a sample when ``augment``. Without validation spots, early stopping watches the training loss.

        The members of an ensemble train one after the other on the same spots and validation split (member ``i``
        with seed ``seed + i``); the validation spots then calibrate their spread (:class:`Calibration`, ensembles
        only), and the training spots' image features become the out-of-distribution reference
        (:class:`OODReference`), at the cost of one more pass over those spots.

        Parameters
        ----------
        spots
            Prepared spots with counts of the model's panel (:func:`~hyperst.data.prepare_spots`).
        train_rows, validation_rows
            Row positions into ``spots``.
        max_epochs, batch_size, patience
            Epochs at most, spots per batch, epochs without improvement before stopping.
        checkpoint
            The epoch whose weights are kept, and what early stopping watches: ``"mse"``, the lowest validation
            prediction error on the target scale (default); ``"loss"``, the lowest validation total loss (alignment
            terms included; their validation value stops improving early, so aligned models were kept under-trained);
            ``"last"``, the last of ``max_epochs`` epochs, no early stopping (the reference code).
        seed
            Seed of shuffling and augmentation: the same seed gives bit-identical CPU results.
        augment
            Random dihedral symmetries of the crops; default on for trainable encoders. Frozen encoders' features
            are computed once, so asking for augmentation with one is an error.
        stain_augment
            With ``augment``, also jitter the stain densities (HED) of the crops by up to this fraction (0.05 is
            Tellez et al.'s "HED-light"); trainable encoders only.
        fit_scaler
            Frozen encoders: standardise features with the training spots' statistics (``True``), or keep the
            scaler as it is (``False``: fine-tuning a trained model, as :func:`hyperst.tl.adapt` does, whose
            scaler :meth:`refit_scaler` may have fitted on the new slides' spots first).
        progress_bar
            Show progress bars.
        trainer_kwargs
            Lightning's ``accelerator``, ``devices``, ``strategy`` and ``precision`` (default mixed precision on
            CUDA, float32 elsewhere).
        plan_kwargs
            The optimiser's ``lr`` and ``weight_decay`` (AdamW; weight decay on weight matrices only).
        loader_kwargs
            ``cache_dir`` (folder of the memory-mapped crop cache of trainable encoders; default in memory),
            ``num_workers`` (DataLoader worker processes) and ``n_jobs`` (processes reading crops, and computing
            ``"squidpy"`` features, before training).

        Returns
        -------
        The model, trained, with :attr:`history` and :attr:`train_params` filled.

        Notes
        -----
        The keywords the groups replaced (``lr=``, ``accelerator=``, ``n_jobs=``, ...), ``train=`` and
        ``validation=`` (now ``train_rows`` / ``validation_rows``), ``features=`` (frozen features of every spot,
        now put into the feature store) and ``fit_scaler=<row positions>`` (now :meth:`refit_scaler` on those rows,
        then ``fit_scaler=False``) still work for one release, with a :class:`DeprecationWarning`.
        """
        if train_rows is None:
            raise TypeError("`HyperST.train` needs `train_rows`: the row positions into `spots` to train on.")
        groups = {"trainer_kwargs": trainer_kwargs, "plan_kwargs": plan_kwargs, "loader_kwargs": loader_kwargs}
        options = group_options(groups)
        train_rows, validation_rows = self._training_rows(spots, train_rows, validation_rows, batch_size)
        check_choice("checkpoint", checkpoint, Checkpoint)
        augment = self._check_augment(augment, stain_augment)
        stain_augment = stain_augment if augment else 0.0
        if self.target == "normalised":
            self.reference_library_size = reference_library_size(spots.library_size[train_rows])
        trainer, loader = options["trainer_kwargs"], options["loader_kwargs"]
        features = self._training_features(spots, train_rows, fit_scaler, trainer, loader, progress_bar)
        views = None
        if features is not None and self.n_views and self._reads_crops:
            logger.info("Training on %d augmented views of every spot besides its crops.", self.n_views)
            where = inference_device(trainer["accelerator"])
            views = self._view_features(spots, crop_views(self.n_views), where, loader["n_jobs"])
        data = {"batch_size": batch_size, "augment": augment, "stain_augment": stain_augment, "views": views} | loader
        run = {"max_epochs": max_epochs, "patience": patience, "checkpoint": checkpoint, "progress_bar": progress_bar}
        runs = self._train_members(spots, (train_rows, validation_rows), features, data, options, run, seed)
        self.history, best_epoch = runs[0]
        self.is_trained = True
        plan = options["plan_kwargs"]
        self.train_params = {
            "max_epochs": max_epochs,
            "epochs_run": len(self.history),
            "best_epoch": best_epoch,
            "batch_size": batch_size,
            "lr": plan["lr"],
            "weight_decay": plan["weight_decay"],
            "patience": patience,
            "checkpoint": checkpoint,
            "seed": seed,
            "augment": augment,
            "stain_augment": stain_augment,
            "n_train_spots": len(train_rows),
            "n_validation_spots": 0 if validation_rows is None else len(validation_rows),
        }
        if self.n_models > 1:
            self.train_params["members"] = [{"epochs_run": len(h), "best_epoch": b} for h, b in runs]
        where = inference_device(trainer["accelerator"])
        passes = {"device": where, "features": features, "batch_size": 256, "n_jobs": loader["n_jobs"]}
        blended = self._fit_blender(spots, train_rows, validation_rows, passes, seed)
        self._calibrate(spots, train_rows, validation_rows, passes, mean=blended)
        self._fit_ood_reference(spots, train_rows, passes, seed)
        return self

    def _training_rows(
        self, spots: SpotData, train_rows: np.ndarray, validation_rows: np.ndarray | None, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Check the panel and the rows; return the trainable training and validation rows (``None``: none)."""
        train_rows = _training_data.check_rows(spots, train_rows, "train")
        validation_rows = (
            None
            if validation_rows is None or len(validation_rows) == 0
            else _training_data.check_rows(spots, validation_rows, "validation")
        )
        if len(train_rows) < 2 or batch_size < 2:
            raise ValueError(
                f"Training needs at least 2 spots per batch (contrastive terms compare spots in a batch); got "
                f"{len(train_rows)} training spots and batch_size={batch_size}."
            )
        self.check_panel(spots)
        return train_rows, validation_rows

    def _training_features(
        self,
        spots: SpotData,
        train_rows: np.ndarray,
        fit_scaler: bool,
        trainer: dict[str, Any],
        loader: dict[str, Any],
        progress_bar: bool,
    ) -> _training_data.Features | None:
        """Return a frozen encoder's features as the members read them (``None``: trainable); fit the scaler."""
        if not self.encoder.frozen:
            return None
        features = _training_data.frozen_features(
            self.encoder,
            spots,
            device=torch_device(inference_device(trainer["accelerator"])),  # as the passes after training
            n_jobs=loader["n_jobs"],
            progress=progress_bar,
            lightning={k: trainer[k] for k in ("accelerator", "devices", "strategy")},
        )
        features = _scaling.scaled_features(features, spots.section_of, self.feature_scaling)
        if fit_scaler:
            _scaling.fit_scalers(self.members, features, train_rows)
        return features

    def _train_members(
        self,
        spots: SpotData,
        rows: tuple[np.ndarray, np.ndarray | None],
        features: _training_data.Features | None,
        data: dict[str, Any],
        options: dict[str, dict[str, Any]],
        run: dict[str, Any],
        seed: int,
    ) -> list[tuple[pd.DataFrame, int | None]]:
        """Train each member in turn (member ``i`` with seed ``seed + i``); return each one's history and best epoch.

        ``rows``: training and validation rows; ``data``: the loaders' options; ``options``: the grouped options
        (:func:`~hyperst.model._options.group_options`); ``run``: ``max_epochs``, ``patience``, ``checkpoint``,
        ``progress_bar``.
        """
        import lightning.pytorch as pl

        data = dict(data, encoder=self.encoder, features=features, counts=self.scaled_counts(spots))
        data["progress"] = run["progress_bar"]
        runs = []
        for number, member in enumerate(self.members):
            if self.n_models > 1:
                logger.info("Training member %d of %d of the ensemble.", number + 1, self.n_models)
            with torch.random.fork_rng(devices=[]):
                pl.seed_everything(seed + number, workers=True, verbose=False)
                loaders = _training_data.training_loaders(spots, *rows, seed=seed + number, **data)
                plan = HyperSTTrainingPlan(member, **options["plan_kwargs"])
                runs.append(run_training(plan, *loaders, **run, trainer_kwargs=options["trainer_kwargs"]))
            member.cpu()
        return runs

    @property
    def _reads_crops(self) -> bool:
        """Whether the encoder reads crops, which views can change (not features read from the table)."""
        return not isinstance(self.encoder, _training_data.PrecomputedFeatures)

    def _view_features(
        self, spots: SpotData, views: tuple[CropView, ...], device: str, n_jobs: int, progress: bool = False
    ) -> list[_training_data.Features] | None:
        """Scaled frozen-encoder features of every spot seen through each of ``views`` (feature store, else computed).

        ``None`` for a trainable encoder: its crops are read through a view instead.
        """
        if not self.encoder.frozen:
            return None
        return [
            _scaling.scaled_features(
                self.frozen_features(
                    dataclasses.replace(spots, view=view), device=device, n_jobs=n_jobs, progress=progress
                ),
                spots.section_of,
                self.feature_scaling,
            )
            for view in views
        ]

    def frozen_features(
        self, spots: SpotData, *, device: str = "auto", n_jobs: int = DEFAULT_N_JOBS, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spot and niche features of every spot from the frozen encoder (feature store, else computed on ``device``)."""
        if not self.encoder.frozen:
            raise ValueError(f"The {self.encoder.name!r} encoder is trained with the model; it has no fixed features.")
        where = torch_device(device)
        return _training_data.frozen_features(self.encoder, spots, device=where, n_jobs=n_jobs, progress=progress)

    def refit_scaler(
        self,
        spots: SpotData,
        rows: np.ndarray | None = None,
        *,
        device: str = "auto",
        n_jobs: int = DEFAULT_N_JOBS,
        progress: bool = False,
    ) -> HyperST:
        """Fit every member's feature scaler on the frozen features of ``rows`` of ``spots`` (default every spot).

        For a trained model meeting new slides (:func:`hyperst.tl.adapt` with ``refit_scaler=True``): their
        features are standardised with their own statistics; train afterwards with ``fit_scaler=False``.
        """
        features = _scaling.scaled_features(
            self.frozen_features(spots, device=device, n_jobs=n_jobs, progress=progress),
            spots.section_of,
            self.feature_scaling,
        )
        rows = np.arange(spots.n_spots) if rows is None else np.asarray(rows, dtype=int)
        _scaling.fit_scalers(self.members, features, rows)
        return self

    def _calibrate(
        self,
        spots: SpotData,
        train: np.ndarray,
        validation: np.ndarray | None,
        passes: dict[str, Any],
        mean: np.ndarray | None = None,
    ) -> None:
        """Fit the calibration of the members' sd on the validation spots (``passes``: `_predict_arrays` options).

        The sd is one of the expected expression at the training spots' median depth; the validation spots' own
        depths enter through count sampling (:class:`Calibration`). ``mean``: the blend's prediction of the
        validation spots (:meth:`_fit_blender`), around which the networks' spread is calibrated instead.
        """
        self.calibration = None
        if self.n_models == 1:
            return
        if validation is None or len(validation) < 2:
            logger.warning(
                "No validation spots to calibrate the ensemble's spread on (validation='none'?): `predict` will "
                "write no `predicted_sd`. Fit with validation='auto' to get calibrated uncertainty."
            )
            return
        outputs = self._predict_arrays(spots, validation, **passes)
        observed = log2p(self.scaled_counts(spots)[0][validation])
        self.calibration = Calibration.fit(
            observed,
            outputs["predicted"] if mean is None else mean,
            outputs["sd"],
            spots.library_size[validation],
            reference_depth=reference_library_size(spots.library_size[train]),
            scale=self.target,
        )
        factors = self.calibration.factors
        logger.info(
            "Calibrated the ensemble's sd on %d validation spots: factors %.2f-%.2f (median %.2f) over the genes.",
            len(validation),
            factors.min(),
            factors.max(),
            np.median(factors),
        )

    def _fit_blender(
        self, spots: SpotData, train: np.ndarray, validation: np.ndarray | None, passes: dict[str, Any], seed: int
    ) -> np.ndarray | None:
        """Fit the members of :attr:`blend` and choose their weights on the validation spots (:class:`Blender`).

        Returns the blend's prediction of the validation spots (``None`` without a blend), which the calibration
        of ``predicted_sd`` centres on. With fewer than ``MIN_VALIDATION_SPOTS`` validation spots the networks
        predict alone (logged).
        """
        self.blender = None
        if not self.blend:
            return None
        if validation is None or len(validation) < MIN_VALIDATION_SPOTS:
            logger.warning(
                "blend=%s needs at least %d validation spots to choose its weights, got %d: the networks predict "
                "alone. Train on more spots, with validation='auto' (or 'group' / 'spatial').",
                self.blend,
                MIN_VALIDATION_SPOTS,
                0 if validation is None else len(validation),
            )
            return None
        rows = np.concatenate([train, validation])
        outputs = self._predict_arrays(spots, rows, **passes)
        features = None if passes["features"] is None else np.concatenate(passes["features"], axis=1)[rows]
        self.blender, blended = Blender.fit(
            self.blend,
            networks=outputs["predicted"],
            expression=log2p(self.scaled_counts(spots)[0][rows]),
            validation=np.arange(len(rows)) >= len(train),
            features=features,
            image_embeddings=outputs.get("image_spot"),
            gene_embeddings=outputs.get("gene_spot"),
            curvature=self.network.head.curvature,
            per_gene=self.blend_weights == "gene",
            seed=seed,
        )
        weights = self.blender.mean_weights()
        self.train_params["blend"] = {"weights": weights, "per_gene": self.blend_weights == "gene"}
        logger.info(
            "Blend weights chosen on %d validation spots (%s, mean over the genes): %s.",
            len(validation),
            self.blend_weights,
            ", ".join(f"{kind} {w:.2f}" for kind, w in weights.items()),
        )
        return blended

    def _blended(
        self, spots: SpotData, networks: dict[str, np.ndarray], indices: np.ndarray, features: Any, **encoding: Any
    ) -> np.ndarray:
        """Return the blend for the spots ``indices`` of the networks' ``networks`` (``encoding``: device, n_jobs)."""
        if "ridge" in self.blend:
            features = features or _scaling.scaled_features(
                self.frozen_features(spots, **encoding), spots.section_of, self.feature_scaling
            )
            features = np.concatenate(features, axis=1)[indices]
        return self.blender.combine(
            networks["predicted"],
            features=features,
            image_embeddings=networks.get("image_spot"),
            curvature=self.network.head.curvature,
        )

    def _fit_ood_reference(self, spots: SpotData, train: np.ndarray, passes: dict[str, Any], seed: int) -> None:
        """Keep the training spots' image features (as the network reads them) to score new spots' distance.

        Besides the crops, the reference holds augmented views of them (:data:`OOD_VIEWS`, or the :attr:`n_views`
        the members trained on: a coarser scan, a mild stain shift, a tissue edge with glass beyond it), so a spot
        at the edge of the tissue, as ``hst.pp.tile_tissue`` lays them, or of a slightly other scan, is not
        flagged for that alone.
        """
        image = [self._predict_arrays(spots, train, heads=False, **passes)["image_features"]]
        # the slide's own tissue edges (glass-coloured), not a masked export's, are what tiled slides show
        views = crop_views(max(OOD_VIEWS, self.n_views), edge_colour="glass") if self._reads_crops else ()
        features = self._view_features(spots, views, passes["device"], passes["n_jobs"]) or [None] * len(views)
        for view, viewed in zip(views, features, strict=True):
            options = passes | {"features": viewed}
            image.append(
                self._predict_arrays(dataclasses.replace(spots, view=view), train, heads=False, **options)[
                    "image_features"
                ]
            )
        groups = reference_groups(spots.section_of[train], spots.centres_px[train])
        self.ood_reference = OODReference.fit(np.concatenate(image), np.tile(groups, len(image)), seed=seed)

    # ---------------------------------------------------------------- inference
    def predict(
        self,
        spots: SpotData,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 64,
        device: str = "auto",
        features: tuple[np.ndarray, np.ndarray] | None = None,
        n_jobs: int = DEFAULT_N_JOBS,
        devices: int | str | list[int] = 1,
        accelerator: str | None = None,
        strategy: str | Any = "auto",
        blend: bool = True,
    ) -> dict[str, np.ndarray]:
        """Predict the panel for the spots ``indices`` (default all) of ``spots``, streaming crops batch by batch.

        A frozen encoder's features come from the feature store (computed and stored on first use); ``features``
        (deprecated) passes them instead. ``n_jobs`` processes read crops.
        ``devices`` other than 1 (e.g. ``4`` with ``accelerator="gpu", strategy="ddp"``) split the batches across
        devices and processes with Lightning's ``Trainer.predict`` (a frozen encoder's crops are then encoded by
        the process that predicts them, and each process reads its crops itself); every process returns all
        spots' outputs, in order, equal to one device's. A model fitted with ``blend`` predicts the blend of its
        networks and its members of other kinds (:class:`~hyperst.model.Blender`); ``blend=False``, its networks
        alone (what the same fit without ``blend`` predicts; ``predicted_sd`` stays the one calibrated around the
        blend).

        Returns
        -------
        ``{"predicted": (n, n_genes)}`` (the members' mean, clipped at 0: expression is never negative) plus the Lorentz (or, for Euclidean ablations,
        unit-sphere) embeddings ``"image_spot"``, ``"image_niche"`` and, when ``spots`` has counts,
        ``"gene_spot"`` and ``"gene_niche"``, each ``(n, embed_dim)`` float32 (the first member's); for a
        calibrated ensemble ``"predicted_sd"`` ``(n, n_genes)``, the sd of the expected expression
        (:class:`~hyperst.model.Calibration`: with count sampling at a spot's depth, 90 % of measured values fall
        in its interval); with an
        out-of-distribution reference ``"ood"`` ``(n,)``, the share of training spots whose image features lie
        closer to the training data than the spot's.
        """
        self.check_panel(spots)
        check_devices(devices)
        if features is not None:
            warnings.warn(
                "`HyperST.predict(features=...)` is deprecated: the feature store keeps a slide's frozen features.",
                DeprecationWarning,
                stacklevel=2,
            )
        if self.encoder.frozen and self.feature_scaling == "section":  # every spot of a section sets its scale
            features = features or self.frozen_features(spots, device=device, n_jobs=n_jobs)
            features = _scaling.scaled_features(features, spots.section_of, self.feature_scaling)
        indices = np.arange(spots.n_spots) if indices is None else np.asarray(indices, dtype=int)
        outputs = self._predict_arrays(
            spots,
            indices,
            device=device,
            features=features,
            batch_size=batch_size,
            n_jobs=n_jobs,
            devices=devices,
            accelerator=accelerator,
            strategy=strategy,
        )
        if blend and self.blender is not None:
            outputs["predicted"] = self._blended(spots, outputs, indices, features, device=device, n_jobs=n_jobs)
        sd = outputs.pop("sd", None)
        if sd is not None and self.calibration is not None:
            outputs["predicted_sd"] = self.calibration.sd(outputs["predicted"], sd)  # as calibrated: before the clip
        # Expression is never below zero: the network's output is unbounded, so values below 0 are set to 0 here
        # (prediction output only; training and its validation loss see the raw output).
        np.maximum(outputs["predicted"], 0.0, out=outputs["predicted"])
        return outputs

    def _predict_arrays(
        self,
        spots: SpotData,
        indices: np.ndarray,
        *,
        device: str,
        features: _training_data.Features | None,
        batch_size: int,
        heads: bool = True,
        n_jobs: int = DEFAULT_N_JOBS,
        devices: int | str | list[int] = 1,
        accelerator: str | None = None,
        strategy: str | Any = "auto",
    ) -> dict[str, np.ndarray]:
        """Run every member over ``indices``: their mean, uncalibrated sd, the first one's embeddings, ``"ood"``.

        One device (``devices=1``) runs in this process on ``device``; any other ``devices`` runs Lightning's
        ``Trainer.predict`` (:func:`~hyperst.train.run_prediction`) on the same batches, and every process gets all
        outputs. ``heads=False``: only the spot image features the first member's head reads.
        """
        counts = self.scaled_counts(spots)
        networks = (self.members, self.encoder, self.ood_reference)
        options = {"encoder": self.encoder, "counts": counts, "batch_size": batch_size, "features": features}
        if devices != 1:  # Lightning splits the batches across devices and processes, then gathers them
            loader = _training_data.inference_loader(spots, indices, **options)
            lightning = lightning_device(device, accelerator, devices) | {"strategy": strategy}
            return _inference.predict_arrays_on_devices(
                *networks, loader, len(indices), heads=heads, lightning=lightning
            )
        where = torch_device(device)
        batches = _training_data.inference_batches(spots, indices, device=where, n_jobs=n_jobs, **options)
        return _inference.predict_arrays(*networks, batches, len(indices), device=where, heads=heads)

    def check_panel(self, spots: SpotData) -> None:
        """Raise when ``spots`` carry counts for another gene panel than the model's."""
        if spots.counts is not None and list(spots.genes) != self.genes:
            raise ValueError(
                "The spots carry counts for another gene panel than the model's. Prepare them with the model's "
                "genes (`genes=model.genes`) or without counts."
            )

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Save to a folder: ``config.json`` (genes, encoder, hyperparameters, version, history) and weights.

        Weights are stored as safetensors; loading never unpickles code.
        """
        _save_load.write_record(self._to_record(), path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, *, encoder: ImageEncoder | None = None) -> HyperST:
        """Load a model saved with :meth:`save`, on the CPU.

        Parameters
        ----------
        path
            The folder written by :meth:`save`.
        encoder
            The encoder instance, needed only for a model trained with a custom encoder class.
        """
        return cls._from_record(_save_load.read_record(path), encoder=encoder)

    def _to_record(self) -> ModelRecord:
        """Return what a saved model holds: the JSON-safe configuration, each member's tensors, the OOD arrays."""
        try:
            encoder_config = self.encoder.config()
        except NotImplementedError as error:
            raise TypeError(f"Cannot save the encoder: {error}") from error
        reference = self.ood_reference
        config = {
            "genes": self.genes,
            "encoder": {"name": self.encoder.name, "class": type(self.encoder).__qualname__, "config": encoder_config},
            "hyperparameters": self.config.to_dict(),
            "target": self.target_record(),
            "feature_scaling": self.feature_scaling,
            "background": self.background,
            "n_views": self.n_views,
            "blend": list(self.blend),
            "blend_weights": self.blend_weights,
            "train_params": self.train_params,
            "is_trained": self.is_trained,
            "history": json.loads(self.history.reset_index().to_json(orient="records")) if len(self.history) else [],
            "adapted_from": self.adapted_from,
            "calibration": None if self.calibration is None else self.calibration.record(),
            "ood": None
            if reference is None
            else {"neighbours": reference.neighbours, "n_reference": reference.n_reference},
        }
        blender = None if self.blender is None else self.blender.record()
        config["blender"] = None if blender is None else blender[0]
        members = []
        for member in self.members:
            keep = set(member.saved_state_keys())
            members.append({k: v.detach().cpu().contiguous() for k, v in member.state_dict().items() if k in keep})
        ood = None if reference is None else reference.arrays()
        return ModelRecord(config, members, ood, blend=None if blender is None else blender[1])

    @classmethod
    def _from_record(cls, record: ModelRecord, *, encoder: ImageEncoder | None = None) -> HyperST:
        """Rebuild a model from a saved record (``encoder``: the instance of a custom encoder class)."""
        from hyperst.nn.encoders import available_encoders

        config, saved = record.config, record.config["encoder"]
        if encoder is None and saved["name"] not in available_encoders():
            raise ValueError(
                f"The model at {record.source} uses a custom encoder ({saved['class']}); pass an instance with "
                f"`HyperST.load(path, encoder=...)`."
            )
        model = cls(
            config["genes"],
            encoder=saved["name"] if encoder is None else encoder,
            encoder_kwargs=saved["config"] if encoder is None else None,
            target=config["target"]["scale"],
            feature_scaling=config["feature_scaling"],
            background=config["background"],
            n_views=config["n_views"],
            blend=config["blend"],
            blend_weights=config["blend_weights"],
            n_models=len(record.members),
            **config["hyperparameters"],
        )
        model.reference_library_size = config["target"]["reference_library_size"]
        for number, (member, state) in enumerate(zip(model.members, record.members, strict=True)):
            where = f"{record.source}/{_save_load.member_file(number)}"
            _save_load.check_state(member, state, member.saved_state_keys(), where)
            member.load_state_dict(state, strict=not model.encoder.pretrained)
        calibration, ood = config["calibration"], config["ood"]
        model.calibration = None if calibration is None else Calibration.from_record(calibration)
        model.ood_reference = None if ood is None else OODReference.from_arrays(record.ood, int(ood["neighbours"]))
        blender = config["blender"]
        model.blender = None if blender is None else Blender.from_record(blender, record.blend)
        model.train_params = config["train_params"]
        model.adapted_from = config["adapted_from"]
        model.is_trained = bool(config["is_trained"])
        if model.is_trained and model.ood_reference is None:
            logger.info(
                "The model at %s was saved without an out-of-distribution reference (an earlier hyperst): `predict` "
                "will write no obs['%s']. Fit it again to get one.",
                record.source,
                Key.OOD,
            )
        history = pd.DataFrame(config["history"])
        model.history = history.set_index("epoch") if "epoch" in history else history
        return model


def model_digest(model: HyperST) -> dict[str, str]:
    """sha256 of what :meth:`HyperST.save` would write: the configuration (as JSON) and the weights of every member.

    Names a model without saving it (the provenance :func:`hyperst.tl.adapt` records of its base model).
    """
    return _save_load.record_digest(model._to_record())
