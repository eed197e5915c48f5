"""The shared linear algebra: whitening.

Adapted from cca-zoo 4.0.1's ``tests/test_linalg.py``: the two ``svd_whiten`` tests, on
jointspace's ``solvers.whitener`` through :mod:`.adapter` (``svd_whiten(x, c)`` whitens
with ``whitener(cov(x), c / (1 − c))``), with the peer's data and tolerances.

Not adapted, for want of a counterpart in jointspace: ``gevp`` (jointspace solves MCCA by
whitening, with no generalized eigensolver), ``soft_threshold`` and ``deflate`` (sparse and
iterative models), ``psd_inverse_sqrt``/``floored`` (jointspace's ``inv_sqrt`` returns a
(d, r) factor F with FᵀCF = I, not the symmetric root the peer's W C W = I needs, and
truncates a singular spectrum rather than flooring it) and ``cross_moment_tensor``
(tensor CCA).
"""

from __future__ import annotations

import numpy as np
import pytest

from .adapter import svd_whiten


def _centred(n: int, p: int, rank: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, rank or p)) @ (
        rng.standard_normal((rank, p)) if rank else np.eye(p)
    )
    return x - x.mean(axis=0)


@pytest.mark.parametrize(
    ("n", "p", "rank"), [(100, 8, None), (30, 5, 2), (20, 200, None)]
)
def test_svd_whiten_gives_identity_covariance(n: int, p: int, rank: int | None) -> None:
    """Unregularised whitening is exact for tall, rank-deficient and wide data."""
    x = _centred(n, p, rank)
    x_w, w = svd_whiten(x, regularization=0.0)
    np.testing.assert_allclose(x_w, x @ w, atol=1e-10)
    np.testing.assert_allclose(x_w.T @ x_w / (n - 1), np.eye(x_w.shape[1]), atol=1e-8)


def test_svd_whiten_regularization_shrinks_towards_the_raw_scale() -> None:
    """Regularisation leaves the whitened variances further from one."""
    x = _centred(60, 5)

    def distance_from_unit_variance(c: float) -> float:
        x_w, _ = svd_whiten(x, regularization=c)
        return float(np.abs(x_w.var(axis=0, ddof=1) - 1.0).mean())

    assert distance_from_unit_variance(0.0) < distance_from_unit_variance(0.5)
