"""scikit-learn's estimator checks, on every model through the internal wrapper.

Adapted from cca-zoo 4.0.1's ``tests/test_estimator_checks.py``: its ``TwoViewAdapter``
(cca-zoo's own ``_MultiviewWrapper``, which stacks and splits views and is generic over
the estimator it wraps) around the jointspace models of :mod:`.adapter`, with sklearn's
``parametrize_with_checks`` (its expected failures strict, as the suite's other xfails).
Not adapted: the slow-backend variant (none of the six has
one) and ``test_meta_estimator_construction``, which checks cca-zoo's searches and
``PerViewTransformer`` (jointspace has no such meta-estimators).

sklearn's checks fit and transform one array. The wrapper splits it into
views, so the checks test the wrapper and, through it, each model: input
validation, fitted-state errors, pickling, cloning, idempotence and
invariance to sample order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from cca_zoo.model_selection._search import _MultiviewWrapper
from numpy.typing import ArrayLike
from sklearn.utils.estimator_checks import parametrize_with_checks

from jointspace.models import JointModel

from ._helpers import MODEL_CLASSES, make_model


class TwoViewAdapter(_MultiviewWrapper):
    """The wrapper for sklearn's checks, whose data vary in width.

    Four or more features are halved into two views; fewer are used as both.
    """

    def __init__(self, estimator: JointModel) -> None:
        self.estimator = estimator

    def _view_widths(self, n_features: int) -> list[int]:
        half = n_features // 2
        return [half, n_features - half] if n_features >= 4 else [n_features]

    def _split_views(self, X: ArrayLike, reset: bool) -> list[np.ndarray]:
        views = super()._split_views(X, reset)
        return views if len(views) == 2 else views * 2


_OBJECT_ARRAY = (
    "an object array holding a non-number (sklearn puts a dict in X[0, 0]) must raise "
    "TypeError matching 'argument must be .* string.* number', numpy's own error, as "
    "sklearn's check_array does; jointspace's _as_view (data/multiview.py) turns it into "
    "ValueError(\"view 'view0' is an object array holding non-numbers; expected a numeric "
    "array\")"
)
# jointspace's models whose checks fail, and why (the peer expects none of these six to)
_EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    name: {"check_dtype_object": _OBJECT_ARRAY} for name in ("CCA", "PLS", "MCCA", "GCCA", "KCCA")
}


def _expected_failures(adapter: TwoViewAdapter) -> dict[str, str]:
    return _EXPECTED_FAILURES.get(type(adapter.estimator).__name__, {})


def _adapters() -> list[TwoViewAdapter]:
    return [TwoViewAdapter(make_model(cls)) for cls in MODEL_CLASSES]


@parametrize_with_checks(
    _adapters(), expected_failed_checks=_expected_failures, xfail_strict=True
)
def test_sklearn_estimator_checks(estimator: TwoViewAdapter, check: Any) -> None:
    """Each model passes scikit-learn's estimator checks."""
    check(estimator)
