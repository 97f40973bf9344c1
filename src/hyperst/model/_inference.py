"""Running an ensemble's members over batches of spots: in this process, or split by Lightning across devices.

Per batch, every member predicts; the batch's outputs are the members' mean and sd, the first member's embeddings
and the out-of-distribution score of the spot image features its head read (scored batch by batch, so no
``(n_spots, d)`` feature array is held). A frozen encoder encodes a batch's crops once for all members. The helpers
take the networks and the batches, not the model (:class:`~hyperst.HyperST` prepares both).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hyperst.model._uncertainty import OODReference, ensemble_mean_sd
from hyperst.module import BATCH_FEATURES, BATCH_IMAGE
from hyperst.train import run_prediction

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

    from hyperst.module import ImageToExpression
    from hyperst.nn.encoders import ImageEncoder

Batches = Iterable[tuple[np.ndarray, dict[str, torch.Tensor]]]  # (positions of the batch's spots, named tensors)


def predict_arrays(
    members: Sequence[ImageToExpression],
    encoder: ImageEncoder,
    ood_reference: OODReference | None,
    batches: Batches,
    n: int,
    *,
    device: torch.device,
    heads: bool = True,
) -> dict[str, np.ndarray]:
    """Run ``members`` over ``batches`` in this process on ``device``; return ``n`` spots' outputs in place.

    The outputs are the members' mean ``"predicted"`` and uncalibrated ``"sd"`` (ensembles), the first member's
    embeddings and, with ``ood_reference``, ``"ood"``. With ``heads=False`` only the spot image features the first
    member's head reads (what the reference is built from). ``batches`` are read under
    :func:`torch.inference_mode`, on ``device``.
    """
    for member in members:
        member.to(device).eval()
    try:
        with torch.inference_mode():  # covers reading the batches and the members alike
            parts = (
                (index, batch_outputs(members, encoder, ood_reference, batch, heads=heads)) for index, batch in batches
            )
            return gather(parts, n)
    finally:
        for member in members:
            member.cpu()


def predict_arrays_on_devices(
    members: Sequence[ImageToExpression],
    encoder: ImageEncoder,
    ood_reference: OODReference | None,
    loader: DataLoader,
    n: int,
    *,
    heads: bool = True,
    lightning: dict[str, Any],
) -> dict[str, np.ndarray]:
    """:func:`predict_arrays` with Lightning's ``Trainer.predict`` on ``lightning``'s devices; every process gets all."""
    step = functools.partial(batch_outputs, members, encoder, ood_reference, heads=heads)
    try:
        return gather(run_prediction(members, loader, step, **lightning), n)
    finally:
        for member in members:
            member.cpu()


def gather(parts: Iterable[tuple[np.ndarray, dict[str, np.ndarray]]], n: int) -> dict[str, np.ndarray]:
    """Place each batch's outputs at its spots' positions: one float32 array of ``n`` rows per key, no chunks to join."""
    outputs: dict[str, np.ndarray] = {}
    for index, values in parts:
        for key, array in values.items():
            if key not in outputs:
                outputs[key] = np.empty((n, *array.shape[1:]), dtype=np.float32)
            outputs[key][index] = array
    return outputs


def batch_outputs(
    members: Sequence[ImageToExpression],
    encoder: ImageEncoder,
    ood_reference: OODReference | None,
    batch: dict[str, torch.Tensor],
    *,
    heads: bool = True,
) -> dict[str, np.ndarray]:
    """Return one batch's float32 outputs: the members' mean and sd, the first one's embeddings and OOD score."""
    batch = _encode_once(encoder, batch)
    if not heads:  # the features alone (the OOD reference): no member's head needs to run
        return {"image_features": members[0].image_features(batch)[0].float().cpu().numpy()}
    first, (spot, _) = members[0].forward_with_features(batch, with_loss=False)
    values: dict[str, Any] = {}
    if ood_reference is not None:  # the spot crop's features: niches blur what sets a spot apart
        values["ood"] = ood_reference.score(spot.float().cpu().numpy())
    # The others' predictions only: their gene embeddings are not written, and no loss is needed anywhere.
    predictions = [first.prediction] + [m.predict(batch) for m in members[1:]]
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
