"""Members of other kinds beside HyperST's networks, blended with weights chosen on the validation spots.

``hst.tl.fit(blend=("ridge", "retrieval"))`` adds to the networks' mean (the ``n_models`` members):

- ``"ridge"``: the ridge probe of :mod:`hyperst.baselines` (standardise, PCA, ridge with its penalty chosen by
  leave-one-out error) on the frozen encoder's spot and niche features, as the networks read them (after
  ``feature_scaling``), stored as the one affine map it is; it reads each feature clipped to the range of the
  spots it was fitted on, so it never extrapolates (unclipped, a probe fitted on one shallow section predicted
  values in the hundreds on another patient's spots, r -0.01; clipped 0.37, docs/benchmarks.md);
- ``"retrieval"``: retrieval in the aligned space, BLEEP-style: the mean expression of the ``k`` training spots whose
  gene-spot embeddings (the first network's) lie nearest to the query spot's image-spot embedding (geodesic distance
  on the hyperboloid; angle for the Euclidean ablation).

The weights (on the simplex: non-negative, summing to 1) are chosen on the validation spots, with the ridge and the
retrieval reference fitted on the training spots alone, by the least squared error of the per-gene centred
predictions divided by each gene's validation variance (every gene counts alike, as in the panel's mean r; a
section-wide offset, such as the validation section's depth, shared by every member, decides nothing). After the
choice the ridge and the retrieval reference are fitted again on training and validation spots together (as
cross-validated stacking does); the networks never see the validation spots.

Container-free: :class:`~hyperst.HyperST` gives the arrays (:meth:`Blender.fit`) and applies :meth:`Blender.combine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement
from typing import Any

import numpy as np

from hyperst._constants import BlendMember, check_choice

NETWORKS = "hyperst"  # the weights' first row: the mean of HyperST's networks
WEIGHT_STEP = 0.05  # resolution of the weights searched on the simplex (231 points for three members)
MIN_VALIDATION_SPOTS = 10  # fewer validation spots choose no weights: the networks predict alone (logged)
RETRIEVAL_NEIGHBOURS = 50  # training spots the retrieval member averages (as the "knn" baseline)
MAX_RETRIEVAL_REFERENCE = 20_000  # training spots it keeps (subsampled beyond): 20 MB at 256 dims and 200 genes
QUERY_CHUNK = 512  # query spots scored against the reference at once


def check_blend(blend: Sequence[str] | None) -> tuple[BlendMember, ...]:
    """Return ``blend`` as a tuple of member kinds (``None``: none); raise naming an unknown or repeated one."""
    if blend is None:
        return ()
    if isinstance(blend, str):
        raise TypeError(f"`blend` is a sequence of member kinds, e.g. ({blend!r},), got the string {blend!r}.")
    blend = tuple(blend)
    for kind in blend:
        check_choice("blend", kind, BlendMember)
    if len(set(blend)) < len(blend):
        raise ValueError(f"`blend` names a member kind twice: {blend}.")
    return blend


@dataclass
class LinearMap:
    """The ridge member: ``clip(features, low, high) @ weight + bias``, the ridge probe folded into one affine map.

    ``low`` and ``high`` are each feature's range over the spots it was fitted on: features beyond it are read at its
    edge, so the map never extrapolates linearly into a new scanner's or patient's feature shift.
    """

    weight: np.ndarray  # (n_features, n_genes)
    bias: np.ndarray  # (n_genes,)
    low: np.ndarray  # (n_features,)
    high: np.ndarray  # (n_features,)

    @classmethod
    def fit(cls, features: np.ndarray, expression: np.ndarray, *, seed: int = 0) -> LinearMap:
        """Fit :func:`hyperst.baselines.ridge_model` and fold its scaler, PCA and ridge into one map."""
        from hyperst.baselines import ridge_model

        features = np.asarray(features, dtype=np.float64)
        scaler, pca, ridge = ridge_model(features.shape, seed=seed).fit(features, expression).named_steps.values()
        # ridge(pca(scale(x))) = ((x - mean) / sd - pca_mean) @ components.T @ coef.T + intercept
        coef = ridge.coef_.reshape(np.shape(expression)[1], -1)  # scikit-learn drops the axis of a single gene
        projection = (pca.components_ / scaler.scale_).T @ coef.T
        bias = (
            np.reshape(ridge.intercept_, -1) - (scaler.mean_ / scaler.scale_ + pca.mean_) @ pca.components_.T @ coef.T
        )
        low, high = features.min(axis=0), features.max(axis=0)
        as32 = [np.asarray(a, dtype=np.float32) for a in (projection, bias, low, high)]
        return cls(*as32)

    def predict(self, features: np.ndarray) -> np.ndarray:
        clipped = np.clip(np.asarray(features, dtype=np.float32), self.low, self.high)
        return (clipped @ self.weight + self.bias).astype(np.float32)


@dataclass
class Retrieval:
    """The retrieval member: reference spots' gene-spot embeddings and expression, ``k`` of them averaged per query."""

    embeddings: np.ndarray  # (n_reference, embed_dim), float32
    expression: np.ndarray  # (n_reference, n_genes), float32, on the model's target scale
    k: int = RETRIEVAL_NEIGHBOURS

    @classmethod
    def fit(cls, embeddings: np.ndarray, expression: np.ndarray, *, seed: int = 0) -> Retrieval:
        """Keep the reference spots (a random :data:`MAX_RETRIEVAL_REFERENCE` of them when there are more)."""
        if len(embeddings) > MAX_RETRIEVAL_REFERENCE:
            keep = np.sort(np.random.default_rng(seed).choice(len(embeddings), MAX_RETRIEVAL_REFERENCE, replace=False))
            embeddings, expression = embeddings[keep], expression[keep]
        k = min(RETRIEVAL_NEIGHBOURS, len(embeddings))
        return cls(np.asarray(embeddings, dtype=np.float32), np.asarray(expression, dtype=np.float32), k)

    def predict(self, queries: np.ndarray, curvature: float | None) -> np.ndarray:
        """Mean expression of the ``k`` reference spots nearest each query (image-spot embeddings ``(n, dim)``).

        Hyperbolic embeddings (``curvature`` ``c``): the geodesic distance grows as the Lorentz inner product
        ``<x, y> - x_t y_t`` falls, so the nearest are those with the largest product (no arccosh needed).
        Euclidean ablation (``curvature=None``, unit vectors): the largest dot product.
        """
        reference = self.embeddings.astype(np.float64)
        if curvature is not None:
            reference_time = np.sqrt(1.0 / curvature + (reference**2).sum(axis=1))
        out = np.empty((len(queries), self.expression.shape[1]), dtype=np.float32)
        for start in range(0, len(queries), QUERY_CHUNK):
            chunk = np.asarray(queries[start : start + QUERY_CHUNK], dtype=np.float64)
            similarity = chunk @ reference.T
            if curvature is not None:
                similarity -= np.sqrt(1.0 / curvature + (chunk**2).sum(axis=1))[:, None] * reference_time[None, :]
            nearest = np.argpartition(-similarity, self.k - 1, axis=1)[:, : self.k]
            out[start : start + len(chunk)] = self.expression[nearest].mean(axis=1)
        return out


def simplex_grid(n_members: int, step: float = WEIGHT_STEP) -> np.ndarray:
    """Every weight vector of ``n_members`` non-negative multiples of ``step`` summing to 1: ``(points, n_members)``.

    The first point gives all weight to the first member (the networks), so ties keep the networks alone.
    """
    units = round(1 / step)
    points = []
    for bars in combinations_with_replacement(range(units + 1), n_members - 1):
        edges = (0, *bars, units)
        points.append([edges[i + 1] - edges[i] for i in range(n_members)])
    grid = np.asarray(points, dtype=np.float64)[::-1] / units
    return grid


def choose_weights(observed: np.ndarray, predictions: np.ndarray, *, per_gene: bool) -> np.ndarray:
    """Weights ``(n_members, n_genes)`` on the simplex grid minimising the validation error of the blend.

    ``predictions`` is ``(n_members, n_spots, n_genes)``. The error of a gene is the squared error of its
    spot-centred prediction over its spot-centred observed values, divided by the observed values' sum of squares
    (so every gene counts alike); ``per_gene=False`` chooses one weight vector for the sum over genes, ``True`` one
    per gene (genes constant on the validation spots take the panel's).
    """
    observed = np.asarray(observed, dtype=np.float64)
    centred_observed = observed - observed.mean(axis=0)
    centred = np.asarray(predictions, dtype=np.float64)
    centred = centred - centred.mean(axis=1, keepdims=True)
    total = (centred_observed**2).sum(axis=0)
    varies = total > 0
    grid = simplex_grid(len(predictions))
    errors = np.empty((len(grid), observed.shape[1]))
    for i, weights in enumerate(grid):
        residual = np.tensordot(weights, centred, axes=1) - centred_observed
        errors[i] = np.where(varies, (residual**2).sum(axis=0) / np.where(varies, total, 1.0), 0.0)
    panel = grid[np.argmin(errors.sum(axis=1))]
    if not per_gene:
        return np.repeat(panel[:, None], observed.shape[1], axis=1)
    chosen = grid[np.argmin(errors, axis=0)].T
    chosen[:, ~varies] = panel[:, None]
    return chosen


@dataclass
class Blender:
    """HyperST's networks blended with members of other kinds (``kinds``), one weight vector per gene.

    ``weights[0]`` weighs the networks' mean, ``weights[i]`` the member ``kinds[i - 1]``; every column sums to 1.
    """

    kinds: tuple[BlendMember, ...]
    weights: np.ndarray  # (1 + len(kinds), n_genes)
    per_gene: bool
    n_spots: int  # validation spots the weights were chosen on
    ridge: LinearMap | None = None
    retrieval: Retrieval | None = None

    @classmethod
    def fit(
        cls,
        kinds: Sequence[BlendMember],
        *,
        networks: np.ndarray,
        expression: np.ndarray,
        validation: np.ndarray,
        features: np.ndarray | None,
        image_embeddings: np.ndarray | None,
        gene_embeddings: np.ndarray | None,
        curvature: float | None,
        per_gene: bool,
        seed: int = 0,
    ) -> tuple[Blender, np.ndarray]:
        """Choose the weights on the ``validation`` rows, then refit the members on every row.

        Each array has one row per training or validation spot: the networks' mean prediction, the expression on the
        model's scale, the frozen features (``"ridge"``), the first network's image- and gene-spot embeddings
        (``"retrieval"``); ``validation`` is a boolean mask of the validation rows. Returns the blender and the
        blend's prediction of the validation spots (by members fitted without them), which calibrates ``predicted_sd``.
        """
        fit_rows = ~validation
        blender = cls(tuple(kinds), np.empty(0), per_gene, int(validation.sum()))
        blender._fit_members(fit_rows, expression, features, gene_embeddings, seed)
        members = [
            networks[validation],
            *blender._member_predictions(features, image_embeddings, curvature, validation),
        ]
        blender.weights = choose_weights(expression[validation], np.stack(members), per_gene=per_gene)
        validation_blend = np.einsum("mg,mng->ng", blender.weights, np.stack(members)).astype(np.float32)
        blender._fit_members(np.ones(len(expression), dtype=bool), expression, features, gene_embeddings, seed)
        return blender, validation_blend

    def _fit_members(
        self, rows: np.ndarray, expression: np.ndarray, features: Any, gene_embeddings: Any, seed: int
    ) -> None:
        if "ridge" in self.kinds:
            self.ridge = LinearMap.fit(features[rows], expression[rows], seed=seed)
        if "retrieval" in self.kinds:
            self.retrieval = Retrieval.fit(gene_embeddings[rows], expression[rows], seed=seed)

    def _member_predictions(
        self, features: Any, image_embeddings: Any, curvature: float | None, rows: Any = slice(None)
    ) -> list[np.ndarray]:
        """Each member's prediction of ``rows``, in the order of :attr:`kinds`."""
        out = []
        for kind in self.kinds:
            if kind == "ridge":
                out.append(self.ridge.predict(features[rows]))
            else:
                out.append(self.retrieval.predict(image_embeddings[rows], curvature))
        return out

    def combine(
        self,
        networks: np.ndarray,
        *,
        features: np.ndarray | None = None,
        image_embeddings: np.ndarray | None = None,
        curvature: float | None = None,
    ) -> np.ndarray:
        """Blend the networks' mean ``(n, n_genes)`` with the members' predictions of the same spots (float32)."""
        blended = self.weights[0] * networks
        for weights, predicted in zip(
            self.weights[1:], self._member_predictions(features, image_embeddings, curvature), strict=True
        ):
            blended += weights * predicted
        return blended.astype(np.float32)

    def mean_weights(self) -> dict[str, float]:
        """Each member's weight, averaged over the genes (``{"hyperst": ..., "ridge": ...}``)."""
        return {kind: float(w.mean()) for kind, w in zip((NETWORKS, *self.kinds), self.weights, strict=True)}

    def record(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-safe configuration and arrays (saved with the model)."""
        config = {"kinds": list(self.kinds), "per_gene": self.per_gene, "n_spots": self.n_spots}
        arrays = {"weights": self.weights.astype(np.float64)}
        if self.ridge is not None:
            ridge = {
                "weight": self.ridge.weight,
                "bias": self.ridge.bias,
                "low": self.ridge.low,
                "high": self.ridge.high,
            }
            arrays |= {f"ridge_{k}": v for k, v in ridge.items()}
        if self.retrieval is not None:
            config["k"] = self.retrieval.k
            arrays |= {
                "retrieval_embeddings": self.retrieval.embeddings,
                "retrieval_expression": self.retrieval.expression,
            }
        return config, arrays

    @classmethod
    def from_record(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Blender:
        kinds = check_blend(config["kinds"])
        ridge = (
            LinearMap(*(arrays[f"ridge_{k}"] for k in ("weight", "bias", "low", "high"))) if "ridge" in kinds else None
        )
        retrieval = (
            Retrieval(arrays["retrieval_embeddings"], arrays["retrieval_expression"], int(config["k"]))
            if "retrieval" in kinds
            else None
        )
        weights = np.asarray(arrays["weights"], dtype=np.float64)
        return cls(kinds, weights, bool(config["per_gene"]), int(config["n_spots"]), ridge, retrieval)
