"""CCA, PLS, MCCA and GCCA: closed-form linear models fitted from the joint covariance."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from jointspace.models.base import JointModel
from jointspace.models.checks import per_view
from jointspace.models.constraints import PER_VIEW_RIDGE, POSITIVE_INT
from jointspace.models.linear import solvers
from jointspace.models.linear.solvers import CovarianceAccumulator, Solution
from jointspace.models.missing_views import MISSING_CONSTRAINT

#: rows per chunk when ``fit`` accumulates the covariance (bounds the working memory)
FIT_CHUNK_ROWS = 16_384


#: attributes derived from the running statistics; after ``partial_fit`` they are solved
#: again on first use
_SOLVED = ("weights_", "objective_", "canonical_correlations_", "means_", "n_components_")


class _CovarianceModel(JointModel):
    """A linear model solved from the joint covariance: fit at once or by ``partial_fit``.

    Fitted attributes (besides JointModel's): ``weights_`` (list of (d_i, k)),
    ``means_`` (list of (d_i,)), ``objective_`` ((k,), the solver's value per component),
    ``n_samples_seen_``, and the running statistics ``joint_mean_`` (D,) and
    ``joint_scatter_`` (D, D) from which ``partial_fit`` continues (also after ``load``).
    """

    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        acc = CovarianceAccumulator([a.shape[1] for a in arrays])
        for start in range(0, len(arrays[0]), FIT_CHUNK_ROWS):
            acc.update([a[start : start + FIT_CHUNK_ROWS] for a in arrays])
        self._keep_statistics(acc)
        self._solve(acc)

    def partial_fit(self, views: Any, y: Any = None) -> _CovarianceModel:
        """Add a chunk of rows to the running covariance (streaming).

        Calling ``partial_fit`` on chunks that together hold the rows of ``X`` gives the
        same model as ``fit(X)`` (to rounding). Each call costs O(m·D²) for m rows
        (D = Σ d_i) and memory O(D²), whatever the total n; the model itself is
        solved again on first use (``transform``, ``weights_``, ``save``, …), not per chunk.

        Args:
            views: a chunk, same form as for ``fit``; after the first call the view names
                and feature counts must match.
        Returns:
            self.
        """
        first = "joint_scatter_" not in self.__dict__
        if first:
            self._validate_params()
        mv, arrays = self._validate_views(views, fitting=first)
        if self.missing_strategy != "drop":
            raise ValueError(f"partial_fit trains on the complete rows of each chunk; "
                             f"missing={self.missing!r} needs fit")
        arrays = self._complete_rows(mv, arrays)
        dims = [a.shape[1] for a in arrays]
        if first:
            self._check_n_components(dims, mv.view_names, n_rows=np.iinfo(np.int64).max)
            acc = CovarianceAccumulator(dims)
        else:
            acc = self._statistics()
        acc.update(arrays)
        self._keep_statistics(acc)
        for name in _SOLVED:
            self.__dict__.pop(name, None)
        self._set_view_info(mv.view_names, dims)
        return self

    def fit_statistics(self, statistics: CovarianceAccumulator,
                       view_names: Sequence[str]) -> _CovarianceModel:
        """Solve the model from running statistics gathered elsewhere (e.g. per-block
        :class:`~jointspace.models.linear.solvers.CovarianceAccumulator` s merged on a
        driver, :mod:`jointspace.scale.ray_fit`): the same model as ``fit`` on those rows.

        Args:
            statistics: the accumulated complete rows of every view.
            view_names: the views' names, in the accumulator's order.
        Returns:
            self (``partial_fit`` may continue from it).
        """
        self._validate_params()
        names, dims = list(view_names), list(statistics.dims)
        if len(names) != len(dims) or len(set(names)) != len(names):
            raise ValueError(f"view_names {names} for statistics of {len(dims)} views; "
                             "expected one distinct name per view")
        if self.missing_strategy != "drop":
            raise ValueError(f"statistics hold complete rows; missing={self.missing!r} "
                             "needs fit")
        self._check_n_components(dims, names, n_rows=statistics.n)
        self._keep_statistics(statistics)
        for name in _SOLVED:
            self.__dict__.pop(name, None)
        self._set_view_info(names, dims)
        self.imputer_ = None
        self._solve(statistics)
        return self

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: solve a model left pending by partial_fit.
        if name in _SOLVED and "joint_scatter_" in self.__dict__:
            self._solve(self._statistics())
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _keep_statistics(self, acc: CovarianceAccumulator) -> None:
        self.n_samples_seen_ = acc.n
        self.joint_mean_, self.joint_scatter_ = acc.mean, acc.scatter

    def _statistics(self) -> CovarianceAccumulator:
        """An accumulator holding the saved running statistics (after load, or clone)."""
        acc = CovarianceAccumulator(self.n_features_)
        acc.n, acc.mean, acc.scatter = self.n_samples_seen_, self.joint_mean_, self.joint_scatter_
        return acc

    def _solve(self, acc: CovarianceAccumulator) -> None:
        if acc.n - 1 < self.n_components:
            raise ValueError(
                f"n_components={self.n_components} needs more than {acc.n} complete samples"
            )
        cov, dims = acc.covariance(), acc.dims
        solution = self._solve_covariance(cov, dims)
        self.weights_ = solvers.fix_signs(solution.weights)
        self.objective_ = solution.objective
        self.canonical_correlations_ = solvers.correlations_from_cov(cov, dims, self.weights_)
        self.means_ = acc.means()
        self.n_components_ = self.weights_[0].shape[1]

    @abstractmethod
    def _solve_covariance(self, cov: np.ndarray, dims: list[int]) -> Solution:
        """Weights and objective from the (D, D) covariance and per-view dims."""

    def _fitted_state(self) -> dict[str, Any]:
        self.weights_  # noqa: B018 - solves a model left pending by partial_fit
        return super()._fitted_state()

    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        return (X - self.means_[i]) @ self.weights_[i]


class CCA(_CovarianceModel):
    """Canonical correlation analysis of two views, with a ridge per view.

    Maximizes corr(X1 w1, X2 w2) component by component, under the constraint
    w_iᵀ(Σ_ii + ε_i I)w_i = 1: the ridge ε_i is on the covariance scale. ``reg=0`` is
    classical CCA (Hotelling 1936); a singular covariance is then pseudo-inverted.

    Args:
        n_components: k, number of canonical pairs (≤ the smallest view's d_i).
        reg: ε, a float or one per view.
        missing: views that samples lack, at fit and at query time: "drop", "zero",
            "mean" or "model" (see :mod:`jointspace.models.missing_views`); None: "drop".

    Fitted attributes: ``weights_`` ([(d1, k), (d2, k)]), ``means_``,
    ``objective_`` ((k,) regularized canonical correlations, descending),
    ``canonical_correlations_`` ((k,) correlation of the training scores).

    Example:
        >>> model = CCA(n_components=10, reg=1e-3).fit([X_left, X_right])
        >>> Z_left, Z_right = model.transform([X_left, X_right])   # each (n, 10)
    """

    max_views: ClassVar[int | None] = 2
    _parameter_constraints: ClassVar[dict] = {
        "n_components": [POSITIVE_INT], "reg": PER_VIEW_RIDGE, "missing": MISSING_CONSTRAINT}

    def __init__(self, n_components: int = 2, reg: float | Sequence[float] = 0.0, *,
                 missing: str | None = None):
        self.n_components = n_components
        self.reg = reg
        self.missing = missing

    def _solve_covariance(self, cov: np.ndarray, dims: list[int]) -> Solution:
        return solvers.solve_cca(cov, dims, per_view("reg", self.reg, 2), self.n_components)


class PLS(_CovarianceModel):
    """Partial least squares (PLS-SVD) of two views: max cov(X1 w1, X2 w2), ‖w_i‖ = 1.

    The truncated SVD of the cross-covariance Σ12; ``objective_`` holds the covariance of
    each pair of scores, descending.

    Args:
        n_components: k (≤ the smallest view's d_i).
        missing: views that samples lack, at fit and at query time: "drop", "zero",
            "mean" or "model" (see :mod:`jointspace.models.missing_views`); None: "drop".
    """

    max_views: ClassVar[int | None] = 2
    _parameter_constraints: ClassVar[dict] = {"n_components": [POSITIVE_INT],
                                              "missing": MISSING_CONSTRAINT}

    def __init__(self, n_components: int = 2, *, missing: str | None = None):
        self.n_components = n_components
        self.missing = missing

    def _solve_covariance(self, cov: np.ndarray, dims: list[int]) -> Solution:
        return solvers.solve_pls(cov, dims, self.n_components)


class MCCA(_CovarianceModel):
    """Multiset CCA for two or more views (Kettenring 1971, SUMCOR with ridge).

    Maximizes Σ_{i≠j} w_iᵀΣ_ij w_j subject to (1/m) Σ_i w_iᵀ(Σ_ii + ε_i I)w_i = 1 for m
    views, solved as a generalized eigenproblem. With two views it is :class:`CCA`, weights
    included (each view's scores have unit variance, as in CCA).

    Args:
        n_components: k (≤ the smallest view's d_i).
        reg: ε, a float or one per view.
        missing: views that samples lack, at fit and at query time: "drop", "zero",
            "mean" or "model" (see :mod:`jointspace.models.missing_views`); None: "drop".
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [POSITIVE_INT], "reg": PER_VIEW_RIDGE, "missing": MISSING_CONSTRAINT}

    def __init__(self, n_components: int = 2, reg: float | Sequence[float] = 0.0, *,
                 missing: str | None = None):
        self.n_components = n_components
        self.reg = reg
        self.missing = missing

    def _solve_covariance(self, cov: np.ndarray, dims: list[int]) -> Solution:
        reg = per_view("reg", self.reg, len(dims))
        return solvers.solve_mcca(cov, dims, reg, self.n_components)


class GCCA(_CovarianceModel):
    """Generalized CCA for two or more views (Carroll 1968, MAXVAR with ridge).

    Finds a shared unit-variance latent T (n × k) and per-view weights minimizing
    Σ_i ‖X_i w_i − T‖², each w_i a ridge regression (Σ_ii + ε_i I) of T on its view.
    ``objective_`` holds the eigenvalues of the summed projection onto the views.

    Args:
        n_components: k (≤ the smallest view's d_i).
        reg: ε, a float or one per view.
        missing: views that samples lack, at fit and at query time: "drop", "zero",
            "mean" or "model" (see :mod:`jointspace.models.missing_views`); None: "drop".
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [POSITIVE_INT], "reg": PER_VIEW_RIDGE, "missing": MISSING_CONSTRAINT}

    def __init__(self, n_components: int = 2, reg: float | Sequence[float] = 0.0, *,
                 missing: str | None = None):
        self.n_components = n_components
        self.reg = reg
        self.missing = missing

    def _solve_covariance(self, cov: np.ndarray, dims: list[int]) -> Solution:
        reg = per_view("reg", self.reg, len(dims))
        return solvers.solve_gcca(cov, dims, reg, self.n_components)
