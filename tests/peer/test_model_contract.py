"""The multiview contract, checked on every model both libraries have.

Adapted from cca-zoo 4.0.1's ``tests/test_model_contract.py``, through :mod:`.adapter`,
with the peer's assertions and messages:

* ``test_number_of_views``, ``test_n_components_beyond_the_narrowest_view_raises``,
  ``test_every_parameter_is_validated``, ``test_recovers_a_shared_signal``,
  ``test_fitted_model_keeps_no_training_data`` (walking jointspace's objects where the
  peer walks cca-zoo's), ``test_training_scores_are_centred``,
  ``test_views_are_not_routable_metadata`` and ``test_every_parameter_is_constrained``
  (on the jointspace class each name builds);
* ``test_new_views_must_match_the_fitted_shapes``: its ``transform`` checks (the
  ``predict`` ones need ``predict``).

Not adapted, for want of the feature in jointspace: ``predict`` and
``inverse_transform`` (``test_transform_predict_inverse_transform``,
``test_refit_leaves_no_stale_state``), ``center=False`` (``test_center_false``),
iterative solvers (``test_stopping_at_max_iter_warns``), ``feature_importances_per_view_``
(three tests), feature names of DataFrame views and ``get_feature_names_out``/``set_output``
(two tests), stored embeddings
(``test_transform_of_the_training_views_is_the_fitted_embedding``: none of the six has
one) and ``test_skops_round_trip`` (skops is not
installed; jointspace saves by ``save``/``load``).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from ._helpers import (
    MODEL_CLASSES,
    fit,
    linear_views,
    make_model,
    model_params,
)
from .adapter import JOINTSPACE

_TWO_VIEW_ONLY = {"CCA", "RidgeCCA", "PLS", "CCAR3", "ECCA"}


def _views(
    seed: int = 0, shift: float = 0.0, n_views: int = 2, n: int = 60, noise: float = 0.5
) -> list[np.ndarray]:
    """One shared factor in views of 4, 3 and 5 features."""
    return linear_views(seed, n, (4, 3, 5)[:n_views], 1, noise, shift)




@pytest.mark.parametrize("cls", model_params(MODEL_CLASSES))
def test_number_of_views(cls: Any) -> None:
    """Two-view methods reject a third view by name; the rest take it."""
    views = _views(0, n_views=3)
    model = make_model(cls)
    if cls.__name__ in _TWO_VIEW_ONLY:
        # the model's own class name (cca-zoo's classes are its names; the adapter's
        # RidgeCCA builds a jointspace CCA with a ridge)
        with pytest.raises(ValueError, match=f"{type(model).__name__} requires exactly 2"):
            fit(model, views)
    else:
        assert len(fit(model, views).transform(views)) == 3



@pytest.mark.parametrize("cls", model_params(MODEL_CLASSES))
def test_new_views_must_match_the_fitted_shapes(cls: Any) -> None:
    """A wrong number of views, width or sample count raises."""
    views = _views(0)
    model = fit(make_model(cls), views)
    with pytest.raises(ValueError, match="Expected 2 views"):
        model.transform(views[:1])
    with pytest.raises(ValueError, match="View 1 has 4 features"):
        model.transform([views[0], views[0]])
    with pytest.raises(ValueError, match="same number of samples"):
        model.transform([views[0], views[1][:10]])


# cca-zoo's _components_bounded_by_features: every model but KCCA
_BOUNDED = [c for c in MODEL_CLASSES if c.__name__ != "KCCA"]

@pytest.mark.parametrize("cls", model_params(_BOUNDED))
def test_n_components_beyond_the_narrowest_view_raises(cls: Any) -> None:
    """A model projecting the features has at most the narrowest view's components."""
    with pytest.raises(ValueError, match="must be at most 3"):
        fit(make_model(cls).set_params(n_components=4), _views(0))



@pytest.mark.parametrize("cls", model_params(MODEL_CLASSES))
def test_every_parameter_is_validated(cls: Any) -> None:
    """Each constructor parameter has a constraint that a nonsense value fails."""
    model = make_model(cls)
    for name in model.get_params():
        invalid = make_model(cls).set_params(**{name: object()})
        with pytest.raises(InvalidParameterError, match=name):
            fit(invalid, _views(0))


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", model_params(MODEL_CLASSES))
def test_recovers_a_shared_signal(cls: Any) -> None:
    """At its defaults, each model finds a strong one-dimensional shared signal."""
    views = _views(0, n=200, noise=0.3)
    model = cls()
    if "random_state" in model.get_params():
        model.set_params(random_state=0)
    assert fit(model, views).score(views) > 0.8


# Out-of-sample kernel and manifold embeddings are built from the training rows;
# GaussianProcessCCA uses every row as an inducing point by default.
_KEEPS_TRAINING_VIEWS = {"KCCA", "KGCCA", "KTCCA", "ManifoldCCA", "GaussianProcessCCA"}


def _arrays(obj: object, seen: set[int]) -> list[np.ndarray]:
    """Every array reachable from ``obj``'s attributes and containers."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, list | tuple):
        children = list(obj)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("jointspace"):
        children = list(vars(obj).values())
    else:
        return []
    return [a for child in children for a in _arrays(child, seen)]


@pytest.mark.parametrize(
    "cls", [c for c in MODEL_CLASSES if c.__name__ not in _KEEPS_TRAINING_VIEWS],
    ids=lambda c: c.__name__,
)
def test_fitted_model_keeps_no_training_data(cls: Any) -> None:
    """No array in the fitted model holds a training view, raw or centred."""
    views = _views(0)
    model = fit(make_model(cls), views)
    training = views + [v - v.mean(axis=0) for v in views]
    for array in _arrays(model, set()):
        assert not any(
            array.shape == v.shape and np.allclose(array, v) for v in training
        )


@pytest.mark.parametrize("cls", model_params(MODEL_CLASSES))
def test_training_scores_are_centred(cls: Any) -> None:
    """Training scores have zero mean: predict and inverse_transform assume it."""
    views = _views(0, shift=5.0)
    for scores in fit(make_model(cls), views).transform(views):
        np.testing.assert_allclose(scores.mean(axis=0), 0.0, atol=1e-8 * scores.std())



@pytest.mark.parametrize("cls", model_params(MODEL_CLASSES))
def test_views_are_not_routable_metadata(cls: Any) -> None:
    """No set_*_request method offers to route the views, which are the data."""
    requests = cls().get_metadata_routing()
    for method in ("fit", "transform", "predict", "score", "inverse_transform"):
        routed = getattr(requests, method).requests
        assert "views" not in routed and "scores" not in routed, method



@pytest.mark.parametrize("cls", model_params(MODEL_CLASSES))
def test_every_parameter_is_constrained(cls: Any) -> None:
    """The constraints name exactly the constructor's parameters."""
    cls = JOINTSPACE[cls.__name__]
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert set(cls._parameter_constraints) == params
