"""The saved model as a record of JSON and arrays, and its folder: ``config.json`` + safetensors, never pickles.

:class:`ModelRecord` is what a saved model holds, without knowing the model class (scvi-tools' ``_save_load``):
:meth:`HyperST._to_record <hyperst.HyperST._to_record>` and :meth:`HyperST._from_record
<hyperst.HyperST._from_record>` map the model to and from it; this module writes a record to a folder, reads it
back (upgrading older formats to today's, in :func:`_rename_keys`, :func:`_upgrade_config` and
:func:`_upgrade_state`) and hashes it.

Folder layout: ``config.json`` (format and package version, then the record's configuration: genes, encoder name
and options, the head's ``"hyperparameters"``, training parameters, history, the ensemble's calibration), ``model.safetensors``
(every tensor of the network, on the CPU), ``model_1.safetensors``, ... (the other members of an ensemble) and
``ood_reference.safetensors`` (the training spots' compressed image features that out-of-distribution scores
compare with) and ``blend.safetensors`` (a blended model's weights, ridge map and retrieval reference).

A new saved field: bump :data:`FORMAT_VERSION`, write it in ``_to_record``, read it in ``_from_record`` and give
older saves its value in :func:`_upgrade_config`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from packaging.version import Version

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OOD_FILE = "ood_reference.safetensors"
BLEND_FILE = "blend.safetensors"
# 3: ensembles, calibration and the OOD reference; 4: the crop background and augmented views; 5: the head's
# hyperparameters under "hyperparameters" (was "module", also the name of the package and of the network); 6: blended
# members
FORMAT_VERSION = 6
# Renamed state-dict prefixes, by the format version that renamed them (2: the head was ``module.`` before).
_RENAMED = {2: {"module.": "head."}}
# Renamed configuration keys, by the format version that renamed them.
_RENAMED_KEYS = {5: {"module": "hyperparameters"}}
# Values of configuration keys that saves before the key existed imply (in today's meaning).
_DEFAULTS: dict[str, Any] = {
    "target": {"scale": "raw", "reference_library_size": None},  # before targets: raw
    "feature_scaling": "training",
    "adapted_from": None,  # before `hst.tl.adapt`
    "calibration": None,  # before ensembles
    "ood": None,  # before the OOD reference
    "background": "keep",  # before format 4 crops were read as they were
    "n_views": 0,  # before format 4: no augmented views
    "blend": [],  # before format 6: no members of other kinds
    "blend_weights": "global",
    "blender": None,
}
_REQUIRED = ("format_version", "hyperst_version", "genes", "encoder", "hyperparameters", "train_params", "is_trained")


@dataclass
class ModelRecord:
    """What a saved model holds: a JSON-safe configuration and arrays, in today's format.

    Attributes
    ----------
    config
        JSON-safe configuration (genes, encoder, head hyperparameters, target, training parameters, history,
        calibration, and ``"ood"``: ``{"neighbours", "n_reference"}`` or ``None``); no file names.
    members
        Each member's saved tensors (state-dict key -> CPU tensor), in member order.
    ood
        The out-of-distribution reference's arrays, or ``None``.
    blend
        A blended model's arrays (``config["blender"]`` says which), or ``None``.
    source
        Where the record was read from, for error messages (``None`` for a record made in memory).
    """

    config: dict[str, Any]
    members: list[dict[str, torch.Tensor]]
    ood: dict[str, np.ndarray] | None = None
    source: str | None = field(default=None, compare=False)
    blend: dict[str, np.ndarray] | None = None


def member_file(number: int) -> str:
    """Weights file of the ``number``-th member (the first keeps the single model's name)."""
    return WEIGHTS_FILE if number == 0 else f"model_{number}.safetensors"


def stored_config(record: ModelRecord) -> dict[str, Any]:
    """Return ``config.json``'s content for ``record``: versions, the configuration and the files it names."""
    config = {"format_version": FORMAT_VERSION, "hyperst_version": version("hyperst"), **record.config}
    config["members"] = [member_file(i) for i in range(len(record.members))]
    if config.get("ood") is not None:
        config["ood"] = {"file": OOD_FILE, **config["ood"]}
    if config.get("blender") is not None:
        config["blender"] = {"file": BLEND_FILE, **config["blender"]}
    return config


def write_record(record: ModelRecord, path: str | Path, *, overwrite: bool = False) -> None:
    """Write ``record`` to the folder ``path`` atomically (a half-written folder is never left behind)."""
    from safetensors.torch import save_file

    path = Path(path)
    if not record.config.get("is_trained", False):
        raise ValueError("The model is untrained: there is nothing to save yet. Train it first (`hst.tl.fit`).")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass `overwrite=True` to replace it.")
    config = stored_config(record)
    metadata = {"hyperst_version": config["hyperst_version"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        for file, state in zip(config["members"], record.members, strict=True):
            save_file(state, staging / file, metadata=metadata)
        for file, saved in ((OOD_FILE, record.ood), (BLEND_FILE, record.blend)):
            if saved is not None:
                arrays = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in saved.items()}
                save_file(arrays, staging / file, metadata=metadata)
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


def record_digest(record: ModelRecord) -> dict[str, str]:
    """sha256 of what :func:`write_record` would write: the configuration (as JSON) and every member's tensors."""
    weights = hashlib.sha256()
    for state in record.members:
        for key, tensor in sorted(state.items()):
            weights.update(key.encode())
            weights.update(tensor.numpy().tobytes())
    for key, array in sorted((record.blend or {}).items()):
        weights.update(key.encode())
        weights.update(np.ascontiguousarray(array).tobytes())
    config = json.dumps(stored_config(record), sort_keys=True).encode()
    return {"config_sha256": hashlib.sha256(config).hexdigest(), "weights_sha256": weights.hexdigest()}


def read_record(path: str | Path) -> ModelRecord:
    """Read the folder ``path`` into a record in today's format.

    Raises a clear error for missing, tampered, incomplete or newer-version folders.
    """
    path = Path(path)
    config = _read_config(path)
    files = config.get("members", [WEIGHTS_FILE])  # saves before ensembles: one member
    absent = [file for file in files if not (path / file).is_file()]
    if absent:
        raise FileNotFoundError(
            f"The model at {path} has {len(files)} members, but {absent} are missing; the folder is incomplete. "
            "Copy the whole folder written by `HyperST.save`."
        )
    members = [_upgrade_state(_read_weights(path / file), config["format_version"]) for file in files]
    ood = None if config.get("ood") is None else _read_arrays(path / config["ood"]["file"])
    blend = None if config.get("blender") is None else _read_arrays(path / config["blender"]["file"])
    return ModelRecord(_upgrade_config(config), members, ood, source=str(path), blend=blend)


def _upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return a saved configuration of any format in today's shape: no versions or file names, every key present."""
    config = {k: v for k, v in config.items() if k not in ("format_version", "hyperst_version", "members")}
    config = {**_DEFAULTS, **config}
    for key in ("ood", "blender"):
        if config[key] is not None:
            config[key] = {k: v for k, v in config[key].items() if k != "file"}
    return config


def _rename_keys(config: dict[str, Any]) -> dict[str, Any]:
    """Return a saved configuration with the keys that later formats renamed under today's names."""
    saved = config.get("format_version", FORMAT_VERSION)
    for version_, renames in sorted(_RENAMED_KEYS.items()):
        if isinstance(saved, int) and saved < version_:
            config = {renames.get(k, k): v for k, v in config.items()}
    return config


def _upgrade_state(state: dict[str, torch.Tensor], format_version: int) -> dict[str, torch.Tensor]:
    """Rename the state-dict keys of an older save to today's names (a model saved before loads after)."""
    for version_, renames in sorted(_RENAMED.items()):
        if format_version < version_:
            for old, new in renames.items():
                state = {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in state.items()}
    return state


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(file, device="cpu")
    except (SafetensorError, OSError) as error:
        raise ValueError(f"Cannot read the weights in {file}: {error}. Save the model again.") from error


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing; the folder is incomplete. Copy the whole saved model folder.")
    return {k: v.numpy() for k, v in load_file(file, device="cpu").items()}


def check_state(member: torch.nn.Module, state: dict[str, torch.Tensor], keys: list[str], where: str) -> None:
    """Raise unless ``state`` has exactly the tensors ``keys`` of ``member``, in its shapes (``where``: for the error)."""
    full = member.state_dict()
    expected = {k: full[k] for k in keys}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong_shape = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"The weights in {where} do not match the saved configuration (missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, wrong shape {wrong_shape[:5]}); the folder was modified or is incomplete."
        )


def _read_config(path: Path) -> dict[str, Any]:
    file = path / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(f"No {CONFIG_FILE} in {path}: is it a folder written by `HyperST.save`?")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file} is not valid JSON ({error}); the folder was modified or is incomplete.") from error
    if isinstance(config, dict):
        config = _rename_keys(config)
    if not isinstance(config, dict) or not set(_REQUIRED) <= set(config):
        raise ValueError(
            f"{file} lacks the keys {sorted(set(_REQUIRED) - set(config or {}))}; it was modified or is not ours."
        )
    saved, installed = Version(config["hyperst_version"]), Version(version("hyperst"))
    if config["format_version"] > FORMAT_VERSION or saved.release[:2] > installed.release[:2]:
        raise ValueError(
            f"The model at {path} was saved with hyperst {saved}, newer than the installed {installed}. "
            "Upgrade with `pip install -U hyperst`."
        )
    return config
