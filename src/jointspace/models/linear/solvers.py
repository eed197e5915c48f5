"""Closed-form solvers for the linear correlation family, all from one joint covariance.

Every two- and multi-view linear model here (CCA, PLS, MCCA, GCCA) is a function of the
joint covariance matrix Σ of the stacked views and of a ridge ε_i per view. The
covariance is accumulated in chunks (:class:`CovarianceAccumulator`), so fitting on all
rows at once and streaming them through ``partial_fit`` give the same model.

Notation: view i has d_i features; Σ_ij (d_i × d_j) is a block of Σ (D × D, D = Σ d_i);
C_i = Σ_ii + ε_i I is the ridge-regularized within-view covariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: eigenvalues below this fraction of the largest are treated as zero (rank truncation)
RANK_TOL = 1e-12


#: a chunk's uncentered products are used when every feature's mean² / variance is below
#: this (rounding then costs at most ~1e-10 relative); otherwise the chunk is centered first
MAX_MEAN_TO_VARIANCE = 1e6


class CovarianceAccumulator:
    """Running mean and scatter matrix of the stacked views, merged chunk by chunk.

    Each chunk's scatter comes from the per-block products X_iᵀX_j of the views as given
    (no stacked or centered copy: the cost is the n·D² flops of the products themselves),
    minus m·μμᵀ. Where a feature's mean is so large against its spread that this
    subtraction would lose precision, the chunk is centered first instead. Chunks are
    merged with the pairwise update of Chan, Golub & LeVeque (1979), so the result does not
    depend on the chunking (up to rounding). Memory is O(D²), independent of n.

    Args:
        dims: feature count d_i of each view.
    """

    def __init__(self, dims: list[int]):
        self.dims = list(dims)
        total = sum(self.dims)
        self.n = 0
        self.mean = np.zeros(total)
        self.scatter = np.zeros((total, total))

    def update(self, arrays: list[np.ndarray]) -> None:
        """Add a chunk: one (m, d_i) float array per view, m ≥ 1 rows."""
        m = arrays[0].shape[0]
        if m == 0:
            return
        ones = np.ones(m)
        chunk_mean = np.concatenate([ones @ a for a in arrays]) / m
        scatter = self._block_products(arrays)
        scatter -= np.outer(chunk_mean * m, chunk_mean)
        variance = np.diag(scatter) / m
        if np.any(chunk_mean**2 > MAX_MEAN_TO_VARIANCE * np.maximum(variance, 0.0)):
            centered = [a - mu for a, mu in zip(arrays, self._split(chunk_mean))]
            scatter = self._block_products(centered)
        self._combine(m, chunk_mean, scatter)

    def merge(self, other: CovarianceAccumulator) -> CovarianceAccumulator:
        """Add another accumulator's rows (e.g. one block's statistics computed on a
        worker): the result equals one accumulator fed both sets of rows (to rounding).

        Raises:
            ValueError: the other accumulator has different view widths.
        """
        if other.dims != self.dims:
            raise ValueError(f"cannot merge statistics of views {other.dims} into {self.dims}")
        if other.n:
            self._combine(other.n, other.mean.copy(), other.scatter.copy())
        return self

    def _combine(self, m: int, mean: np.ndarray, scatter: np.ndarray) -> None:
        """Merge m rows' mean and scatter (Chan, Golub & LeVeque's pairwise update)."""
        if self.n == 0:
            self.scatter, self.mean = scatter, mean
        else:
            n_total = self.n + m
            delta = mean - self.mean
            self.scatter += scatter
            self.scatter += np.outer(delta, delta * (self.n * m / n_total))
            self.mean += delta * (m / n_total)
        self.n += m

    def _block_products(self, arrays: list[np.ndarray]) -> np.ndarray:
        """(D, D) matrix of the blocks X_iᵀX_j (numpy runs X_iᵀX_i as a syrk)."""
        out = np.empty((len(self.mean), len(self.mean)))
        sl = block_slices(self.dims)
        for i, a in enumerate(arrays):
            for j in range(i, len(arrays)):
                out[sl[i], sl[j]] = a.T @ arrays[j]
                if j != i:
                    out[sl[j], sl[i]] = out[sl[i], sl[j]].T
        return out

    def _split(self, joint: np.ndarray) -> list[np.ndarray]:
        return [joint[s] for s in block_slices(self.dims)]

    def covariance(self) -> np.ndarray:
        """The (D, D) sample covariance (divisor n − 1)."""
        if self.n < 2:
            raise ValueError(f"covariance needs at least 2 samples, got {self.n}")
        return self.scatter / (self.n - 1)

    def means(self) -> list[np.ndarray]:
        """Per-view means, each (d_i,)."""
        return [mu.copy() for mu in self._split(self.mean)]


def block_slices(dims: list[int]) -> list[slice]:
    """Slices of the stacked feature axis that belong to each view."""
    edges = np.cumsum([0, *dims])
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def inv_sqrt(C: np.ndarray) -> np.ndarray:
    """C^{-1/2} of a symmetric PSD (d, d) matrix, as a (d, r) factor F with F Fᵀ = C⁺.

    Directions with eigenvalue ≤ RANK_TOL × the largest are dropped (r ≤ d), so a
    singular covariance (an always-zero pixel, with ε = 0) is handled as a pseudo-inverse.
    Returns F = V Λ^{-1/2} on the kept eigenvectors V, so that Fᵀ C F = I_r.
    """
    lam, V = np.linalg.eigh(C)
    keep = lam > RANK_TOL * max(lam[-1], np.finfo(float).tiny)
    return np.ascontiguousarray(V[:, keep] / np.sqrt(lam[keep]))


def whitener(cov_block: np.ndarray, ridge: float) -> np.ndarray:
    """A (d, r) factor F with Fᵀ (Σ_ii + εI) F = I_r and F Fᵀ = (Σ_ii + εI)⁺.

    With a ridge that keeps the matrix well conditioned (trace / ε < 1 / RANK_TOL) this is
    the inverse Cholesky factor L^{-T} (about 10× cheaper than an eigendecomposition);
    otherwise the rank-truncated :func:`scaled_inv_sqrt`. Any such F gives the same model: the
    solvers only use F through F Fᵀ and the rotation-invariant whitened problem.
    """
    C = cov_block + ridge * np.eye(len(cov_block))
    if ridge > 0 and np.trace(C) / ridge < 1.0 / RANK_TOL:
        try:
            return np.ascontiguousarray(np.linalg.inv(np.linalg.cholesky(C)).T)
        except np.linalg.LinAlgError:
            pass
    return scaled_inv_sqrt(C)


def scaled_inv_sqrt(C: np.ndarray) -> np.ndarray:
    """:func:`inv_sqrt` with the rank cutoff relative to each feature's own scale.

    The cutoff is applied to the correlation matrix D^{-1/2} C D^{-1/2} (D = diag C), so a
    feature measured in other units (× 1e-6) is kept as a feature of unit scale is, and only
    true collinearity or constant features are dropped. Returns F = D^{-1/2} V Λ^{-1/2}
    from that matrix's kept eigenpairs: (d, r) with Fᵀ C F = I_r.
    """
    scale = np.sqrt(np.diag(C))
    scale[~(scale > 0)] = 1.0  # a constant feature: its row and column are zero anyway
    F = inv_sqrt(C / np.outer(scale, scale))
    return np.ascontiguousarray(F / scale[:, None])


@dataclass
class Solution:
    """Weights per view ((d_i, k) each) and the objective value per component ((k,))."""

    weights: list[np.ndarray]
    objective: np.ndarray


def _whiteners(cov: np.ndarray, dims: list[int], reg: list[float]) -> list[np.ndarray]:
    """The whitening factor F_i of every view (see :func:`whitener`)."""
    return [whitener(cov[s, s], r) for s, r in zip(block_slices(dims), reg)]


def solve_cca(cov: np.ndarray, dims: list[int], reg: list[float], k: int) -> Solution:
    """Two-view ridge CCA: max w1ᵀΣ12w2 s.t. w_iᵀ(Σ_ii + ε_i I)w_i = 1.

    Solved by whitening, F_i = C_i^{-1/2}, and the SVD F1ᵀ Σ12 F2 = U S Vᵀ:
    w1 = F1 U, w2 = F2 V; the objective is the canonical correlation s_j.
    """
    s1, s2 = block_slices(dims)
    F1, F2 = _whiteners(cov, dims, reg)
    U, s, Vt = np.linalg.svd(F1.T @ cov[s1, s2] @ F2, full_matrices=False)
    return Solution([F1 @ U[:, :k], F2 @ Vt[:k].T], s[:k])


def solve_pls(cov: np.ndarray, dims: list[int], k: int) -> Solution:
    """Two-view PLS: max w1ᵀΣ12w2 s.t. ‖w_i‖ = 1, the truncated SVD of Σ12.

    The objective is the covariance of each pair of scores.
    """
    s1, s2 = block_slices(dims)
    U, s, Vt = np.linalg.svd(cov[s1, s2], full_matrices=False)
    return Solution([U[:, :k], Vt[:k].T], s[:k])


def solve_mcca(cov: np.ndarray, dims: list[int], reg: list[float], k: int) -> Solution:
    """Multiset CCA (SUMCOR relaxation): A v = λ B v.

    A holds the between-view blocks Σ_ij (i ≠ j, zero diagonal blocks) and B the
    block-diagonal C_i = Σ_ii + ε_i I. With F = blockdiag(C_i^{-1/2}) the problem is the
    symmetric eigenproblem Fᵀ A F u = λ u, v = F u. The weights are scaled to
    (1/m) vᵀ B v = 1 for m views (cca-zoo's convention), so that with two views they are
    CCA's (w_iᵀC_iw_i = 1) and the top λ the canonical correlations.
    """
    sl = block_slices(dims)
    factors = _whiteners(cov, dims, reg)
    ranks = block_slices([f.shape[1] for f in factors])
    M = np.zeros((ranks[-1].stop, ranks[-1].stop))
    for i, (si, ri, Fi) in enumerate(zip(sl, ranks, factors)):
        for j, (sj, rj, Fj) in enumerate(zip(sl, ranks, factors)):
            if i < j:
                M[ri, rj] = Fi.T @ cov[si, sj] @ Fj
                M[rj, ri] = M[ri, rj].T
    lam, U = np.linalg.eigh(M)
    lam, U = lam[::-1][:k], U[:, ::-1][:, :k] * np.sqrt(len(dims))
    return Solution([F @ U[r] for F, r in zip(factors, ranks)], lam)


def solve_gcca(cov: np.ndarray, dims: list[int], reg: list[float], k: int) -> Solution:
    """Generalized CCA (Carroll 1968): a shared latent T that every view regresses onto.

    T holds the top eigenvectors of Σ_i X_i C_i^{-1} X_iᵀ (n × n). Its nonzero spectrum
    is that of M = Fᵀ Σ F (D × D, F = blockdiag(C_i^{-1/2})), so the model needs only the
    covariance: with M V = V μ, each view's weights are its ridge regression onto the
    unit-variance latent, w_i = C_i^{-1} [Σ F V]_i μ^{-1/2}.
    """
    sl = block_slices(dims)
    factors = _whiteners(cov, dims, reg)
    SF = np.hstack([cov[:, s] @ F for s, F in zip(sl, factors)])  # Σ F, (D, R)
    M = np.vstack([F.T @ SF[s] for s, F in zip(sl, factors)])  # Fᵀ Σ F, (R, R)
    mu, V = np.linalg.eigh((M + M.T) / 2)
    mu, V = mu[::-1][:k], V[:, ::-1][:, :k]
    proj = SF @ V / np.sqrt(np.maximum(mu, np.finfo(float).tiny))  # (D, k)
    weights = [F @ (F.T @ proj[s]) for s, F in zip(sl, factors)]
    return Solution(weights, mu)


def correlations_from_cov(
    cov: np.ndarray, dims: list[int], weights: list[np.ndarray]
) -> np.ndarray:
    """Per-component correlation of the scores X_i w_i, averaged over view pairs, (k,).

    Computed from the covariance alone: w_iᵀΣ_ij w_j / sqrt(w_iᵀΣ_ii w_i · w_jᵀΣ_jj w_j).
    """
    sl = block_slices(dims)
    var = [np.sum((cov[s, s] @ w) * w, axis=0) for s, w in zip(sl, weights)]
    total = np.zeros(weights[0].shape[1])
    pairs = 0
    for i in range(len(dims)):
        for j in range(i + 1, len(dims)):
            c = np.sum((cov[sl[i], sl[j]] @ weights[j]) * weights[i], axis=0)
            denom = np.sqrt(var[i] * var[j])
            total += np.divide(c, denom, out=np.zeros_like(c), where=denom > 0)
            pairs += 1
    return total / pairs


def fix_signs(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Flip each component so that the largest-magnitude weight of view 0 is positive.

    Eigen/SVD solvers return components up to sign; this makes the model deterministic.
    """
    w0 = weights[0]
    idx = np.argmax(np.abs(w0), axis=0)
    signs = np.sign(w0[idx, np.arange(w0.shape[1])])
    signs[signs == 0] = 1.0
    return [w * signs for w in weights]
