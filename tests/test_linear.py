"""The linear family against independent references: cca-zoo, closed forms, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from cca_zoo import linear as zoo

from jointspace.metrics import canonical_correlations
from jointspace.models import CCA, GCCA, KCCA, MCCA, PLS

EPS = 1e-3
SHRINK = EPS / (1 + EPS)  # cca-zoo blends (1-c)Σ + cI: the same problem as Σ + εI, rescaled


def _test_corrs(model, views):
    return canonical_correlations(*model.transform(views))


# --------------------------------------------------------------------- cca-zoo agreement
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda k: CCA(k, reg=EPS), lambda k: zoo.RidgeCCA(k, shrinkage=SHRINK)),
        (lambda k: MCCA(k, reg=EPS), lambda k: zoo.MCCA(k, shrinkage=SHRINK)),
        (lambda k: GCCA(k, reg=EPS), lambda k: zoo.GCCA(k, shrinkage=SHRINK)),
        (lambda k: PLS(k), lambda k: zoo.PLS(k)),
    ],
    ids=["CCA", "MCCA", "GCCA", "PLS"],
)
def test_agrees_with_cca_zoo_on_mnist_halves(mnist_split, ours, theirs):
    train, test, *_ = mnist_split
    for k in (10, 50):
        a, b = ours(k).fit(train), theirs(k).fit(train)
        ra, rb = _test_corrs(a, test), canonical_correlations(*b.transform(test))
        np.testing.assert_allclose(ra, rb, atol=1e-6)
        # and the projections themselves, up to each component's sign
        za, zb = a.transform(test)[0], b.transform(test)[0]
        za, zb = za / np.linalg.norm(za, axis=0), zb / np.linalg.norm(zb, axis=0)
        np.testing.assert_allclose(np.abs(np.sum(za * zb, axis=0)), 1.0, atol=1e-6)
    if isinstance(a, CCA):
        assert ra.sum() == pytest.approx(24.6, abs=0.1)  # DATA.md's reference figure


@pytest.mark.parametrize(
    ("ours", "theirs", "views"),
    [
        (CCA(5, reg=EPS), zoo.RidgeCCA(5, shrinkage=SHRINK), [0, 2]),
        (PLS(5), zoo.PLS(5), [0, 2]),
        (MCCA(5, reg=EPS), zoo.MCCA(5, shrinkage=SHRINK), range(6)),
        (GCCA(5, reg=EPS), zoo.GCCA(5, shrinkage=SHRINK), range(6)),
        (MCCA(5, reg=0.1), zoo.MCCA(5, shrinkage=0.1 / 1.1), range(6)),
    ],
    ids=["CCA", "PLS", "MCCA-6", "GCCA-6", "MCCA-6-ridge"],
)
def test_agrees_with_cca_zoo_on_uci_mfeat(mfeat_split, ours, theirs, views):
    train, test, _ = mfeat_split
    tr, te = [train[i] for i in views], [test[i] for i in views]
    ra = _test_corrs(ours.fit(tr), te)
    rb = canonical_correlations(*theirs.fit(tr).transform(te))
    np.testing.assert_allclose(ra, rb, atol=1e-6)


# ------------------------------------------------------------------ closed-form reference
def test_unregularized_cca_matches_closed_form(mfeat_split):
    """ρ² are the eigenvalues of Σ11⁻¹Σ12Σ22⁻¹Σ21; weights solve the generalized problem."""
    train, test, _ = mfeat_split
    X1, X2 = train[0], train[5]  # fou (76) and mor (6): full-rank covariances
    k = 6
    model = CCA(k).fit([X1, X2])
    S = np.cov(np.hstack([X1, X2]).T)
    S11, S12, S22 = S[:76, :76], S[:76, 76:], S[76:, 76:]
    rho2, W1 = scipy.linalg.eigh(S12 @ np.linalg.solve(S22, S12.T), S11)
    rho2, W1 = rho2[::-1][:k], W1[:, ::-1][:, :k]
    np.testing.assert_allclose(model.objective_, np.sqrt(rho2), atol=1e-10)
    np.testing.assert_allclose(model.canonical_correlations_, np.sqrt(rho2), atol=1e-10)
    ref = test[0] @ W1
    ours = model.transform_view(0, test[0])
    cos = np.sum(ref * ours, axis=0) / np.linalg.norm(ref, axis=0) / np.linalg.norm(ours, axis=0)
    np.testing.assert_allclose(np.abs(cos), 1.0, atol=1e-8)
    # the canonical variates are uncorrelated, unit-variance on the training set
    Z1 = model.transform_view(0, X1)
    np.testing.assert_allclose(np.cov(Z1.T), np.eye(k), atol=1e-8)


def test_cca_on_singular_covariance_uses_pseudo_inverse(mnist_split):
    """MNIST halves have always-zero border pixels: reg=0 still gives finite variates."""
    train, test, *_ = mnist_split
    model = CCA(10).fit(train)
    assert np.isfinite(model.transform(test)[0]).all()
    assert np.all(model.canonical_correlations_ <= 1 + 1e-9)
    assert np.all(np.diff(model.objective_) <= 1e-12)  # ordered by correlation


def test_mcca_two_views_equals_cca(mfeat_split):
    train, test, _ = mfeat_split
    a = CCA(5, reg=0.01).fit([train[0], train[2]])
    b = MCCA(5, reg=0.01).fit([train[0], train[2]])
    np.testing.assert_allclose(a.objective_, b.objective_, atol=1e-10)
    for za, zb in zip(a.transform([test[0], test[2]]), b.transform([test[0], test[2]])):
        cos = np.sum(za * zb, axis=0) / np.linalg.norm(za, axis=0) / np.linalg.norm(zb, axis=0)
        np.testing.assert_allclose(cos, 1.0, atol=1e-8)


# ---------------------------------------------------------------------------- streaming
@pytest.mark.parametrize(
    "make",
    [
        lambda: CCA(20, reg=EPS),
        lambda: MCCA(20, reg=EPS),
        lambda: GCCA(20, reg=EPS),
        lambda: PLS(20),
    ],
    ids=["CCA", "MCCA", "GCCA", "PLS"],
)
def test_partial_fit_over_chunks_equals_fit(mnist_split, make):
    train, test, *_ = mnist_split
    full = make().fit(train)
    streamed = make()
    for chunk in np.array_split(np.arange(len(train[0])), 10):
        streamed.partial_fit([v[chunk] for v in train])
    assert streamed.n_samples_seen_ == len(train[0])
    for wa, wb in zip(full.weights_, streamed.weights_):
        np.testing.assert_allclose(wa, wb, atol=1e-8)
    np.testing.assert_allclose(
        full.canonical_correlations_, streamed.canonical_correlations_, atol=1e-8
    )
    for za, zb in zip(full.transform(test), streamed.transform(test)):
        np.testing.assert_allclose(za, zb, atol=1e-8)


def test_partial_fit_resumes_after_load(mnist_split, tmp_path):
    train, *_ = mnist_split
    half = len(train[0]) // 2
    first = MCCA(10, reg=EPS).partial_fit([v[:half] for v in train])
    first.save(tmp_path / "m")
    resumed = MCCA.load(tmp_path / "m").partial_fit([v[half:] for v in train])
    full = MCCA(10, reg=EPS).fit(train)
    for wa, wb in zip(full.weights_, resumed.weights_):
        np.testing.assert_allclose(wa, wb, atol=1e-8)


def test_three_views_mcca_gcca(mfeat_split):
    train, test, names = mfeat_split
    views = dict(zip(names[:3], train[:3]))
    for model in (MCCA(5, reg=EPS), GCCA(5, reg=EPS)):
        Z = model.fit(views).transform(dict(zip(names[:3], test[:3])))
        assert len(Z) == 3 and all(z.shape == (len(test[0]), 5) for z in Z)
        assert model.score(dict(zip(names[:3], test[:3]))) > 0.6  # mean of 5 correlations


# ------------------------------------------------------------------------------- kernel
def test_kcca_linear_kernel_exact_equals_cca(mfeat_split):
    """With a linear kernel and all samples as landmarks, KCCA is ridge CCA."""
    train, test, _ = mfeat_split
    tr, te = [train[0][:300], train[2][:300]], [test[0], test[2]]
    kcca = KCCA(5, reg=0.05, kernel="linear", n_landmarks=None).fit(tr)
    cca = CCA(5, reg=0.05).fit(tr)
    np.testing.assert_allclose(kcca.objective_, cca.objective_, atol=1e-8)
    np.testing.assert_allclose(_test_corrs(kcca, te), _test_corrs(cca, te), atol=1e-7)


def test_exact_rbf_kcca_matches_dual_eigenproblem(mfeat_split):
    """Independent dual form (Hardoon et al. 2004): centered K, α-space generalized problem."""
    from sklearn.metrics.pairwise import rbf_kernel

    train, _, _ = mfeat_split
    X1, X2 = train[0][:120], train[2][:120]
    n, eps, k = len(X1), 0.1, 4
    model = KCCA(k, reg=eps, kernel="rbf", n_landmarks=None).fit([X1, X2])
    H = np.eye(n) - 1.0 / n
    K1 = H @ rbf_kernel(X1, gamma=model.gammas_[0]) @ H
    K2 = H @ rbf_kernel(X2, gamma=model.gammas_[1]) @ H
    # max α1ᵀK1K2α2/(n-1) s.t. αᵢᵀ(Kᵢ²/(n-1) + εKᵢ)αᵢ = 1, as one symmetric-definite problem
    Z = np.zeros((n, n))
    A = np.block([[Z, K1 @ K2], [K2 @ K1, Z]]) / (n - 1)
    B = np.block([[K1 @ K1 / (n - 1) + eps * K1, Z], [Z, K2 @ K2 / (n - 1) + eps * K2]])
    B += 1e-9 * np.eye(2 * n)  # the centered kernels are singular along the constant
    rho = scipy.linalg.eigh(A, B, eigvals_only=True)[::-1][:k]
    np.testing.assert_allclose(model.objective_, rho, atol=1e-6)


def test_kcca_beats_linear_cca_on_mnist_halves(mnist_split):
    """Acceptance: 4,000 training samples, test sum of the top 50 ≥ linear CCA's."""
    train, test, *_ = mnist_split
    linear = CCA(50, reg=EPS).fit(train).score(test)
    kernel = KCCA(50, reg=EPS, n_landmarks=1000).fit(train)
    assert kernel.landmarks_[0].shape == (1000, 392)
    assert kernel.score(test) >= linear


def test_kcca_poly_kernel_and_bad_kernel(mfeat_split):
    train, test, _ = mfeat_split
    tr = [train[0][:200], train[2][:200]]
    model = KCCA(3, kernel="poly", degree=2, reg=0.1).fit(tr)
    assert np.isfinite(model.transform([test[0], test[2]])[0]).all()
    with pytest.raises(ValueError, match="'kernel' parameter of KCCA .*Got 'cosine'"):
        KCCA(3, kernel="cosine").fit(tr)


@pytest.mark.parametrize("offset", [0.0, 1e6], ids=["uncentered-products", "large-offset"])
def test_covariance_accumulator_matches_numpy(offset, rng):
    """Chunked covariance equals np.cov, also where a huge mean forces centering first."""
    from jointspace.models.linear.solvers import CovarianceAccumulator

    X1 = rng.normal(size=(1000, 7)) + offset
    X2 = rng.normal(size=(1000, 3)) @ rng.normal(size=(3, 3)) - offset
    acc = CovarianceAccumulator([7, 3])
    for chunk in np.array_split(np.arange(1000), 7):
        acc.update([X1[chunk], X2[chunk]])
    ref = np.cov(np.hstack([X1, X2]).T)
    np.testing.assert_allclose(acc.covariance(), ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.concatenate(acc.means()), np.hstack([X1, X2]).mean(0), rtol=1e-12)
