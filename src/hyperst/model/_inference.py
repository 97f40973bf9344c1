"""How :class:`~hyperst.HyperST` runs its members over spots: in this process, or split by Lightning across devices.

Per batch, every member predicts; the batch's outputs are the members' mean and sd, the first member's embeddings
and the out-of-distribution score of the spot image features its head read (scored batch by batch, so no
``(n_spots, d)`` feature array is held). A frozen encoder encodes a batch's crops once for all members.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hyperst._constants import DEFAULT_N_JOBS
from hyperst.model import _training_data
from hyperst.model._uncertainty import ensemble_mean_sd
from hyperst.module import BATCH_FEATURES, BATCH_IMAGE
from hyperst.train import lightning_device, run_prediction, torch_device

if TYPE_CHECKING:
    from hyperst.data import SpotData
    from hyperst.model._model import HyperST
    from hyperst.nn.encoders import ImageEncoder


def predict_arrays(
    model: HyperST,
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
    """Run every member over ``indices``; return their mean, sd (uncalibrated) and the first one's embeddings.

    Also ``"ood"``, the out-of-distribution score of the spots (when the model has a reference). With
    ``heads=False`` only the spot image features the first member's head reads (what the reference is built
    from). One device
    (``devices=1``) runs in this process on ``device``; any other ``devices`` runs Lightning's
    ``Trainer.predict`` (:func:`~hyperst.train.run_prediction`) on the same batches, and every process gets
    all outputs.
    """
    counts = model.scaled_counts(spots)
    step = functools.partial(_batch_outputs, model, heads=heads)
    if devices != 1:  # Lightning splits the batches across devices and processes, then gathers them
        loader = _training_data.inference_loader(
            spots, indices, encoder=model.encoder, counts=counts, batch_size=batch_size, features=features
        )
        target = lightning_device(device, accelerator, devices)
        parts = run_prediction(model.members, loader, step, **target, strategy=strategy)
    else:
        parts = _predict_in_process(model, spots, indices, step, device, counts, batch_size, features, n_jobs)
    outputs: dict[str, np.ndarray] = {}
    for index, values in parts:  # in place at the spots' positions: one array per key, no chunks to join
        for key, array in values.items():
            if key not in outputs:
                outputs[key] = np.empty((len(indices), *array.shape[1:]), dtype=np.float32)
            outputs[key][index] = array
    for member in model.members:
        member.cpu()
    return outputs


def _predict_in_process(
    model: HyperST,
    spots: SpotData,
    indices: np.ndarray,
    step: Callable[[dict[str, torch.Tensor]], dict[str, np.ndarray]],
    device: str,
    counts: tuple[np.ndarray, np.ndarray] | None,
    batch_size: int,
    features: _training_data.Features | None,
    n_jobs: int,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Yield ``(positions, outputs)`` of each batch, run in this process on ``device``."""
    where = torch_device(device)
    for member in model.members:
        member.to(where).eval()
    with torch.inference_mode():  # covers reading the batches and `step` alike
        batches = _training_data.inference_batches(
            spots,
            indices,
            encoder=model.encoder,
            counts=counts,
            batch_size=batch_size,
            device=where,
            features=features,
            n_jobs=n_jobs,
        )
        for index, batch in batches:
            yield index, step(batch)


def _batch_outputs(model: HyperST, batch: dict[str, torch.Tensor], *, heads: bool = True) -> dict[str, np.ndarray]:
    """Return one batch's float32 outputs: the members' mean and sd, the first one's embeddings and OOD score."""
    batch = _encode_once(model.encoder, batch)
    if not heads:  # the features alone (the OOD reference): no member's head needs to run
        return {"image_features": model.members[0].image_features(batch)[0].float().cpu().numpy()}
    first, (spot, _) = model.members[0].forward_with_features(batch)
    values: dict[str, Any] = {}
    if model.ood_reference is not None:  # the spot crop's features: niches blur what sets a spot apart
        values["ood"] = model.ood_reference.score(spot.float().cpu().numpy())
    predictions = [first.prediction] + [m(batch).prediction for m in model.members[1:]]
    mean, sd = ensemble_mean_sd(torch.stack(predictions).float().cpu().numpy())
    values |= {"predicted": mean, **first.embeddings.as_dict()} | ({} if sd is None else {"sd": sd})
    return {
        k: v.float().cpu().numpy() if isinstance(v, torch.Tensor) else v.astype(np.float32, copy=False)
        for k, v in values.items()
    }


def _encode_once(encoder: ImageEncoder, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace the crops of a batch by the frozen encoder's features, so members share one encoding."""
    if not encoder.frozen or BATCH_IMAGE[0] not in batch:
        return batch
    encoded = {f: encoder(batch.pop(i)) for i, f in zip(BATCH_IMAGE, BATCH_FEATURES, strict=True)}
    return batch | encoded
