"""Alignment heads: per-stream residual MLPs, per-modality linear maps, and the geometry they embed into.

:class:`EuclideanAlignment` (unit sphere, cosine similarity) is the ablation baseline;
:class:`HyperbolicAlignment` overrides only :meth:`~EuclideanAlignment.embed` and
:meth:`~EuclideanAlignment.similarity` (MERU's pattern), so the two models differ in their geometry alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hyperst._constants import STREAMS, Modality, choices
from hyperst.geometry import exp_map0, no_autocast, pairwise_dist
from hyperst.nn._resmlp import ResidualMLP
from hyperst.nn._utils import clamp_parameter_

MODALITIES: tuple[str, ...] = choices(Modality)


def modality_of(stream: str) -> str:
    """Modality (``"image"`` or ``"gene"``) of a stream name such as ``"image_spot"``.

    Parameters
    ----------
    stream
        One of :data:`STREAMS`.

    Returns
    -------
    The part of the name before the underscore.
    """
    if stream not in STREAMS:
        raise ValueError(f"Unknown stream {stream!r}; expected one of {STREAMS}.")
    return stream.split("_", 1)[0]


class EuclideanAlignment(nn.Module):
    """Alignment heads that embed into the unit sphere of ``R^E`` and compare by cosine similarity.

    Each stream ``s`` in :data:`STREAMS` gets its own :class:`~hyperst.nn.ResidualMLP`, followed by a bias-free
    ``Linear(E -> E)`` shared by the streams of one modality: the result is the Euclidean aligned feature
    ``f_s`` (docs/method.md, "HCA: hierarchical contrastive alignment"). The embedding is ``f_s / ||f_s||``; entailment cones do not exist here.

    Parameters
    ----------
    embed_dim
        Width ``E`` of the inputs and of the aligned features.
    n_blocks
        Residual blocks per head.
    hidden_ratio
        Hidden width of the blocks' MLPs as a multiple of ``E``.
    dropout
        Dropout probability in the heads.
    streams
        Streams to build heads for (default: all four; a model without alignment needs only the image ones).
    """

    geometry: ClassVar[str] = "euclidean"
    has_cones: ClassVar[bool] = False

    def __init__(
        self,
        embed_dim: int,
        *,
        n_blocks: int = 2,
        hidden_ratio: float = 2.0,
        dropout: float = 0.1,
        streams: Sequence[str] = STREAMS,
    ):
        super().__init__()
        if not streams:
            raise ValueError(f"`streams` must name at least one of {STREAMS}.")
        self.embed_dim = embed_dim
        self.streams = tuple(streams)
        self.modalities = tuple(m for m in MODALITIES if any(modality_of(s) == m for s in self.streams))
        self.heads = nn.ModuleDict(
            {
                stream: ResidualMLP(embed_dim, n_blocks=n_blocks, hidden_ratio=hidden_ratio, dropout=dropout)
                for stream in self.streams
            }
        )
        self.projections = nn.ModuleDict({m: nn.Linear(embed_dim, embed_dim, bias=False) for m in self.modalities})

    @property
    def curv(self) -> Tensor | None:
        """Curvature parameter ``c`` of the space (``None``: Euclidean)."""
        return None

    def clamp_parameters_(self) -> None:
        """Bring constrained parameters back into their range (nothing to do in Euclidean space)."""

    def features(self, x: Tensor, stream: str) -> Tensor:
        """Euclidean aligned feature ``f_s`` of one stream.

        Parameters
        ----------
        x
            Encoded inputs of the stream, shape ``(B, E)``.
        stream
            One of :data:`STREAMS`.

        Returns
        -------
        Tensor of shape ``(B, E)``.
        """
        if stream not in self.heads:
            raise ValueError(f"No head for stream {stream!r}; this module has heads for {self.streams}.")
        return self.projections[modality_of(stream)](self.heads[stream](x))

    def embed(self, features: Tensor, stream: str) -> Tensor:
        """Map aligned features to the unit sphere (float32).

        Parameters
        ----------
        features
            Aligned features ``f_s``, shape ``(B, E)``.
        stream
            One of :data:`STREAMS` (unused here; the hyperbolic version scales per modality).

        Returns
        -------
        Unit vectors, shape ``(B, E)``.
        """
        modality_of(stream)
        with no_autocast(features.device.type):
            return F.normalize(features.float(), dim=-1)

    def similarity(self, x: Tensor, y: Tensor) -> Tensor:
        """Pairwise cosine similarity of embeddings (float32).

        Parameters
        ----------
        x
            Embeddings, shape ``(N, E)``.
        y
            Embeddings, shape ``(M, E)``.

        Returns
        -------
        Tensor of shape ``(N, M)``; larger means more similar.
        """
        with no_autocast(x.device.type):
            return x.float() @ y.float().T

    def forward(self, inputs: Mapping[str, Tensor | None]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Aligned features and embeddings of the streams given.

        Parameters
        ----------
        inputs
            Map from stream name to its encoded inputs of shape ``(B, E)``; streams that are absent or
            ``None`` are skipped.

        Returns
        -------
        Two dicts keyed by stream: the aligned features ``f_s`` (input dtype) and the embeddings (float32).
        """
        if self.training:
            self.clamp_parameters_()
        features = {s: self.features(x, s) for s, x in inputs.items() if x is not None}
        return features, {s: self.embed(f, s) for s, f in features.items()}


class HyperbolicAlignment(EuclideanAlignment):
    """Alignment heads that embed into the Lorentz model and compare by negative geodesic distance.

    The embedding of stream ``s`` is ``exp_map0(exp(alpha_m) f_s, c)``: ``alpha_m`` is a learnable log-scale
    per modality ``m`` (clamped ``<= 0``, so that it never up-scales), ``c`` the learnable curvature (stored as
    ``log c``, clamped into ``curv_range``). Similarity is ``-d(x, y)``; entailment cones are available.
    Constrained parameters are clamped in place at each training forward pass, as in MERU.

    Parameters
    ----------
    embed_dim
        Width ``E`` of the inputs and of the aligned features.
    n_blocks
        Residual blocks per head.
    hidden_ratio
        Hidden width of the blocks' MLPs as a multiple of ``E``.
    dropout
        Dropout probability in the heads.
    curv_init
        Initial curvature parameter ``c`` (the curvature is ``-c``).
    curv_range
        ``(min, max)`` allowed for ``c``.
    learn_curv
        Learn ``c``; otherwise it stays at ``curv_init``.
    scale_init
        Initial ``exp(alpha)`` of both modalities; defaults to ``E ** -0.5``, so that features with norm about
        ``sqrt(E)`` (LayerNorm outputs) start with norm about 1.
    streams
        Streams to build heads for (default: all four).
    """

    geometry: ClassVar[str] = "lorentz"
    has_cones: ClassVar[bool] = True

    def __init__(
        self,
        embed_dim: int,
        *,
        n_blocks: int = 2,
        hidden_ratio: float = 2.0,
        dropout: float = 0.1,
        curv_init: float = 1.0,
        curv_range: tuple[float, float] = (0.1, 10.0),
        learn_curv: bool = True,
        scale_init: float | None = None,
        streams: Sequence[str] = STREAMS,
    ):
        super().__init__(embed_dim, n_blocks=n_blocks, hidden_ratio=hidden_ratio, dropout=dropout, streams=streams)
        low, high = curv_range
        if not 0 < low <= curv_init <= high:
            raise ValueError(f"Need 0 < curv_range[0] <= curv_init <= curv_range[1]; got {curv_init}, {curv_range}.")
        scale_init = embed_dim**-0.5 if scale_init is None else scale_init
        if not 0 < scale_init <= 1:
            raise ValueError(f"`scale_init` must be in (0, 1] (its log is clamped <= 0); got {scale_init}.")
        self.log_curv = nn.Parameter(torch.tensor(math.log(curv_init)), requires_grad=learn_curv)
        self.log_scale = nn.ParameterDict(
            {m: nn.Parameter(torch.tensor(math.log(scale_init))) for m in self.modalities}
        )
        self._log_curv_range = (math.log(low), math.log(high))

    @property
    def curv(self) -> Tensor:
        """Curvature parameter ``c`` (0-d tensor, differentiable); the curvature is ``-c``."""
        return self.log_curv.clamp(*self._log_curv_range).exp()

    def scale(self, modality: str) -> Tensor:
        """Scale ``exp(alpha_m) <= 1`` applied to the features of ``modality`` before the exponential map.

        Parameters
        ----------
        modality
            ``"image"`` or ``"gene"``.

        Returns
        -------
        0-d tensor (differentiable).
        """
        return self.log_scale[modality].clamp(max=0.0).exp()

    def clamp_parameters_(self) -> None:
        """Clamp ``log c`` into its range and the log-scales to ``<= 0``, in place."""
        clamp_parameter_(self.log_curv, *self._log_curv_range)
        for param in self.log_scale.values():
            clamp_parameter_(param, None, 0.0)

    def embed(self, features: Tensor, stream: str) -> Tensor:
        """Lift aligned features onto the hyperboloid (float32).

        Parameters
        ----------
        features
            Aligned features ``f_s``, shape ``(B, E)``.
        stream
            One of :data:`STREAMS`; selects the modality's scale.

        Returns
        -------
        Lorentz space components, shape ``(B, E)``.
        """
        scale = self.scale(modality_of(stream))
        with no_autocast(features.device.type):
            return exp_map0(features.float() * scale.float(), self.curv)

    def similarity(self, x: Tensor, y: Tensor) -> Tensor:
        """Negative pairwise geodesic distance of Lorentz embeddings (float32).

        Parameters
        ----------
        x
            Space components, shape ``(N, E)``.
        y
            Space components, shape ``(M, E)``.

        Returns
        -------
        Tensor of shape ``(N, M)``; larger means more similar.
        """
        return -pairwise_dist(x, y, self.curv)
