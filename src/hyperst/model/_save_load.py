"""Saving and loading :class:`~hyperst.HyperST`: JSON config + safetensors weights, never pickles.

Folder layout: ``config.json`` (package version, genes, encoder name and options, module hyperparameters,
training parameters, history, the ensemble's calibration), ``model.safetensors`` (every tensor of the network, on
the CPU), ``model_1.safetensors``, ... (the other members of an ensemble) and ``ood_reference.safetensors`` (the
training spots' compressed image features that out-of-distribution scores compare with). The helpers
take the model class (``load_model(cls, path)``, as scvi-tools' ``_save_load``), so nothing here imports it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from packaging.version import Version

from hyperst._constants import Key
from hyperst._logging import logger
from hyperst.model._uncertainty import Calibration, OODReference

if TYPE_CHECKING:
    from hyperst.model._model import HyperST
    from hyperst.nn.encoders import ImageEncoder

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OOD_FILE = "ood_reference.safetensors"
FORMAT_VERSION = 3  # 3: ensembles, calibration and the OOD reference
# Renamed state-dict prefixes, by the format version that renamed them (2: the head was ``module.`` before).
_RENAMED = {2: {"module.": "head."}}


def save_model(model: HyperST, path: str | Path, *, overwrite: bool = False) -> None:
    """Write ``model`` to the folder ``path`` atomically (a half-written folder is never left behind)."""
    from safetensors.torch import save_file

    path = Path(path)
    if not model.is_trained:
        raise ValueError("The model is untrained: there is nothing to save yet. Train it first (`hst.tl.fit`).")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass `overwrite=True` to replace it.")
    config, states = _config(model), _states(model)
    metadata = {"hyperst_version": config["hyperst_version"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        for file, state in zip(config["members"], states, strict=True):
            save_file(state, staging / file, metadata=metadata)
        if model.ood_reference is not None:
            arrays = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.ood_reference.arrays().items()}
            save_file(arrays, staging / OOD_FILE, metadata=metadata)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        _modes_from_umask(staging)
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _modes_from_umask(folder: Path) -> None:
    """Give ``folder`` and its files the modes of any folder and file the user creates (``mkdtemp`` makes 700).

    A lab's shared model folder must be readable by the group when the user's umask says so (022, 002).
    """
    umask = os.umask(0)  # the only portable way to read it: set and restore at once
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for file in folder.iterdir():
        file.chmod(0o666 & ~umask)


def model_digest(model: HyperST) -> dict[str, str]:
    """sha256 of what :meth:`HyperST.save` would write: the configuration (as JSON) and the weights of every member.

    Names a model without saving it (the provenance :func:`hyperst.tl.adapt` records of its base model).
    """
    weights = hashlib.sha256()
    for state in _states(model):
        for key, tensor in sorted(state.items()):
            weights.update(key.encode())
            weights.update(tensor.numpy().tobytes())
    config = json.dumps(_config(model), sort_keys=True).encode()
    return {"config_sha256": hashlib.sha256(config).hexdigest(), "weights_sha256": weights.hexdigest()}


def _config(model: HyperST) -> dict[str, Any]:
    """Return the JSON-safe configuration a saved model stores in ``config.json``."""
    try:
        encoder_config = model.encoder.config()
    except NotImplementedError as error:
        raise TypeError(f"Cannot save the encoder: {error}") from error
    reference = model.ood_reference
    return {
        "format_version": FORMAT_VERSION,
        "hyperst_version": version("hyperst"),
        "genes": model.genes,
        "encoder": {"name": model.encoder.name, "class": type(model.encoder).__qualname__, "config": encoder_config},
        "module": model.config.to_dict(),
        "target": model.target_record(),
        "feature_scaling": model.feature_scaling,
        "train_params": model.train_params,
        "is_trained": model.is_trained,
        "history": json.loads(model.history.reset_index().to_json(orient="records")) if len(model.history) else [],
        "adapted_from": model.adapted_from,
        "members": [member_file(i) for i in range(model.n_models)],
        "calibration": None if model.calibration is None else model.calibration.record(),
        "ood": None
        if reference is None
        else {"file": OOD_FILE, "neighbours": reference.neighbours, "n_reference": reference.n_reference},
    }


def _states(model: HyperST) -> list[dict[str, torch.Tensor]]:
    """Return the tensors a saved model stores, one dict per member, on the CPU."""
    states = []
    for member in model.members:
        keep = set(member.saved_state_keys())
        states.append({k: v.detach().cpu().contiguous() for k, v in member.state_dict().items() if k in keep})
    return states


def load_model(cls: type[HyperST], path: str | Path, *, encoder: ImageEncoder | None = None) -> HyperST:
    """Rebuild a model from ``path``; raises a clear error for missing, tampered or newer-version folders."""
    from hyperst.nn.encoders import available_encoders

    path = Path(path)
    config = _read_config(path)
    saved = config["encoder"]
    if encoder is None:
        if saved["name"] not in available_encoders():
            raise ValueError(
                f"The model at {path} uses a custom encoder ({saved['class']}); pass an instance with "
                f"`HyperST.load(path, encoder=...)`."
            )
        encoder_arg, encoder_kwargs = saved["name"], saved["config"]
    else:
        encoder_arg, encoder_kwargs = encoder, None
    target = config.get("target", {"scale": "raw", "reference_library_size": None})  # saves before targets: raw
    files = config.get("members", [WEIGHTS_FILE])  # saves before ensembles: one member
    absent = [file for file in files if not (path / file).is_file()]
    if absent:
        raise FileNotFoundError(
            f"The model at {path} has {len(files)} members, but {absent} are missing; the folder is incomplete. "
            "Copy the whole folder written by `HyperST.save`."
        )
    model = cls(
        config["genes"],
        encoder=encoder_arg,
        encoder_kwargs=encoder_kwargs,
        target=target["scale"],
        feature_scaling=config.get("feature_scaling", "training"),
        n_models=len(files),
        **config["module"],
    )
    model.reference_library_size = target["reference_library_size"]
    for file, member in zip(files, model.members, strict=True):
        _load_member(member, path / file, config["format_version"], strict=not model.encoder.pretrained)
    calibration = config.get("calibration")
    model.calibration = None if calibration is None else Calibration.from_record(calibration)
    model.ood_reference = _load_ood_reference(path, config.get("ood"))
    model.train_params = config["train_params"]
    model.adapted_from = config.get("adapted_from")  # saves before `hst.tl.adapt`: none
    model.is_trained = bool(config["is_trained"])
    if model.is_trained and model.ood_reference is None:
        logger.info(
            "The model at %s was saved without an out-of-distribution reference (an earlier hyperst): `predict` "
            "will write no obs['%s']. Fit it again to get one.",
            path,
            Key.OOD,
        )
    history = pd.DataFrame(config["history"])
    model.history = history.set_index("epoch") if "epoch" in history else history
    return model


def member_file(number: int) -> str:
    """Weights file of the ``number``-th member (the first keeps the single model's name)."""
    return WEIGHTS_FILE if number == 0 else f"model_{number}.safetensors"


def _load_member(member: torch.nn.Module, file: Path, format_version: int, *, strict: bool) -> None:
    """Load one member's weights, checking they match the network the configuration builds."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(file, device="cpu")
    except (SafetensorError, OSError) as error:
        raise ValueError(f"Cannot read the weights in {file}: {error}. Save the model again.") from error
    state = _upgrade(state, format_version)
    full = member.state_dict()
    expected = {k: full[k] for k in member.saved_state_keys()}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong_shape = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"The weights in {file} do not match the saved configuration (missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, wrong shape {wrong_shape[:5]}); the folder was modified or is incomplete."
        )
    member.load_state_dict(state, strict=strict)


def _load_ood_reference(path: Path, record: dict[str, Any] | None) -> OODReference | None:
    """Load the saved out-of-distribution reference; ``None`` for models saved without one."""
    from safetensors.torch import load_file

    if record is None:
        return None
    file = path / record["file"]
    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing; the folder is incomplete. Copy the whole saved model folder.")
    arrays = {k: v.numpy() for k, v in load_file(file, device="cpu").items()}
    return OODReference.from_arrays(arrays, neighbours=int(record["neighbours"]))


def _upgrade(state: dict[str, torch.Tensor], format_version: int) -> dict[str, torch.Tensor]:
    """Rename the state-dict keys of an older save to today's names (a model saved before loads after)."""
    for version_, renames in sorted(_RENAMED.items()):
        if format_version < version_:
            for old, new in renames.items():
                state = {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in state.items()}
    return state


def _read_config(path: Path) -> dict[str, Any]:
    file = path / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(f"No {CONFIG_FILE} in {path}: is it a folder written by `HyperST.save`?")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file} is not valid JSON ({error}); the folder was modified or is incomplete.") from error
    required = {"format_version", "hyperst_version", "genes", "encoder", "module", "train_params", "is_trained"}
    if not isinstance(config, dict) or not required <= set(config):
        raise ValueError(
            f"{file} lacks the keys {sorted(required - set(config or {}))}; it was modified or is not ours."
        )
    saved, installed = Version(config["hyperst_version"]), Version(version("hyperst"))
    if config["format_version"] > FORMAT_VERSION or saved.release[:2] > installed.release[:2]:
        raise ValueError(
            f"The model at {path} was saved with hyperst {saved}, newer than the installed {installed}. "
            "Upgrade with `pip install -U hyperst`."
        )
    return config
