"""The closed-form linear models, checked against CCA and each other.

Adapted from cca-zoo 4.0.1's ``tests/linear/test_eigendecomposition.py``:
``test_cca_variates_are_uncorrelated_and_ordered`` and
``test_fits_more_features_than_samples`` (MCCA, GCCA), verbatim through :mod:`.adapter`.
Not adapted, for want of the models in jointspace: the regression CCAs (CCAR3, ECCA) and
their penalties, GraphicalLassoCCA, PartialCCA and GRCCA.
"""

from __future__ import annotations

import numpy as np
import pytest

from ._helpers import canonical_correlations, ordered_views
from .adapter import CCA, GCCA, MCCA


def _two_factor_views(n: int = 500) -> list[np.ndarray]:
    return ordered_views(1, n, (8, 6), scales=(1.0, 0.6), noise=0.5)


def test_cca_variates_are_uncorrelated_and_ordered() -> None:
    """Each view's canonical variates are uncorrelated, strongest first."""
    views = _two_factor_views()
    model = CCA(n_components=2).fit(views)
    for z in model.transform(views):
        np.testing.assert_allclose(np.corrcoef(z.T), np.eye(2), atol=1e-6)
    corrs = canonical_correlations(model, views)
    assert corrs[0] > corrs[1]


@pytest.mark.parametrize(
    "model",
    [MCCA(), GCCA()],
    ids=lambda m: type(m).__name__,
)
def test_fits_more_features_than_samples(model: object) -> None:
    """Singular covariances are floored rather than inverted."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 1))
    views = [
        z @ rng.standard_normal((1, p)) + 0.5 * rng.standard_normal((30, p))
        for p in (50, 40)
    ]
    assert model.fit(views).score(views) > 0.3
