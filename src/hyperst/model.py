"""``HyperST``: the container-facing model: a gene panel, an image encoder and the HyperST module.

It trains on spots prepared by :mod:`hyperst.data`, returns arrays, saves and loads. It never writes into a
SpatialData object: ``hst.tl`` does that.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from hyperst._constants import DEFAULT_ENCODER
from hyperst.nn import HyperSTConfig
from hyperst.nn.encoders import ImageEncoder, build_encoder

if TYPE_CHECKING:
    from pathlib import Path

    from hyperst.data import SpotData
    from hyperst.train import ImageToExpression

LEVELS = ("image_spot", "image_niche", "gene_spot", "gene_niche")


class HyperST:
    """HyperST: predicts a gene panel's ``log2(1 + count)`` from spot and niche H&E crops.

    Usually created and trained by :func:`hyperst.tl.fit`. The model holds the image encoder and the pure-torch
    :class:`~hyperst.module.HyperSTModule`; sizes come from the data (panel, encoder width).

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
        **config: Any,
    ):
        from hyperst.module import HyperSTModule
        from hyperst.train import ImageToExpression

        genes = [str(g) for g in genes]
        if not genes:
            raise ValueError("The gene panel is empty; select genes with `hst.pp.select_genes` or pass `genes=`.")
        if len(set(genes)) != len(genes):
            raise ValueError("The gene panel has duplicate names; make `var_names` unique first.")
        self.genes = genes
        self.config = HyperSTConfig(**config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = build_encoder(encoder, **(encoder_kwargs or {}))
            module = HyperSTModule(len(genes), self.encoder.out_dim, self.config)
            self.network: ImageToExpression = ImageToExpression(self.encoder, module)
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
            f"embed_dim={self.config.embed_dim}; {state})"
        )

    # ------------------------------------------------------------------ training
    def train(self, spots: SpotData, train: np.ndarray, validation: np.ndarray | None = None, **kwargs: Any) -> HyperST:
        """Train on the spots ``train`` (row positions into ``spots``), early-stopping on ``validation``.

        See :func:`hyperst.model_training.train_model` for the options (``max_epochs``, ``batch_size``, ``lr``,
        ``accelerator``, ...). Returns the model, trained, with :attr:`history` filled.
        """
        from hyperst.model_training import train_model

        train_model(self, spots, train, validation, **kwargs)
        return self

    # ---------------------------------------------------------------- inference
    def predict(
        self,
        spots: SpotData,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 64,
        device: str = "auto",
        features: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Predict the panel for the spots ``indices`` (default all) of ``spots``, streaming crops batch by batch.

        ``features`` passes the frozen encoder's spot and niche features of every spot of ``spots`` when they were
        computed already (e.g. for training), so crops are not encoded again.

        Returns
        -------
        ``{"predicted": (n, n_genes)}`` plus the Lorentz (or, for Euclidean ablations, unit-sphere) embeddings
        ``"image_spot"``, ``"image_niche"`` and, when ``spots`` has counts, ``"gene_spot"`` and ``"gene_niche"``,
        each ``(n, embed_dim)`` float32.
        """
        outputs: dict[str, np.ndarray] = {}
        indices = np.arange(spots.n_spots) if indices is None else np.asarray(indices, dtype=int)
        with torch.inference_mode():  # here, not in the generators: a generator's context does not cover the caller
            batches = self._inference_batches(spots, indices, batch_size, _torch_device(device), features)
            for index, batch in batches:
                out = self.network(batch)
                # Written in place at the spots' positions: one output array per key, no per-batch chunks to join.
                for key, tensor in {"predicted": out.prediction, **out.embeddings.as_dict()}.items():
                    values = tensor.float().cpu().numpy()
                    if key not in outputs:
                        outputs[key] = np.empty((len(indices), *values.shape[1:]), dtype=np.float32)
                    outputs[key][index] = values
        return outputs

    def _inference_batches(
        self, spots: SpotData, indices: np.ndarray, batch_size: int, device: torch.device, features=None
    ) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """Yield ``(positions into indices, batch)`` with spot and niche crops (and genes when measured)."""
        from hyperst.data import iter_crops
        from hyperst.train import BATCH_IMAGE

        self.check_panel(spots)
        self.network.to(device).eval()
        genes = None if spots.counts is None else [_log2p(spots.counts), _log2p(spots.niche_counts)]
        if features is not None and not self.encoder.frozen:
            raise ValueError("`features` apply to frozen encoders only; this encoder is trained with the model.")
        if features is None and hasattr(self.encoder, "features"):  # embeddings from the table: no crops at all
            features = self.encoder.features(spots)
        if features is not None:
            yield from self._feature_batches(features, indices, batch_size, device, genes)
            return
        # Stream spot and niche crops of the same spots side by side: memory stays flat in the number of spots.
        spot_batches = iter_crops(spots, indices, kind="spot", size=self.input_size, batch_size=batch_size)
        niche_batches = iter_crops(spots, indices, kind="niche", size=self.input_size, batch_size=batch_size)
        for (index, spot), (index_niche, niche) in zip(spot_batches, niche_batches, strict=True):
            if not np.array_equal(index, index_niche):
                raise RuntimeError("Spot and niche crops came in different orders; please report this.")
            crops = [torch.from_numpy(c).to(device).float().div_(255.0) for c in (spot, niche)]
            yield index, _with_genes(dict(zip(BATCH_IMAGE, crops, strict=True)), genes, indices[index], device)

    def _feature_batches(self, features, indices, batch_size, device, genes):
        from hyperst.train import BATCH_FEATURES

        for start in range(0, len(indices), batch_size):
            index = np.arange(start, min(start + batch_size, len(indices)))
            rows = indices[index]
            batch = {k: torch.from_numpy(f[rows]).to(device) for k, f in zip(BATCH_FEATURES, features, strict=True)}
            yield index, _with_genes(batch, genes, indices[index], device)

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
        from hyperst._model_io import save_model

        save_model(self, path, overwrite=overwrite)

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
        from hyperst._model_io import load_model

        return load_model(cls, path, encoder=encoder)


def _log2p(counts: np.ndarray) -> np.ndarray:
    return np.log2(1 + np.asarray(counts, dtype=np.float32))


def _with_genes(batch: dict, genes: list[np.ndarray] | None, rows: np.ndarray, device: torch.device) -> dict:
    """Add the spots' and niches' ``log2(1 + count)`` of ``rows`` to a batch when the spots were measured."""
    from hyperst.train import BATCH_GENES

    if genes is not None:
        batch.update({k: torch.from_numpy(g[rows]).to(device) for k, g in zip(BATCH_GENES, genes, strict=True)})
    return batch


def _torch_device(device: str | torch.device) -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
