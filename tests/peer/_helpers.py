"""Helpers shared across the peer's test modules: cca-zoo 4.0.1's ``tests/_helpers.py``.

The data generators and the comparisons are the peer's, verbatim (its simulator
``cca_zoo.datasets.make_joint_data`` and its correlation metrics build the data and measure
jointspace's scores). The models are :mod:`.adapter`'s: the six both libraries have,
instead of the discovery of every cca-zoo model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from cca_zoo.datasets import make_joint_data
from cca_zoo.metrics import average_pairwise_correlations, pairwise_correlations

from jointspace.models import JointModel

from .adapter import MODEL_CLASSES

__all__ = [
    "MODEL_CLASSES",
    "as_frames",
    "assert_same_scores_as",
    "assert_same_subspace",
    "canonical_correlations",
    "fit",
    "linear_views",
    "make_model",
    "model_params",
    "ordered_views",
    "principal_cosines",
    "slow_marks",
]


def make_model(cls: Any) -> JointModel:
    """A quick-fitting, seeded instance of ``cls`` (none of the six needs quick settings)."""
    model = cls()
    if "random_state" in model.get_params():
        model.set_params(random_state=0)
    return model


def canonical_correlations(model: object, views: list[np.ndarray]) -> np.ndarray:
    """Per-dimension mean pairwise canonical correlation of a fitted model."""
    return average_pairwise_correlations(pairwise_correlations(model.transform(views)))  # type: ignore[attr-defined]


def linear_views(
    seed: int = 0,
    n: int = 100,
    widths: tuple[int, ...] = (6, 5),
    n_components: int = 2,
    noise: float = 1.0,
    shift: float = 0.0,
) -> list[np.ndarray]:
    """Views of shared Gaussian factors, by the package's own simulator.

    One view per width; ``noise`` is each feature's noise standard deviation,
    and ``shift`` is added to every entry, for data that needs centring.
    """
    views = make_joint_data(
        n_samples=n,
        n_features=list(widths),
        n_views=len(widths),
        n_components=n_components,
        signal_to_noise=noise**-2,
        random_state=seed,
    )
    return [v + shift for v in views]


def ordered_views(
    seed: int = 0,
    n: int = 300,
    widths: tuple[int, ...] = (6, 5),
    scales: tuple[float, ...] = (3.0, 2.0, 1.0),
    noise: float = 1.0,
) -> list[np.ndarray]:
    """Views of shared factors of decreasing scale, so canonical correlations differ.

    ``linear_views``' factors are exchangeable, which leaves the order of the
    components to chance.
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(scales))) * np.asarray(scales)
    return [
        z @ rng.standard_normal((len(scales), p)) + noise * rng.standard_normal((n, p))
        for p in widths
    ]


def as_frames(views: list[np.ndarray]) -> list[pd.DataFrame]:
    """The views as DataFrames with named columns, ``v<view>_<feature>``."""
    return [
        pd.DataFrame(v, columns=[f"v{i}_{j}" for j in range(v.shape[1])])
        for i, v in enumerate(views)
    ]


def fit(model: JointModel, views: list[np.ndarray]) -> JointModel:
    """Fit any model (the peer's PartialCCA branch has no counterpart)."""
    return model.fit(views)


def slow_marks(cls: Any) -> list[pytest.MarkDecorator]:
    """None of the six has a slow backend."""
    return []


def model_params(classes: list[Any]) -> list[Any]:
    """Parametrize over models, by their cca-zoo names."""
    return [pytest.param(c, id=c.__name__, marks=slow_marks(c)) for c in classes]


def assert_same_scores_as(
    scores: list[np.ndarray], reference: list[np.ndarray], atol: float = 1e-6
) -> None:
    """Each component is perfectly correlated with the reference's, up to sign."""
    for a, b in zip(scores, reference):
        for j in range(b.shape[1]):
            assert abs(np.corrcoef(a[:, j], b[:, j])[0, 1]) > 1 - atol


def principal_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between the column spans of a and b."""
    qa = np.linalg.qr(a - a.mean(axis=0))[0]
    qb = np.linalg.qr(b - b.mean(axis=0))[0]
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def assert_same_subspace(
    a: list[np.ndarray], b: list[np.ndarray], atol: float = 1e-3
) -> None:
    """Each view's scores in ``a`` span the same subspace as in ``b``."""
    for x, y in zip(a, b):
        np.testing.assert_allclose(principal_cosines(x, y), 1.0, atol=atol)
