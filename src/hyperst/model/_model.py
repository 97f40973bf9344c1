"""``HyperST``: the container-facing model: a gene panel, an image encoder and the saved torch network.

It owns training (:meth:`HyperST.train`), prediction, saving and loading, on spots prepared by :mod:`hyperst.data`;
it returns arrays and never writes into a SpatialData object (``hst.tl`` does that). scvi-tools' shape: the torch
network lives in :mod:`hyperst.module`, the Lightning loop in :mod:`hyperst.train`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from hyperst._constants import DEFAULT_ENCODER, DEFAULT_N_JOBS, Checkpoint, FeatureScaling, TargetScale, check_choice
from hyperst.model import _save_load, _training_data
from hyperst.module import HyperSTModule, ImageToExpression
from hyperst.nn import HyperSTConfig
from hyperst.nn.encoders import ImageEncoder, build_encoder
from hyperst.train import HyperSTTrainingPlan, run_training, torch_device

if TYPE_CHECKING:
    from pathlib import Path

    from hyperst.data import SpotData


class HyperST:
    """HyperST: predicts a gene panel's expression (``log2(1 + count)``, raw or normalised) from H&E crops.

    Usually created and trained by :func:`hyperst.tl.fit`. The model holds the image encoder and the saved torch
    network :attr:`module` (:class:`~hyperst.module.ImageToExpression`: encoder, feature scaler and
    :class:`~hyperst.module.HyperSTModule`); sizes come from the data (panel, encoder width).

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
        **config: Any,
    ):
        check_choice("target", target, TargetScale)
        check_choice("feature_scaling", feature_scaling, FeatureScaling)
        genes = [str(g) for g in genes]
        if not genes:
            raise ValueError("The gene panel is empty; select genes with `hst.pp.select_genes` or pass `genes=`.")
        if len(set(genes)) != len(genes):
            raise ValueError("The gene panel has duplicate names; make `var_names` unique first.")
        self.genes = genes
        self.target = target
        self.feature_scaling = feature_scaling
        self.reference_library_size: float | None = None
        self.config = HyperSTConfig(**config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = build_encoder(encoder, **(encoder_kwargs or {}))
            head = HyperSTModule(len(genes), self.encoder.out_dim, self.config)
            self.module = ImageToExpression(self.encoder, head)
        self.history = pd.DataFrame()
        self.train_params: dict[str, Any] = {}
        self.is_trained = False

    @property
    def input_size(self) -> int:
        """Side in pixels the crops are resampled to (the encoder's input size)."""
        return int(self.encoder.input_size)

    def __repr__(self) -> str:
        state = f"trained for {len(self.history)} epochs" if self.is_trained else "untrained"
        return (
            f"HyperST({len(self.genes)} genes, encoder={self.encoder.name!r}, alignment={self.config.alignment!r}, "
            f"embed_dim={self.config.embed_dim}, target={self.target!r}; {state})"
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

    def _scaled_features(self, features: tuple[np.ndarray, np.ndarray], spots: SpotData) -> tuple[np.ndarray, ...]:
        """Frozen features as the network sees them before its scaler: per-section standardised if configured."""
        if self.feature_scaling == "training":
            return features
        return tuple(_training_data.standardise_per_section(f, spots.section_of) for f in features)

    def scaled_counts(self, spots: SpotData) -> tuple[np.ndarray, np.ndarray] | None:
        """Spot and niche counts of ``spots`` on the model's scale, before the logarithm (``None`` without counts)."""
        return _training_data.scaled_counts(spots, self.target, self.reference_library_size)

    # ------------------------------------------------------------------ training
    def train(
        self,
        spots: SpotData,
        train: np.ndarray,
        validation: np.ndarray | None = None,
        *,
        max_epochs: int = 50,
        batch_size: int = 128,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        patience: int = 10,
        checkpoint: Checkpoint = "mse",
        seed: int = 0,
        augment: bool | None = None,
        stain_augment: float = 0.0,
        accelerator: str = "auto",
        devices: int | str | list[int] = "auto",
        strategy: str | Any = "auto",
        precision: str | None = None,
        progress_bar: bool = True,
        cache_dir: str | None = None,
        num_workers: int = 0,
        n_jobs: int = DEFAULT_N_JOBS,
        features: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> HyperST:
        """Train on the spots ``train`` (row positions into ``spots``); early-stop on ``validation``.

        Frozen encoders (``encoder.frozen``) run once over all crops; training then sees cached features only, and
        the features are standardised with statistics of the training spots. Trainable encoders read crops decoded
        once into a :class:`~hyperst.data.CropCache` (in memory, or memory-mapped under ``cache_dir``) and see the
        same random dihedral transform on the spot and niche crop of a sample when ``augment``. Without validation
        spots, early stopping watches the training loss.

        Parameters
        ----------
        spots
            Prepared spots with counts of the model's panel (:func:`~hyperst.data.prepare_spots`).
        train, validation
            Row positions into ``spots``.
        max_epochs, batch_size, lr, weight_decay, patience
            Optimisation (AdamW; weight decay on weight matrices only; ``patience`` epochs without improvement).
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
        accelerator, devices, strategy, precision
            Lightning's options; ``precision`` defaults to mixed precision on CUDA, float32 elsewhere.
        progress_bar
            Show progress bars.
        cache_dir
            Folder for the memory-mapped crop cache of trainable encoders; default in memory.
        num_workers
            DataLoader worker processes.
        n_jobs
            Processes reading crops from the image (and computing ``"squidpy"`` features) before training.
        features
            Precomputed frozen-encoder features of every spot (e.g. shared by the folds of a cross-validation).

        Returns
        -------
        The model, trained, with :attr:`history` and :attr:`train_params` filled.
        """
        import lightning.pytorch as pl

        train = _training_data.check_rows(spots, train, "train")
        validation = (
            None
            if validation is None or len(validation) == 0
            else _training_data.check_rows(spots, validation, "validation")
        )
        if len(train) < 2 or batch_size < 2:
            raise ValueError(
                f"Training needs at least 2 spots per batch (contrastive terms compare spots in a batch); got "
                f"{len(train)} training spots and batch_size={batch_size}."
            )
        self.check_panel(spots)
        check_choice("checkpoint", checkpoint, Checkpoint)
        augment = self._check_augment(augment, stain_augment)
        stain_augment = stain_augment if augment else 0.0
        if self.target == "normalised":
            self.reference_library_size = _reference_library_size(spots, train)
        counts = self.scaled_counts(spots)
        with torch.random.fork_rng(devices=[]):
            pl.seed_everything(seed, workers=True, verbose=False)
            if self.encoder.frozen:
                if features is None:
                    features = _training_data.frozen_features(self.encoder, spots, n_jobs=n_jobs, progress=progress_bar)
                features = self._scaled_features(features, spots)
                self.module.scaler.fit(torch.from_numpy(np.concatenate([f[train] for f in features])))
            else:
                features = None
            train_loader, val_loader = _training_data.training_loaders(
                spots,
                train,
                validation,
                encoder=self.encoder,
                features=features,
                counts=counts,
                batch_size=batch_size,
                augment=augment,
                stain_augment=stain_augment,
                seed=seed,
                cache_dir=cache_dir,
                num_workers=num_workers,
                n_jobs=n_jobs,
                progress=progress_bar,
            )
            plan = HyperSTTrainingPlan(self.module, lr=lr, weight_decay=weight_decay)
            history, best_epoch = run_training(
                plan,
                train_loader,
                val_loader,
                max_epochs=max_epochs,
                patience=patience,
                checkpoint=checkpoint,
                accelerator=accelerator,
                devices=devices,
                strategy=strategy,
                precision=precision,
                progress_bar=progress_bar,
            )
        self.module.cpu()
        self.history = history
        self.is_trained = True
        self.train_params = {
            "max_epochs": max_epochs,
            "epochs_run": len(history),
            "best_epoch": best_epoch,
            "batch_size": batch_size,
            "lr": lr,
            "weight_decay": weight_decay,
            "patience": patience,
            "checkpoint": checkpoint,
            "seed": seed,
            "augment": augment,
            "stain_augment": stain_augment,
            "n_train_spots": len(train),
            "n_validation_spots": 0 if validation is None else len(validation),
        }
        return self

    def frozen_features(
        self, spots: SpotData, *, n_jobs: int = DEFAULT_N_JOBS, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spot and niche features of every spot from the frozen encoder (feature store, else computed)."""
        if not self.encoder.frozen:
            raise ValueError(f"The {self.encoder.name!r} encoder is trained with the model; it has no fixed features.")
        return _training_data.frozen_features(self.encoder, spots, n_jobs=n_jobs, progress=progress)

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
    ) -> dict[str, np.ndarray]:
        """Predict the panel for the spots ``indices`` (default all) of ``spots``, streaming crops batch by batch.

        ``features`` passes the frozen encoder's spot and niche features of every spot of ``spots`` when they were
        computed already (e.g. for training), so crops are not encoded again; ``n_jobs`` processes read crops.

        Returns
        -------
        ``{"predicted": (n, n_genes)}`` plus the Lorentz (or, for Euclidean ablations, unit-sphere) embeddings
        ``"image_spot"``, ``"image_niche"`` and, when ``spots`` has counts, ``"gene_spot"`` and ``"gene_niche"``,
        each ``(n, embed_dim)`` float32.
        """
        self.check_panel(spots)
        if self.encoder.frozen and self.feature_scaling == "section":  # every spot of a section sets its scale
            features = self._scaled_features(features or self.frozen_features(spots, n_jobs=n_jobs), spots)
        outputs: dict[str, np.ndarray] = {}
        indices = np.arange(spots.n_spots) if indices is None else np.asarray(indices, dtype=int)
        where = torch_device(device)
        self.module.to(where).eval()
        with torch.inference_mode():  # here, not in the generator: a generator's context does not cover the caller
            batches = _training_data.inference_batches(
                spots,
                indices,
                encoder=self.encoder,
                counts=self.scaled_counts(spots),
                batch_size=batch_size,
                device=where,
                features=features,
                n_jobs=n_jobs,
            )
            for index, batch in batches:
                out = self.module(batch)
                # Written in place at the spots' positions: one output array per key, no per-batch chunks to join.
                for key, tensor in {"predicted": out.prediction, **out.embeddings.as_dict()}.items():
                    values = tensor.float().cpu().numpy()
                    if key not in outputs:
                        outputs[key] = np.empty((len(indices), *values.shape[1:]), dtype=np.float32)
                    outputs[key][index] = values
        return outputs

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
        _save_load.save_model(self, path, overwrite=overwrite)

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
        return _save_load.load_model(cls, path, encoder=encoder)


def _reference_library_size(spots: SpotData, train: np.ndarray) -> float:
    """Median library size of the training spots: the scale of the normalised target."""
    sizes = spots.library_size[train]
    if not (sizes > 0).any():
        raise ValueError(
            "target='normalised' divides by each spot's library size, but the training spots' rows sum to zero. "
            "Check that the table holds raw counts (`layer=`), or train with target='raw'."
        )
    return float(np.median(sizes[sizes > 0]))
