"""A thin adapter from cca-zoo 4.0.1's models and helpers to jointspace.

cca-zoo's test suite (its sdist's ``tests/``) builds models by cca-zoo's class names and
constructor parameters. Each name here is a factory with cca-zoo's signature and defaults
that returns the jointspace estimator solving the same problem, so the peer's tests run
unchanged on jointspace objects:

============================  ===============================================
cca-zoo                       jointspace
============================  ===============================================
``CCA(n)``                    ``CCA(n, reg=0)``
``RidgeCCA(n, shrinkage=c)``  ``CCA(n, reg=c / (1 - c))``   (``rCCA(c=…)`` before 2.0)
``PLS(n)``                    ``PLS(n)``
``MCCA(n, shrinkage=c)``      ``MCCA(n, reg=c / (1 - c))``
``GCCA(n, shrinkage=c)``      ``GCCA(n, reg=c / (1 - c))``
``KCCA(n, shrinkage=c, …)``   ``KCCA(n, reg=c / (1 - c), n_landmarks=None, …)``
============================  ===============================================

Shrinkage: cca-zoo constrains wᵀ((1 − c)Σ + cI)w = 1, jointspace wᵀ(Σ + εI)w = 1. Both are
the same problem for ε = c / (1 − c) (the first matrix is (1 − c) times the second), so
every direction, correlation and subspace agrees; weights differ by the constant factor
1 / √(1 − c), which no adapted assertion depends on. ``c = 1`` (PLS) has no finite ε.

KCCA: cca-zoo's KCCA is exact (the dual, every training row); jointspace's is exact with
``n_landmarks=None`` (its default "auto" is exact up to 1,000 rows, which covers every
peer data set too). cca-zoo's default kernel is "linear" and its shrinkage 0.1.

Not adaptable, and refused here with :class:`NotAdaptable`: ``center=False`` (jointspace
always centres; KCCA's rbf kernel excepted), ``shrinkage=1``, GCCA's ``view_weights``, and
``kernel_params`` or a callable kernel.

The fitted attributes keep jointspace's names; the ones the peer's tests read exist in
both under the same name and shape: ``weights_`` (one (d_i, k) array per view; for KCCA
jointspace's weights are on its kernel features, cca-zoo's on the training rows),
``means_``, ``n_components_``, ``n_views_``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jointspace.models import CCA as _CCA
from jointspace.models import GCCA as _GCCA
from jointspace.models import KCCA as _KCCA
from jointspace.models import MCCA as _MCCA
from jointspace.models import PLS as _PLS
from jointspace.models import JointModel
from jointspace.models.checks import per_view
from jointspace.models.linear import solvers


class NotAdaptable(ValueError):
    """A cca-zoo setting jointspace has no counterpart for."""


def shrinkage_to_reg(shrinkage: float | Sequence[float]) -> float | list[float]:
    """cca-zoo's shrinkage c ∈ [0, 1) → jointspace's ridge ε = c / (1 − c) (per view)."""
    if not np.isscalar(shrinkage):
        return [float(shrinkage_to_reg(c)) for c in shrinkage]  # type: ignore[union-attr]
    c = float(shrinkage)  # type: ignore[arg-type]
    if c >= 1.0:
        raise NotAdaptable("shrinkage=1 (PLS) is an infinite ridge, which jointspace refuses")
    return c / (1.0 - c) if c > 0 else 0.0


def _centred(center: bool) -> None:
    if not center:
        raise NotAdaptable("center=False: jointspace always centres each view")


def CCA(n_components: int = 1, *, center: bool = True) -> _CCA:  # noqa: N802
    """cca_zoo.linear.CCA."""
    _centred(center)
    return _CCA(n_components=n_components, reg=0.0)


def RidgeCCA(  # noqa: N802
    n_components: int = 1, *, center: bool = True, shrinkage: float | list[float] = 0.0
) -> _CCA:
    """cca_zoo.linear.RidgeCCA (cca-zoo's ``rCCA(c=…)`` before 2.0)."""
    _centred(center)
    return _CCA(n_components=n_components, reg=shrinkage_to_reg(shrinkage))


rCCA = RidgeCCA  # noqa: N816


def PLS(n_components: int = 1, *, center: bool = True) -> _PLS:  # noqa: N802
    """cca_zoo.linear.PLS."""
    _centred(center)
    return _PLS(n_components=n_components)


def MCCA(  # noqa: N802
    n_components: int = 1,
    *,
    center: bool = True,
    shrinkage: float | list[float] = 0.0,
    pca: bool = True,
) -> _MCCA:
    """cca_zoo.linear.MCCA (``pca`` only picks cca-zoo's basis: exact either way)."""
    _centred(center)
    return _MCCA(n_components=n_components, reg=shrinkage_to_reg(shrinkage))


def GCCA(  # noqa: N802
    n_components: int = 1,
    *,
    center: bool = True,
    shrinkage: float | list[float] = 0.0,
    view_weights: list[float] | None = None,
) -> _GCCA:
    """cca_zoo.linear.GCCA (equal view weights only)."""
    _centred(center)
    if view_weights is not None:
        raise NotAdaptable("view_weights: jointspace's GCCA weights every view equally")
    return _GCCA(n_components=n_components, reg=shrinkage_to_reg(shrinkage))


def KCCA(  # noqa: N802
    n_components: int = 1,
    *,
    center: bool = True,
    shrinkage: float | list[float] = 0.1,
    kernel: str = "linear",
    gamma: float | None = None,
    degree: int = 3,
    coef0: float = 1.0,
    kernel_params: dict[str, object] | None = None,
) -> _KCCA:
    """cca_zoo.nonparametric.KCCA, exact (every training row a landmark).

    ``center=False`` is accepted for the rbf kernel only: jointspace's KCCA does not centre
    an rbf kernel's inputs (the kernel is translation-invariant), so it is that model.
    """
    _centred(center or kernel == "rbf")
    if kernel_params is not None or callable(kernel):
        raise NotAdaptable("kernel_params or a callable kernel: jointspace names its kernels")
    return _KCCA(
        n_components=n_components,
        reg=shrinkage_to_reg(shrinkage),
        kernel=kernel,
        gamma=gamma,
        degree=degree,
        coef0=coef0,
        n_landmarks=None,
    )


#: the models both libraries have, as the peer's ``MODEL_CLASSES``
MODEL_CLASSES: list[Callable[..., JointModel]] = [CCA, RidgeCCA, PLS, MCCA, GCCA, KCCA]

#: cca-zoo name → the jointspace class its factory builds
JOINTSPACE: dict[str, type[JointModel]] = {
    "CCA": _CCA,
    "RidgeCCA": _CCA,
    "PLS": _PLS,
    "MCCA": _MCCA,
    "GCCA": _GCCA,
    "KCCA": _KCCA,
}


# ----------------------------------------------------------- cca_zoo._utils counterparts
def validate_views(
    views: list[Any], ensure_min_samples: int = 1, ensure_all_finite: bool = True
) -> list[np.ndarray]:
    """cca_zoo._utils._validation.validate_views → the checks every jointspace model runs
    on its views (``JointModel._validate_views``), and fit's own refusal of too few samples.
    """
    if not ensure_all_finite:
        raise NotAdaptable("NaN pass-through: jointspace marks missing rows with a mask")
    _, arrays = _MCCA(n_components=1)._validate_views(views, fitting=True)
    if len(arrays[0]) < ensure_min_samples:
        _MCCA(n_components=1).fit(views)  # raises jointspace's own error
    return arrays


def perview_parameter(
    name: str, value: Any, default: float, n_views: int
) -> list[float]:
    """cca_zoo._utils._validation.perview_parameter → jointspace's ``per_view``."""
    return per_view(name, value, n_views, default)


def svd_whiten(x: np.ndarray, regularization: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """cca_zoo._utils._linalg.svd_whiten → ``solvers.whitener`` of the view's covariance.

    ``regularization`` is cca-zoo's shrinkage, mapped to jointspace's ridge. Returns the
    whitened (centred) view and the whitening matrix, as cca-zoo does.
    """
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    w = solvers.whitener(cov, float(shrinkage_to_reg(regularization)))
    return x @ w, w
