"""Kernel CCA: exact for small n, Nyström-approximated so that it scales."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.metrics.pairwise import linear_kernel, polynomial_kernel, rbf_kernel
from sklearn.utils._param_validation import Interval, StrOptions

from jointspace.models.base import JointModel
from jointspace.models.checks import per_view
from jointspace.models.constraints import PER_VIEW_RIDGE, POSITIVE, POSITIVE_INT, SEED
from jointspace.models.linear import solvers
from jointspace.models.linear.solvers import CovarianceAccumulator
from jointspace.models.missing_views import MISSING_CONSTRAINT

KERNELS = ("rbf", "poly", "linear")
#: with ``n_landmarks="auto"``, fits on at most this many samples are exact
AUTO_EXACT_MAX = 1000


class KCCA(JointModel):
    """Kernel canonical correlation analysis (Bach & Jordan 2002; Hardoon et al. 2004).

    Each view is mapped to kernel features φ(x) = k(x, L) K_LL^{-1/2} on landmarks L, and
    ridge CCA is solved on those features (two views), or multiset CCA (:class:`MCCA`'s
    problem, for three or more views). With all training samples as landmarks this is
    exact regularized KCCA: the feature covariance is the centered kernel matrix / (n − 1)
    and the ridge εI on it is the RKHS-norm penalty α_iᵀ(K_i²/(n−1) + ε K_i)α_i = 1. With
    m < n random landmarks it is the Nyström approximation (cost O(n m² + m³)).

    Args:
        n_components: k, number of canonical pairs.
        reg: ε on the kernel-feature covariance scale, a float or one per view.
        kernel: "rbf", "poly" or "linear".
        gamma: kernel width (rbf, poly); None uses 1 / (d · Var(X)) per view.
        degree, coef0: polynomial kernel (gamma x·y + coef0)^degree.
        n_landmarks: number m of Nyström landmarks; None for exact (m = n); "auto" is exact
            up to 1,000 samples and 1,000 landmarks beyond.
        random_state: seed of the landmark choice.
        missing: views that samples lack, at fit and at query time: "drop", "zero",
            "mean" or "model" (see :mod:`jointspace.models.missing_views`); None: "drop".

    Fitted attributes: ``landmarks_`` (list of (m, d_i)), ``feature_maps_`` (list of
    (m, r_i), K_LL^{-1/2}), ``gammas_``, ``weights_`` (list of (r_i, k)), ``means_``,
    ``objective_``, ``canonical_correlations_`` ((k,) on the training set).
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [POSITIVE_INT],
        "reg": PER_VIEW_RIDGE,
        "kernel": [StrOptions(set(KERNELS))],
        "gamma": [POSITIVE, None],
        "degree": [POSITIVE_INT],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "n_landmarks": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "random_state": SEED,
        "missing": MISSING_CONSTRAINT,
    }

    def __init__(
        self,
        n_components: int = 2,
        reg: float | Sequence[float] = 1e-3,
        kernel: str = "rbf",
        gamma: float | None = None,
        degree: int = 3,
        coef0: float = 1.0,
        n_landmarks: int | str | None = "auto",
        random_state: int | None = 0,
        missing: str | None = None,
    ):
        self.n_components = n_components
        self.reg = reg
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.n_landmarks = n_landmarks
        self.random_state = random_state
        self.missing = missing

    def _n_landmarks(self, n: int) -> int:
        m = self.n_landmarks
        if m is None:
            return n
        if m == "auto":
            return n if n <= AUTO_EXACT_MAX else AUTO_EXACT_MAX
        if not isinstance(m, int | np.integer) or m < 1:
            raise ValueError(f"n_landmarks={m!r}; expected a positive integer, None or 'auto'")
        return min(int(m), n)

    def _check_kernel_params(self) -> None:
        """Validate every kernel parameter, whichever kernel uses it (names it)."""
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel={self.kernel!r}; expected one of {', '.join(KERNELS)}")
        g = self.gamma
        if g is not None and (isinstance(g, bool) or not isinstance(g, int | float | np.number)
                              or not np.isfinite(g) or g <= 0):
            raise ValueError(f"gamma={g!r}; expected a positive number or None")
        d = self.degree
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
            raise ValueError(f"degree={d!r}; expected an integer ≥ 1")
        c = self.coef0
        if isinstance(c, bool) or not isinstance(c, int | float | np.number) or not np.isfinite(c):
            raise ValueError(f"coef0={c!r}; expected a finite number")

    def _kernel(self, i: int, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        if self.kernel == "rbf":
            return rbf_kernel(X, Y, gamma=self.gammas_[i])
        if self.kernel == "poly":
            return polynomial_kernel(
                X, Y, degree=self.degree, gamma=self.gammas_[i], coef0=self.coef0
            )
        return linear_kernel(X, Y)

    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        self._check_kernel_params()
        # linear and polynomial kernels see centred inputs (an offset of 1e6 would otherwise
        # swamp the kernel in rounding), as cca-zoo does; rbf is translation-invariant
        self.input_means_ = [a.mean(axis=0) if self.kernel != "rbf" else np.zeros(a.shape[1])
                             for a in arrays]
        arrays = [a - mu for a, mu in zip(arrays, self.input_means_)]
        n = len(arrays[0])
        m = self._n_landmarks(n)
        rng = np.random.default_rng(self.random_state)
        idx = np.arange(n) if m == n else np.sort(rng.choice(n, size=m, replace=False))
        if self.gamma is None:
            self.gammas_ = [
                float(1.0 / (a.shape[1] * max(a.var(), np.finfo(float).tiny))) for a in arrays
            ]
        else:
            self.gammas_ = [float(self.gamma)] * len(arrays)
        self.landmarks_ = [a[idx].copy() for a in arrays]
        self.feature_maps_ = [
            solvers.inv_sqrt(self._kernel(i, L, L)) for i, L in enumerate(self.landmarks_)
        ]
        feats = [self._features(i, a) for i, a in enumerate(arrays)]
        acc = CovarianceAccumulator([f.shape[1] for f in feats])
        acc.update(feats)
        cov, dims = acc.covariance(), acc.dims
        k = min(self.n_components, *dims)
        reg = per_view("reg", self.reg, len(dims))
        solve = solvers.solve_cca if len(dims) == 2 else solvers.solve_mcca
        solution = solve(cov, dims, reg, k)
        self.weights_ = solvers.fix_signs(solution.weights)
        self.objective_ = solution.objective
        self.canonical_correlations_ = solvers.correlations_from_cov(cov, dims, self.weights_)
        self.means_ = acc.means()
        self.n_components_ = k

    def _features(self, i: int, X: np.ndarray, centred: bool = True) -> np.ndarray:
        """(m_rows, r_i) kernel features of view i: k(X − μ_i, L_i) K_LL^{-1/2} (``centred``:
        X is already centred, as during fit)."""
        means = getattr(self, "input_means_", None)  # models saved before centring: none
        if not centred and means is not None:
            X = X - means[i]
        return self._kernel(i, X, self.landmarks_[i]) @ self.feature_maps_[i]

    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        return (self._features(i, X, centred=False) - self.means_[i]) @ self.weights_[i]
