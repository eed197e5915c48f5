"""Correlation helpers and the linear probe: how well two embeddings agree, how much a
representation knows about labels."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike

from jointspace.metrics.checks import as_matrix, as_vector

__all__ = ["canonical_correlations", "correlation_sum", "linear_probe_accuracy"]


def canonical_correlations(*Z: ArrayLike) -> np.ndarray:
    """Per-component Pearson correlations between views ``Z[0], Z[1], ...`` (each n x k).

    For two views returns ``r`` of shape (k,) with ``r[j] = corr(Z[0][:, j], Z[1][:, j])``; for
    three or more views ``r[j]`` is the mean of the correlations over all pairs of views. A
    component that is constant in a view (zero variance) contributes 0 instead of NaN.
    """
    if len(Z) < 2:
        raise ValueError(f"got {len(Z)} view(s); expected at least two score matrices")
    views = [as_matrix(z, f"Z[{i}]") for i, z in enumerate(Z)]
    for i, v in enumerate(views[1:], start=1):
        if v.shape != views[0].shape:
            raise ValueError(
                f"Z[{i}] has shape {v.shape}, Z[0] has {views[0].shape}; "
                "expected all views to have the same shape (n, k)"
            )
    if views[0].shape[0] < 2:
        raise ValueError("views have 1 row; expected at least 2 samples for a correlation")
    centred, scale = [], []
    for v in views:
        c = v - v.mean(axis=0)
        sd = np.sqrt(np.einsum("ij,ij->j", c, c))
        sd[np.ptp(v, axis=0) == 0] = np.inf  # exactly constant column -> correlation 0
        centred.append(c)
        scale.append(sd)
    pairs = [
        np.einsum("ij,ij->j", centred[i], centred[j]) / (scale[i] * scale[j])
        for i, j in combinations(range(len(views)), 2)
    ]
    return np.clip(np.mean(pairs, axis=0), -1.0, 1.0)


def correlation_sum(*Z: ArrayLike, top: int | None = None) -> float:
    """Sum of the ``top`` largest per-component correlations (all k if None) of the views ``Z``.

    See :func:`canonical_correlations` for the per-component correlations; returns a float.
    """
    r = np.sort(canonical_correlations(*Z))[::-1]
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int | np.integer) or not 1 <= top <= r.size:
            raise ValueError(f"top={top!r}; expected None or an integer in [1, {r.size}]")
        r = r[:top]
    return float(r.sum())


def linear_probe_accuracy(
    Z_train: ArrayLike,
    y_train: ArrayLike,
    Z_test: ArrayLike,
    y_test: ArrayLike,
    *,
    C: float = 1.0,
    random_state: int | None = 0,
) -> float:
    """Test accuracy (0-1) of a linear probe trained on frozen features.

    ``Z_train`` (n_train, k) and ``Z_test`` (n_test, k) are standardised with statistics of the
    training set, then an L2-regularised lbfgs logistic regression (inverse strength ``C``)
    is fitted on ``y_train`` (n_train,) and scored on ``y_test`` (n_test,).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr = as_matrix(Z_train, "Z_train")
    xte = as_matrix(Z_test, "Z_test")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"Z_train has {xtr.shape[1]} columns, Z_test has {xte.shape[1]}; "
            "expected the same embedding dimension"
        )
    ytr = as_vector(y_train, "y_train", xtr.shape[0], "Z_train")
    yte = as_vector(y_test, "y_test", xte.shape[0], "Z_test")
    if np.unique(ytr).size < 2:
        raise ValueError("y_train has a single class; expected at least two classes")
    if not C > 0:
        raise ValueError(f"C={C!r}; expected a positive number")
    probe = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=C, solver="lbfgs", max_iter=5000, random_state=random_state),
    )
    probe.fit(xtr, ytr)
    return float(np.mean(probe.predict(xte) == yte))
