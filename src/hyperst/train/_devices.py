"""Where to run: one translation of the user's ``device`` strings for inference (torch) and training (Lightning)."""

from __future__ import annotations

from typing import Any

import torch

_KINDS = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "mps": "mps"}  # device string prefix -> Lightning accelerator


def torch_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA, then MPS, then CPU; any other string or device is taken as it is."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def lightning_device(device: str, accelerator: str | None = None, devices: Any = "auto") -> dict[str, Any]:
    """Translate ``device="cuda:1"``-style strings into Lightning's ``accelerator`` and ``devices``.

    An explicit ``accelerator`` wins (with ``devices`` as given), for multi-device runs.
    """
    if accelerator is not None:
        return {"accelerator": accelerator, "devices": devices}
    if device == "auto":
        return {"accelerator": "auto", "devices": devices}
    kind, _, index = str(device).partition(":")
    if kind not in _KINDS:
        raise ValueError(f"Unknown `device={device!r}`; use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'.")
    if index:
        return {"accelerator": _KINDS[kind], "devices": [int(index)]}
    return {"accelerator": _KINDS[kind], "devices": 1 if devices == "auto" else devices}


def inference_device(accelerator: str) -> str:
    """Return the ``device`` to predict on after training with Lightning's ``accelerator`` (CPU stays CPU)."""
    return "cpu" if accelerator == "cpu" else "auto"


def default_precision(accelerator: str) -> str:
    """bf16 (or fp16) mixed precision on CUDA, float32 elsewhere."""
    cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if not cuda:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
