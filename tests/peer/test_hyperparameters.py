"""Every hyperparameter changes the fit.

Adapted from cca-zoo 4.0.1's ``tests/test_hyperparameters.py``, on jointspace's own classes
and parameter names (the hyperparameters under test are jointspace's), with the peer's
settings for the models both libraries have: the base settings (KCCA on a polynomial
kernel), the solver-only and structural exclusions and the second values, by name
(``reg``: 0.1, ``kernel``: "rbf", ``gamma``: 0.3, ``degree``: 2, ``coef0``: 3.0). One
entry is added, for the parameter only jointspace has: KCCA's ``n_landmarks`` (50 of
the 150 rows: Nyström instead of exact). cca-zoo's GCCA ``view_weights`` and MCCA ``pca``
have no jointspace counterpart.

A parameter that is accepted, validated and documented but has no effect is a
bug that no property of the output reveals: GRCCA's ``mu=0`` was silently
``mu=1``. Each model is fitted at a base setting and again with one
hyperparameter moved, and the scores must differ. Parameters that only steer
the solver, and those that take effect only alongside another setting, are
named with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from jointspace.models import JointModel

from ._helpers import fit, linear_views
from .adapter import JOINTSPACE

# jointspace's classes, once each (CCA and RidgeCCA are both its CCA)
_CLASSES = list(dict.fromkeys(JOINTSPACE.values()))

# Parameters that change how a solution is reached, not which: at convergence
# the fit does not depend on them.
_SOLVER = {
    "max_iter",
    "tol",
    "n_iter",
    "n_init",
    "random_state",
    "init",
}

# The model under test is fitted with these, so each parameter has a setting
# in which it acts.
_BASE: dict[str, dict[str, Any]] = {
    "KCCA": {"kernel": "poly"},
}

# The second value of each parameter, by name, then by model.
_ALTERNATIVE: dict[str, Any] = {
    "reg": 0.1,
    "coef0": 3.0,
    "degree": 2,
    "gamma": 0.3,
    "kernel": "rbf",
    "n_landmarks": 50,  # jointspace's own
}

# Not scalar settings: covered by the model's own tests.
_STRUCTURAL = {"n_components", "center", "feature_groups", "kernel_params",
               "missing"}  # jointspace's own: acts on samples that lack views only
                           # (tests/test_missing_views.py); these views are complete


def _cases() -> list[Any]:
    cases = []
    for cls in _CLASSES:
        name = cls.__name__
        for param in cls().get_params():
            if param in _SOLVER or param in _STRUCTURAL:
                continue
            cases.append(pytest.param(cls, param, id=f"{name}-{param}"))
    return cases


def _scores(model: JointModel, views: list[np.ndarray]) -> list[np.ndarray]:
    return [np.abs(np.asarray(s)) for s in fit(model, views).transform(views)]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("cls", "param"), _cases())
def test_the_parameter_changes_the_fit(cls: type[JointModel], param: str) -> None:
    """Moving the parameter from its base value changes the scores."""
    name = cls.__name__
    views = linear_views(0, 150)
    base = {**_BASE.get(name, {})}
    if "random_state" in cls().get_params():
        base["random_state"] = 0
    model = cls(**base)
    alternative = _ALTERNATIVE.get(param)
    assert alternative is not None, f"no second value for {name}.{param}"
    if alternative == "flip":
        alternative = not model.get_params()[param]
    moved = cls(**{**base, param: alternative})
    for a, b in zip(_scores(model, views), _scores(moved, views)):
        if a.shape != b.shape or not np.allclose(a, b, atol=1e-6):
            return
    pytest.fail(f"{name}.{param}={alternative!r} fits as {model.get_params()[param]!r}")
