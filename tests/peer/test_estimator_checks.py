"""scikit-learn's estimator checks, on every model through the internal wrapper.

Adapted from cca-zoo 4.0.1's ``tests/test_estimator_checks.py``: its ``TwoViewAdapter``
(cca-zoo's own ``_MultiviewWrapper``, which stacks and splits views and is generic over
the estimator it wraps) around the jointspace models of :mod:`.adapter`, with sklearn's
``parametrize_with_checks``.
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


def _adapters() -> list[TwoViewAdapter]:
    return [TwoViewAdapter(make_model(cls)) for cls in MODEL_CLASSES]


@parametrize_with_checks(_adapters())
def test_sklearn_estimator_checks(estimator: TwoViewAdapter, check: Any) -> None:
    """Each model passes scikit-learn's estimator checks."""
    check(estimator)
