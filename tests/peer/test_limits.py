"""Each hyperparameter at its limits, against a model it must reduce to.

Adapted from cca-zoo 4.0.1's ``tests/test_limits.py``: ``test_without_a_penalty_is_cca``
for the models jointspace has (RidgeCCA, MCCA, GCCA), against jointspace's own CCA, with
the peer's data and tolerance. The other models of the case (GRCCA, CCAR3, ECCA,
HuberCCA, the sparse ones) and the other tests (the Eckart-Young and stochastic models at
full shrinkage, the sparse power iterations, the sparsity paths) have no jointspace
counterpart.
"""

from __future__ import annotations

import pytest

from jointspace.models import JointModel

from ._helpers import assert_same_subspace, ordered_views
from .adapter import CCA, GCCA, MCCA, RidgeCCA


@pytest.mark.parametrize(
    "model",
    [
        RidgeCCA(2, shrinkage=0.0),
        MCCA(2),
        GCCA(2),
    ],
    ids=["RidgeCCA", "MCCA", "GCCA"],
)
def test_without_a_penalty_is_cca(model: JointModel) -> None:
    """With no penalty, trimming or budget, the scores span CCA's."""
    views = ordered_views()
    assert_same_subspace(
        model.fit(views).transform(views), CCA(2).fit(views).transform(views), atol=1e-3
    )
