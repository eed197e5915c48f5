"""What a fit must not depend on, checked on every model.

Adapted from cca-zoo 4.0.1's ``tests/test_invariances.py``, on the six models both
libraries have (CCA, RidgeCCA, PLS, MCCA, GCCA, KCCA through :mod:`.adapter`), with the
peer's exemptions of those six (KCCA from units: its default shrinkage blends towards PLS)
and the peer's tolerance.

The views' covariances do not change when the data set is stacked on
itself, its rows are shuffled or a whole view changes units; reordering a
view's columns only reorders its weights. Each property compares the
subspaces the latent scores span, since the Eckart-Young models fix only
the subspace. A model exempt from one names why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ._helpers import (
    MODEL_CLASSES,
    assert_same_subspace,
    linear_views,
    make_model,
    model_params,
)

_N = 150

# Models whose fit legitimately depends on the property, and why (the peer's entries for
# the six models jointspace has).
_SHRINKAGE = "shrinkage=0.1 blends towards PLS, which depends on units"
_STACKING_EXEMPT: dict[str, str] = {}
_ROW_ORDER_EXEMPT: dict[str, str] = {}
_COLUMN_ORDER_EXEMPT: dict[str, str] = {}
_UNITS_EXEMPT = {
    "KCCA": _SHRINKAGE,
}


def _scores(
    cls: Any, fit_on: list[np.ndarray], score: list[np.ndarray]
) -> list[np.ndarray]:
    model = make_model(cls)
    model.set_params(n_components=2)
    return model.fit(fit_on).transform(score)


def _ids(exempt: dict[str, str]) -> list[object]:
    return model_params([c for c in MODEL_CLASSES if c.__name__ not in exempt])


@pytest.mark.parametrize("cls", _ids(_STACKING_EXEMPT))
def test_stacking_the_data_changes_nothing(cls: Any) -> None:
    """Stacking the data on itself keeps every covariance."""
    views = linear_views(0, _N, (8, 6))
    stacked = [np.vstack([v, v]) for v in views]
    assert_same_subspace(_scores(cls, views, views), _scores(cls, stacked, views))


@pytest.mark.parametrize("cls", _ids(_ROW_ORDER_EXEMPT))
def test_row_order_changes_nothing(cls: Any) -> None:
    """Samples are exchangeable."""
    views = linear_views(0, _N, (8, 6))
    order = np.random.default_rng(1).permutation(_N)
    shuffled = [v[order] for v in views]
    assert_same_subspace(_scores(cls, views, views), _scores(cls, shuffled, views))


@pytest.mark.parametrize("cls", _ids(_COLUMN_ORDER_EXEMPT))
def test_column_order_only_reorders_the_weights(cls: Any) -> None:
    """Features are exchangeable."""
    views = linear_views(0, _N, (8, 6))
    rng = np.random.default_rng(1)
    permuted = [v[:, rng.permutation(v.shape[1])] for v in views]
    assert_same_subspace(_scores(cls, views, views), _scores(cls, permuted, permuted))


@pytest.mark.parametrize("cls", _ids(_UNITS_EXEMPT))
def test_a_views_units_change_nothing(cls: Any) -> None:
    """Rescaling a whole view keeps every correlation."""
    views = linear_views(0, _N, (8, 6))
    rescaled = [views[0] * 1000.0, views[1] / 1000.0]
    assert_same_subspace(_scores(cls, views, views), _scores(cls, rescaled, rescaled))
