"""``hst.tl.fit``: train HyperST on the spots of a SpatialData object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._constants import DEFAULT_ENCODER, Key
from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from hyperst.data import SpotData
    from hyperst.model import HyperST


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
    validation: str = "auto",
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
    out_of_bounds: str = "pad",
    **model_kwargs: Any,
) -> HyperST:
    """Train HyperST to predict the gene panel from the spot and niche H&E crops of every spot.

    Parameters
    ----------
    sdata
        SpatialData with H&E images, spots (circles) and a table of raw counts annotating them.
    table_key
        The counts table.
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
    layer
        Layer of the table with raw counts; default ``X``.
    image_key
        Image for every section (str) or per spots element (dict); default: the image sharing the spots'
        coordinate system.
    validation
        Early-stopping set: ``"auto"`` (one held-out ``validation_groupby`` group with 3 or more groups, else a
        spatial block of each section), ``"group"``, ``"spatial"`` or ``"none"`` (stop on the training loss).
    validation_groupby
        Column of ``obs`` whose groups ``validation="group"`` holds out.
    encoder_kwargs
        Options of a named encoder (e.g. ``{"input_size": 64}``).
    lr
        AdamW learning rate.
    weight_decay
        AdamW weight decay (weight matrices only).
    patience
        Epochs without improvement of the validation loss before stopping; the best weights are restored.
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
    out_of_bounds
        Spots whose crops leave the image: ``"pad"`` (train on them, padded with white) or ``"exclude"``.
    **model_kwargs
        Hyperparameters of :class:`~hyperst.nn.HyperSTConfig` (``embed_dim``, ``alignment``, ``entailment``,
        ``image_gene_entailment``, ``decoder_input``, ...).

    Returns
    -------
    The trained :class:`~hyperst.HyperST`; its ``history`` holds every loss term per epoch.

    Examples
    --------
    >>> sdata = hst.datasets.toy(seed=0)  # doctest: +SKIP
    >>> model = hst.tl.fit(sdata, max_epochs=20, embed_dim=256)  # doctest: +SKIP
    """
    from hyperst.data import prepare_spots
    from hyperst.model import HyperST

    panel = _panel(sdata, table_key, genes, layer)
    spots = prepare_spots(
        sdata, table_key=table_key, genes=panel, layer=layer, image_key=image_key, out_of_bounds=out_of_bounds
    )
    encoder_kwargs = _encoder_kwargs(sdata, encoder, encoder_kwargs, table_key)
    model = HyperST(panel, encoder=encoder, encoder_kwargs=encoder_kwargs, seed=seed, **model_kwargs)
    train_on_rows(
        model,
        spots,
        np.flatnonzero(spots.trainable),
        validation=validation,
        validation_groupby=validation_groupby,
        max_epochs=max_epochs,
        batch_size=batch_size,
        seed=seed,
        lr=lr,
        weight_decay=weight_decay,
        patience=patience,
        progress_bar=progress_bar,
        precision=precision,
        strategy=strategy,
        **lightning_device(device, accelerator, devices),
    )
    model.train_params.update(table_key=table_key, layer=layer, validation=validation, device=device)
    return model


def train_on_rows(
    model: HyperST, spots: SpotData, rows: np.ndarray, *, validation: str, validation_groupby: str, seed: int, **kwargs
) -> None:
    """Split ``rows`` into training and validation spots and train ``model`` on them."""
    from hyperst.data._validation import validation_split

    train, held_out = validation_split(spots, rows, mode=validation, groupby=validation_groupby, seed=seed)
    logger.info("Training on %d spots, early stopping on %d validation spots.", len(train), len(held_out))
    model.train(spots, train, held_out, seed=seed, **kwargs)


def lightning_device(device: str, accelerator: str | None, devices: Any) -> dict[str, Any]:
    """Translate ``device="cuda:1"``-style strings into Lightning's ``accelerator`` and ``devices``."""
    if accelerator is not None:
        return {"accelerator": accelerator, "devices": devices}
    if device == "auto":
        return {"accelerator": "auto", "devices": devices}
    kind, _, index = str(device).partition(":")
    names = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "mps": "mps"}
    if kind not in names:
        raise ValueError(f"Unknown `device={device!r}`; use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'.")
    if index:
        return {"accelerator": names[kind], "devices": [int(index)]}
    return {"accelerator": names[kind], "devices": 1 if devices == "auto" else devices}


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
    from hyperst.data._table import get_table, resolve_genes
    from hyperst.pp import select_genes

    table = get_table(sdata, table_key)
    if genes is not None or Key.GENE_SELECTED in table.var:
        return resolve_genes(table, genes, table_key)
    n_genes = min(200, table.n_vars)
    logger.info("No gene panel given: selecting %d genes (HMHVG); run `hst.pp.select_genes` to choose.", n_genes)
    return select_genes(sdata, n_genes, table_key=table_key, layer=layer, inplace=False)
