"""Fitted weights satisfy the optimality conditions of each model's stated objective.

Adapted from cca-zoo 4.0.1's ``tests/test_objectives.py``:
``test_gcca_weights_regress_the_top_eigenvectors_on_each_view``, with the peer's formula
and tolerances. The one change is the regularised covariance, written in jointspace's
parametrization: cca-zoo's C_i = (1 − c)Σ_ii + cI at shrinkage c is, for jointspace's
GCCA(reg=ε), C_i = Σ_ii + εI with ε = c / (1 − c) (the GCCA docstring's ridge regression).
The peer's shrinkage=1.0 case (C_i = I, an infinite ridge) has no jointspace counterpart.
Not adapted: GRCCA's group penalty and GraphicalLassoCCA, which jointspace lacks.

The property suites check what a model's output does; these check that the
code optimises the objective its docstring writes down, built here from the
formula rather than from the model's own code.
"""

from __future__ import annotations

import numpy as np
import pytest

from ._helpers import linear_views
from .adapter import GCCA, shrinkage_to_reg


def _views() -> list[np.ndarray]:
    """Three centred views: the formulas below take centred data."""
    return [v - v.mean(axis=0) for v in linear_views(0, 80, (6, 5, 4))]


def _regularised_covariance(view: np.ndarray, shrinkage: float) -> np.ndarray:
    """Σ_ii + εI, jointspace's form of the peer's (1 − c)Σ_ii + cI."""
    n, p = view.shape
    return view.T @ view / (n - 1) + shrinkage_to_reg(shrinkage) * np.eye(p)


@pytest.mark.parametrize("shrinkage", [0.0, 0.5])
def test_gcca_weights_regress_the_top_eigenvectors_on_each_view(
    shrinkage: float,
) -> None:
    """T: top eigenvectors of sum_i X_i C_i^-1 X_i'; w_i = C_i^-1 X_i' T / (n - 1)."""
    views = _views()
    n = len(views[0])
    model = GCCA(2, shrinkage=shrinkage).fit(views)
    inverses = [np.linalg.inv(_regularised_covariance(v, shrinkage)) for v in views]
    q = sum(v @ c @ v.T for v, c in zip(views, inverses))
    eigenvalues = np.linalg.eigvalsh(q)
    # The summed scores are Q T / (n - 1), so T is them at unit variance.
    summed = sum(v @ w for v, w in zip(views, model.weights_))
    t = summed / summed.std(axis=0, ddof=1)
    np.testing.assert_allclose(q @ t, t * eigenvalues[-2:][::-1], rtol=1e-6)
    for view, inverse, weights in zip(views, inverses, model.weights_):
        np.testing.assert_allclose(weights, inverse @ view.T @ t / (n - 1), atol=1e-8)
