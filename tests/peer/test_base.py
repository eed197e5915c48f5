"""BaseModel's shared score, on CCA.

Adapted from cca-zoo 4.0.1's ``tests/test_base.py``:
``test_score_is_the_mean_canonical_correlation``, verbatim through :mod:`.adapter`. Not
adapted: ``predict`` and ``inverse_transform`` (four tests), which jointspace's models
do not have.
"""

from __future__ import annotations

import numpy as np
import pytest
from cca_zoo.metrics import average_pairwise_correlations, pairwise_correlations

from .adapter import CCA


def test_score_is_the_mean_canonical_correlation(
    two_views: list[np.ndarray],
) -> None:
    """Score is the mean over dimensions of the per-dimension correlations."""
    model = CCA(n_components=2)
    per_dimension = average_pairwise_correlations(
        pairwise_correlations(model.fit_transform(two_views))
    )
    assert model.score(two_views) == pytest.approx(per_dimension.mean(), rel=1e-12)
