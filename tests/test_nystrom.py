"""Nyström KCCA against exact KCCA as the number of landmarks grows.

The reference is exact regularized KCCA in its dual form (Hardoon et al. 2004), solved here
as one generalized symmetric eigenproblem on the centred kernel matrices. Nyström with m
landmarks is KCCA restricted to functions spanned by the landmarks' kernel sections, a
Rayleigh–Ritz compression of the same problem: each of its canonical correlations is at most
the exact one, the gap closes as m grows, and with m = n it is the exact solution."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from sklearn.metrics.pairwise import rbf_kernel

from jointspace.models import KCCA

N, K, EPS = 200, 4, 0.1


@pytest.fixture(scope="module")
def views(mfeat_split):
    """Fourier (76) and Karhunen–Loève (64) features of real handwritten digits,
    standardized: 200 training rows and 400 test rows."""
    train, test, _ = mfeat_split
    return [train[0][:N], train[2][:N]], [test[0], test[2]]


def _centred(K: np.ndarray, K_rows: np.ndarray | None = None) -> np.ndarray:
    """Kernel between rows and training points, both centred on the training mean in
    feature space: k(x, y) − mean_l k(x, l) − mean_i k(i, y) + mean_il k(i, l)."""
    K_rows = K if K_rows is None else K_rows
    return K_rows - K_rows.mean(axis=1, keepdims=True) - K.mean(axis=0) + K.mean()


def dual_kcca(X1, X2, gammas, eps, k):
    """Exact regularized KCCA, dual form: max α1ᵀK1K2α2/(n−1) subject to
    αiᵀ(Ki²/(n−1) + εKi)αi = 1, as one symmetric-definite eigenproblem. Returns the top-k
    correlations and the (n, k) dual vectors of each view."""
    n = len(X1)
    raw = [rbf_kernel(X1, gamma=gammas[0]), rbf_kernel(X2, gamma=gammas[1])]
    K1, K2 = (_centred(R) for R in raw)
    Z = np.zeros((n, n))
    A = np.block([[Z, K1 @ K2], [K2 @ K1, Z]]) / (n - 1)
    B = np.block([[K1 @ K1 / (n - 1) + eps * K1, Z], [Z, K2 @ K2 / (n - 1) + eps * K2]])
    B += 1e-9 * np.eye(2 * n)  # the centred kernels are singular along the constant
    rho, V = scipy.linalg.eigh(A, B)
    top = np.argsort(rho)[::-1][:k]
    return rho[top], V[:n, top], V[n:, top], raw


def test_all_samples_as_landmarks_is_exact_kcca(views):
    """m = n: correlations equal the dual eigenproblem's, and the test-set canonical variates
    are the dual solution's f(x) = Σ_j α_j k_c(x, x_j), up to sign and scale."""
    (X1, X2), (T1, T2) = views
    model = KCCA(K, reg=EPS, kernel="rbf", n_landmarks=N).fit([X1, X2])
    assert model.landmarks_[0].shape == (N, X1.shape[1])
    rho, alpha1, alpha2, raw = dual_kcca(X1, X2, model.gammas_, EPS, K)
    np.testing.assert_allclose(model.objective_, rho, rtol=0, atol=1e-7)
    Z1, Z2 = model.transform([T1, T2])
    for Z, T, X, R, alpha, g in ((Z1, T1, X1, raw[0], alpha1, model.gammas_[0]),
                                 (Z2, T2, X2, raw[1], alpha2, model.gammas_[1])):
        reference = _centred(R, rbf_kernel(T, X, gamma=g)) @ alpha
        for c in range(K):
            assert abs(np.corrcoef(Z[:, c], reference[:, c])[0, 1]) > 1 - 1e-6, c
    exact = KCCA(K, reg=EPS, kernel="rbf", n_landmarks=None).fit([X1, X2])
    np.testing.assert_array_equal(exact.objective_, model.objective_)


def test_nystrom_correlations_converge_to_exact_from_below(views):
    (X1, X2), _ = views
    exact, *_ = dual_kcca(X1, X2, KCCA(K, reg=EPS).fit([X1, X2]).gammas_, EPS, K)
    gaps = {}
    for m in (10, 25, 50, 100, 150, N):
        per_seed = []
        for seed in range(4):
            model = KCCA(K, reg=EPS, n_landmarks=m, random_state=seed).fit([X1, X2])
            assert model.landmarks_[0].shape == (m, X1.shape[1])
            gap = exact - model.objective_
            assert (gap > -1e-7).all(), (m, seed, gap)  # a Ritz value never exceeds exact
            per_seed.append(gap.sum())
        gaps[m] = float(np.mean(per_seed))
    ms = sorted(gaps)
    assert all(gaps[a] > gaps[b] for a, b in zip(ms, ms[1:])), gaps  # strictly closing
    assert gaps[10] > 0.05 and gaps[N] < 1e-7  # far at 10 landmarks, exact at n


def test_nystrom_test_set_correlations_approach_exact(views):
    """Held-out canonical correlations of Nyström models approach exact KCCA's."""
    (X1, X2), (T1, T2) = views

    def test_corrs(model):
        Z1, Z2 = model.transform([T1, T2])
        return np.array([np.corrcoef(Z1[:, c], Z2[:, c])[0, 1] for c in range(K)])

    exact = test_corrs(KCCA(K, reg=EPS, n_landmarks=None).fit([X1, X2]))
    errors = {m: np.mean([np.abs(test_corrs(KCCA(K, reg=EPS, n_landmarks=m, random_state=s)
                                            .fit([X1, X2])) - exact).sum() for s in range(4)])
              for m in (10, 50, 150)}
    assert errors[10] > errors[50] > errors[150]
    np.testing.assert_allclose(test_corrs(KCCA(K, reg=EPS, n_landmarks=N).fit([X1, X2])),
                               exact, rtol=0, atol=1e-12)
