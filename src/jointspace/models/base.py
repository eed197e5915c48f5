"""The contract every joint model keeps: fit, transform, transform_view, score, save, load.

A joint model maps each of its views into one k-dimensional space. Subclasses implement
``_fit_arrays`` (fit on one float array per view and a mask) and ``_transform_array``
(one view's rows into the joint space); this base class handles input forms (MultiView,
dict, list), view names, masks, validation, scoring and persistence.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import metadata_routing

from jointspace import persistence
from jointspace.data.multiview import MultiView, as_multiview
from jointspace.metrics import canonical_correlations
from jointspace.models.checks import check_view_values
from jointspace.models.estimator_saving import SavedEstimator
from jointspace.models.missing_views import MissingViews

#: model class name → class, filled by subclassing; `load` only instantiates these
MODEL_REGISTRY: dict[str, type[JointModel]] = {}


class JointModel(SavedEstimator, MissingViews, TransformerMixin, BaseEstimator, ABC):
    """Base class of joint-space models (scikit-learn estimator).

    Fitted attributes common to all models:
        view_names_ (list[str]), n_views_ (int), n_features_ (list[int], d_i per view),
        n_components_ (int, k), canonical_correlations_ ((k,) training correlations of
        the joint-space scores, averaged over view pairs).
    """

    #: minimum number of views the model accepts
    min_views: ClassVar[int] = 2
    #: maximum number of views (None: any)
    max_views: ClassVar[int | None] = None
    #: whether the model can train on samples with missing views masked (``missing="mask"``,
    #: its default) rather than on complete rows only
    fits_missing_views: ClassVar[bool] = False
    #: one constraint list per constructor parameter (scikit-learn's form), checked by fit
    _parameter_constraints: ClassVar[dict] = {}
    # the views are the data, not metadata that a meta-estimator would route
    __metadata_request__fit = {"views": metadata_routing.UNUSED}  # noqa: RUF012
    __metadata_request__partial_fit = {"views": metadata_routing.UNUSED}  # noqa: RUF012
    __metadata_request__transform = {"views": metadata_routing.UNUSED}  # noqa: RUF012
    __metadata_request__score = {"views": metadata_routing.UNUSED}  # noqa: RUF012

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            MODEL_REGISTRY[cls.__name__] = cls

    # ------------------------------------------------------------------ input
    def _validate_views(self, views: Any, *, fitting: bool) -> tuple[MultiView, list[np.ndarray]]:
        """Turn any accepted input into a MultiView and its float arrays, checked."""
        names = getattr(self, "view_names_", None) if not fitting else None
        mv = as_multiview(views, names=names)
        if not fitting:
            self._check_fitted()
            if mv.view_names != self.view_names_:
                raise ValueError(
                    f"views are {mv.view_names}; this model was fitted on {self.view_names_}"
                )
        n_views = len(mv.view_names)
        name = type(self).__name__
        if self.min_views == self.max_views and n_views != self.min_views:
            raise ValueError(f"{name} requires exactly {self.min_views} views, got {n_views}")
        if n_views < self.min_views:
            raise ValueError(f"{name} got {n_views} view{'s' * (n_views != 1)}. At least "
                             f"{self.min_views} views are required")
        if self.max_views is not None and n_views > self.max_views:
            raise ValueError(f"{name} takes at most {self.max_views} views, got {n_views}")
        arrays = mv.arrays()
        if not fitting:
            for i, (view, a, d) in enumerate(zip(mv.view_names, arrays, self.n_features_)):
                if a.shape[1] != d:
                    raise ValueError(f"View {i} has {a.shape[1]} features; expected {d} "
                                     f"(view {view!r})")
        return mv, arrays

    def _check_n_components(self, dims: list[int], names: list[str], n_rows: int) -> int:
        k = self.n_components
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"n_components={k!r}; expected a positive integer")
        smallest = int(np.argmin(dims))
        if k > dims[smallest]:
            raise ValueError(
                f"n_components={k} must be at most {dims[smallest]}, the number of features "
                f"in the narrowest view ({names[smallest]!r})"
            )
        if k > n_rows - 1:
            raise ValueError(f"n_components={k} needs more than {n_rows} complete samples")
        return int(k)

    def _check_fitted(self) -> None:
        if not hasattr(self, "view_names_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _view_index(self, view: str | int) -> int:
        self._check_fitted()
        if isinstance(view, int | np.integer):
            if not 0 <= view < self.n_views_:
                raise ValueError(f"view index {view} out of range; model has {self.n_views_} views")
            return int(view)
        if view not in self.view_names_:
            raise ValueError(f"view {view!r} does not exist; views are {self.view_names_}")
        return self.view_names_.index(view)

    # --------------------------------------------------------------- contract
    def fit(self, views: Any, y: Any = None) -> JointModel:
        """Fit on paired views.

        Args:
            views: MultiView, dict name → (n, d_i) array, or list of (n, d_i) arrays.
                Samples that lack views are used by the ``missing`` strategy (see
                :mod:`jointspace.models.missing_views`): masked, dropped, or filled.
            y: ignored (scikit-learn compatibility).
        Returns:
            self.
        Raises:
            InvalidParameterError: a parameter outside its constraints (names it).
        """
        self._validate_params()
        mv, arrays = self._validate_views(views, fitting=True)
        if mv.n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} got 1 sample; a minimum of 2 paired samples is required"
            )
        arrays, mask = self._arrays_to_fit(mv, arrays)  # by the ``missing`` strategy
        self._check_n_components([a.shape[1] for a in arrays], mv.view_names, len(arrays[0]))
        check_view_values(arrays, mask, mv.view_names)
        self._fit_arrays(arrays, mask)
        self._set_view_info(mv.view_names, [a.shape[1] for a in arrays])
        asked = getattr(self, "n_components", None)
        fitted = getattr(self, "n_components_", None)
        if isinstance(asked, int) and isinstance(fitted, int | np.integer) and fitted < asked:
            warnings.warn(f"{type(self).__name__} fitted {fitted} of the {asked} components "
                          "asked: the views' ranks allow no more", UserWarning, stacklevel=2)
        return self

    @staticmethod
    def _complete_rows(mv: MultiView, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The rows of ``arrays`` where every view is observed (no copy when all are)."""
        rows = mv.complete_rows()
        return arrays if rows.all() else [a[rows] for a in arrays]

    def _set_view_info(self, names: list[str], dims: list[int]) -> None:
        self.view_names_ = list(names)
        self.n_views_ = len(names)
        self.n_features_ = list(dims)

    def transform(self, views: Any) -> list[np.ndarray]:
        """Map every view into the joint space.

        Args:
            views: same form and view names as in ``fit``, m samples.
        Returns:
            list of (m, k) arrays, one per view; rows of samples whose view is not
            observed (mask) are NaN, unless the ``missing`` strategy fills them.
        """
        mv, arrays = self._validate_views(views, fitting=False)
        arrays, mask = self._arrays_to_embed(mv, arrays)  # filled by a fill strategy
        out = []
        for i, a in enumerate(arrays):
            observed = mask[:, i]
            z = np.full((len(a), self.n_components_), np.nan)
            if observed.any():
                z[observed] = self._transform_array(i, a[observed])
            out.append(z)
        return out

    def fuse(self, views: Any) -> np.ndarray:
        """One vector per sample: the mean of the joint-space embeddings of the views the
        sample has (the contract's fused output, beside :meth:`transform`'s one array per view).

        A view a sample lacks (mask) never contributes, so a sample with one view is that
        view's embedding. Models that learn their own fusion override this.

        Args:
            views: same form and view names as in ``fit``, m samples.
        Returns:
            (m, k) array.
        Raises:
            ValueError: a sample with no observed view (names the first such rows).
        """
        Z = np.stack(self.transform(views))  # (n_views, m, k); NaN rows where unobserved
        observed = ~np.isnan(Z[:, :, 0])
        count = observed.sum(axis=0)
        if (count == 0).any():
            rows = np.flatnonzero(count == 0)
            raise ValueError(f"samples {rows[:5].tolist()} have no observed view; fuse needs "
                             "at least one")
        return np.where(observed[:, :, None], Z, 0.0).sum(axis=0) / count[:, None]

    def fit_transform(self, views: Any, y: Any = None) -> list[np.ndarray]:
        """``fit(views).transform(views)``."""
        return self.fit(views, y).transform(views)

    def transform_view(self, view: str | int, X: Any) -> np.ndarray:
        """Map one view alone into the joint space (for queries).

        Args:
            view: view name (or index).
            X: (m, d_view) array; a 1-D array is one sample.
        Returns:
            (m, k) array.
        """
        i = self._view_index(view)
        name = self.view_names_[i]
        raw = np.asarray(X)
        if raw.dtype.kind not in "biufO":
            raise ValueError(f"X for view {name!r} has dtype {raw.dtype}; expected numbers")
        try:
            arr = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"X for view {name!r} holds non-numbers; expected numbers") from None
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.n_features_[i]:
            raise ValueError(
                f"X for view {name!r} has shape {arr.shape}; expected (m, {self.n_features_[i]})"
            )
        if len(arr) == 0:
            raise ValueError(f"X for view {name!r} has no rows; expected at least one sample")
        if not np.isfinite(arr).all():
            raise ValueError(f"X for view {self.view_names_[i]!r} has NaN or inf")
        return self._transform_array(i, arr)

    def score(self, views: Any, y: Any = None) -> float:
        """Mean over components of the correlation of the joint-space scores on ``views``
        (cca-zoo's convention: comparable across numbers of components).

        For three or more views each component's correlation is the mean over view pairs.
        Only samples where every view is observed count.
        """
        mv = as_multiview(views, names=getattr(self, "view_names_", None))
        Z = self.transform(mv.subset(mv.complete_rows()))
        return float(np.mean(canonical_correlations(*Z)))

    # ------------------------------------------------------------ persistence
    def _fitted_state(self) -> dict[str, Any]:
        state = {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}
        return self._state_with_imputer(state)

    # save: SavedEstimator.save (this class's _check_fitted and _fitted_state)

    @classmethod
    def load(cls, path: str | os.PathLike, **params: Any) -> JointModel:
        """Load a model saved by :meth:`save` (``JointModel.load`` returns the saved class).

        Args:
            path: the model directory.
            **params: constructor parameters that could not be saved as data (a user's own
                ``nn.Module`` towers), or settings to change (``device``, ``progress``).
        Raises:
            ValueError: the directory holds another model class than ``cls``, or a
                parameter that was not saved is missing.
        """
        config, arrays = persistence.read_model_dir(path)
        saved = _saved_class(config)
        if saved is None or not issubclass(saved, cls):
            raise ValueError(
                f"{str(path)!r} holds a {config.get('class')!r} model; expected {cls.__name__}"
            )
        where = f"model directory {str(path)!r}"
        saved_params, state = config.get("params"), config.get("state")
        if not isinstance(saved_params, dict) or not isinstance(state, dict):
            raise ValueError(f"{where}: config.json lacks its params or state object")
        try:
            model = saved(**persistence.constructor_params(saved, saved_params, params, where))
            fitted = persistence.join_state(state, arrays)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{where}: its config does not fit {saved.__name__} "
                             f"({type(exc).__name__}: {exc})") from None
        for key, value in fitted.items():
            if not key.endswith("_") or key.startswith("_") or hasattr(saved, key):
                raise ValueError(f"{where}: state entry {key!r} is not a fitted attribute "
                                 "(names end in '_' and never shadow the class's own)")
            setattr(model, key, value)
        try:
            model._check_loaded_state()
            model._restore_imputer()
            model._after_load()
        except (TypeError, KeyError, AttributeError, IndexError, RuntimeError,
                ValueError) as exc:
            raise ValueError(f"{where}: its fitted state does not fit {saved.__name__} "
                             f"({type(exc).__name__}: {exc})") from None
        # a config that fits the class but was edited or damaged (a kernel, a component
        # count) would load as a different model: it must match its checksum
        persistence.check_config_digest(path, config)
        return model

    def _check_loaded_state(self) -> None:
        """Check that loaded fitted attributes agree with each other (raise ValueError):
        the views, the per-view weights and the component count."""
        n_views = getattr(self, "n_views_", None)
        names = getattr(self, "view_names_", None)
        if n_views is not None and names is not None and len(names) != n_views:
            raise ValueError(f"n_views_ is {n_views} but view_names_ has {len(names)} names")
        k = getattr(self, "n_components_", None)
        if k is not None and (not isinstance(k, int | np.integer) or k < 0):
            raise ValueError(f"n_components_ is {k!r}; expected a non-negative integer")
        param = getattr(self, "n_components", None)
        if param is not None and (not isinstance(param, int | np.integer)
                                  or isinstance(param, bool) or param < 1):
            raise ValueError(f"parameter n_components is {param!r}; expected an integer ≥ 1")
        features, weights = getattr(self, "n_features_", None), getattr(self, "weights_", None)
        if n_views is not None and features is not None and len(features) != n_views:
            raise ValueError(f"n_views_ is {n_views} but n_features_ has {len(features)} entries")
        if isinstance(weights, list) and n_views is not None:
            if len(weights) != n_views:
                raise ValueError(f"n_views_ is {n_views} but weights_ has {len(weights)} arrays")

    def _after_load(self) -> None:
        """Rebuild what is not plain arrays after ``load`` set the fitted attributes."""

    # ------------------------------------------------------------ subclasses
    @abstractmethod
    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        """Fit on one (n, d_i) float array per view and the (n, n_views) bool mask of observed
        views (all True unless ``fits_missing_views``; unobserved rows hold zeros).
        Sets ``n_components_``, ``canonical_correlations_`` and the model's weights."""

    @abstractmethod
    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        """Map (m, d_i) rows of view i to (m, k) joint-space scores."""


def _saved_class(config: dict[str, Any]) -> type[JointModel] | None:
    """The class a saved config names, importing only its own module (a deep model's module
    imports torch; a linear model's does not). Returns None for an unknown class."""
    import importlib

    name = str(config.get("class", ""))
    if name not in MODEL_REGISTRY:
        module = str(config.get("module", ""))
        if not module.startswith("jointspace.models."):  # saves before "module" was recorded
            from jointspace.models.factory import MODELS

            module = next(
                (m for m, _, c in (v.partition(":") for v in MODELS.values()) if c == name), ""
            )
        if module.startswith("jointspace.models."):
            try:
                importlib.import_module(module)
            except ImportError:
                return None
    return MODEL_REGISTRY.get(name)
