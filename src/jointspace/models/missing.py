"""Missing views: strategies that let a model which needs every view use samples that lack
some, at fit time and at query time.

A MultiView marks a missing view with its mask; a model that trains on complete rows only
drops the rest. :class:`ViewImputer` offers the other strategies the field uses: fill with
zeros, with the view's training mean, or with a prediction from the views the sample has.
Whatever a missing view's slot holds (NaN, garbage) is never read.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import StrOptions

from jointspace.data.multiview import MultiView, as_multiview
from jointspace.models.constraints import NON_NEGATIVE

#: the strategies, in the order of the docs
STRATEGIES = ("drop", "zero", "mean", "model")


class ViewImputer(BaseEstimator):
    """Fill the views that samples lack (scikit-learn transformer over MultiViews).

    Args:
        strategy: "drop" (keep the samples that have every view), "zero" (zeros), "mean"
            (the view's mean over the training samples that have it) or "model" (a ridge
            regression onto the view from each other view, fitted on the training samples
            that have both; a sample's fill is the mean of the predictions from the views
            it has, or the view's mean when none of them predicts it).
        reg: ridge of the "model" regressions, on the scale of the (standardized) inputs:
            the penalty is ``reg · n`` on coefficients of unit-variance features. The
            default is the measured best on uci-mfeat (30 % of one view removed, filled from
            the other five): squared error 0.28–0.55 of the mean fill's at 1e-3, against
            0.41–0.64 at 1.

    Fitted attributes: ``view_names_``, ``means_`` ((d_j,) per view), ``regressors_``
    (("model") dict (i, j) → (coefficients (d_i, d_j), input mean (d_i,), input scale
    (d_i,), target mean (d_j,)) for every pair observed together in training).

    Example:
        >>> filled = ViewImputer("model").fit(train).transform(queries)   # every view present
        >>> Z = CCA(10).fit(ViewImputer("mean").fit_transform(train)).transform(filled)
    """

    _parameter_constraints: ClassVar[dict] = {
        "strategy": [StrOptions(set(STRATEGIES))],
        "reg": [NON_NEGATIVE],
    }

    def __init__(self, strategy: str = "mean", reg: float = 1e-3):
        self.strategy = strategy
        self.reg = reg

    def fit(self, views: Any, y: Any = None) -> ViewImputer:
        """Learn each view's mean (and, for "model", the regressions) from ``views``.

        Args:
            views: MultiView, dict or list of numeric (n, d_j) arrays, with a mask.
        Returns:
            self.
        """
        self._validate_params()
        mv = as_multiview(views)
        arrays = _numeric_arrays(mv)
        self.view_names_ = list(mv.view_names)
        self.means_ = []
        for name, a, seen in zip(mv.view_names, arrays, mv.mask.T):
            if not seen.any():
                raise ValueError(f"view {name!r} is missing in every training sample; "
                                 "nothing to learn a fill from")
            self.means_.append(a[seen].mean(axis=0))
        self.regressors_ = {}
        if self.strategy == "model":
            for i, (x, seen_i) in enumerate(zip(arrays, mv.mask.T)):
                for j, (t, seen_j) in enumerate(zip(arrays, mv.mask.T)):
                    both = seen_i & seen_j
                    if i != j and both.sum() >= 2:
                        self.regressors_[(i, j)] = _ridge(x[both], t[both], self.reg)
        return self

    def transform(self, views: Any) -> MultiView:
        """``views`` with every missing view filled (or, for "drop", the complete samples).

        Args:
            views: same view names as in ``fit``.
        Returns:
            a MultiView whose mask is all True (labels, groups and ids kept).
        """
        if not hasattr(self, "view_names_"):
            raise NotFittedError("this ViewImputer is not fitted yet; call fit first")
        mv = as_multiview(views, names=self.view_names_)
        if mv.view_names != self.view_names_:
            raise ValueError(f"views are {mv.view_names}; this imputer was fitted on "
                             f"{self.view_names_}")
        if self.strategy == "drop":
            return mv.subset(mv.complete_rows())
        arrays = _numeric_arrays(mv)
        filled = {}
        for j, (name, a) in enumerate(zip(mv.view_names, arrays)):
            missing = ~mv.mask[:, j]
            if len(self.means_[j]) != a.shape[1]:
                raise ValueError(f"view {name!r} has {a.shape[1]} features; expected "
                                 f"{len(self.means_[j])}")
            out = a.copy()
            if missing.any():
                out[missing] = self._fill(j, missing, arrays, mv.mask)
            filled[name] = out
        return MultiView(filled, labels=mv.labels, groups=mv.groups, ids=mv.ids,
                         meta=dict(mv.meta))

    def fit_transform(self, views: Any, y: Any = None) -> MultiView:
        """``fit(views).transform(views)``."""
        return self.fit(views).transform(views)

    def _fill(self, j: int, rows: np.ndarray, arrays: list[np.ndarray],
              mask: np.ndarray) -> np.ndarray:
        """(r, d_j) values for view j on the ``rows`` (bool) that lack it."""
        if self.strategy == "zero":
            return np.zeros((int(rows.sum()), len(self.means_[j])))
        total = np.zeros((int(rows.sum()), len(self.means_[j])))
        count = np.zeros(int(rows.sum()))
        for (i, target), (coef, mu, scale, offset) in self.regressors_.items():
            if target != j:
                continue
            has_i = mask[rows, i]
            if has_i.any():
                x = arrays[i][rows][has_i]
                total[has_i] += ((x - mu) / scale) @ coef + offset
                count[has_i] += 1
        total[count == 0] = self.means_[j]
        return total / np.maximum(count, 1)[:, None]


def _numeric_arrays(mv: MultiView) -> list[np.ndarray]:
    """Float arrays of every view; a missing view's slots are zeroed, never read."""
    out = []
    for name, seen in zip(mv.view_names, mv.mask.T):
        if not mv.is_numeric(name):
            raise ValueError(f"view {name!r} holds raw items; encode it to numbers before "
                             "imputing")
        a = np.asarray(mv[name], dtype=np.float64)
        out.append(np.where(seen[:, None], a, 0.0))
    return out


def _ridge(x: np.ndarray, t: np.ndarray, reg: float) -> tuple[np.ndarray, ...]:
    """Ridge regression of t (n, d_t) on standardized x (n, d_x): (coef (d_x, d_t), mean and
    scale of x, mean of t); the prediction is ((x − mean) / scale) @ coef + mean(t)."""
    mu = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    xs = (x - mu) / scale
    gram = xs.T @ xs + reg * len(x) * np.eye(x.shape[1])
    offset = t.mean(axis=0)
    return np.linalg.solve(gram, xs.T @ (t - offset)), mu, scale, offset
