"""Saving and loading an estimator that is not a :class:`~jointspace.models.base.JointModel`
(a fusion head, a view generator) as a model directory: safetensors + JSON through
:mod:`jointspace.persistence`, never a pickle.

The estimator provides its fitted state as a dict of plain data and arrays (a network's
weights as a dict of arrays) and a ``_restore(state)`` that sets and checks the fitted
attributes; the class is looked up by name in a registry the caller owns, so a directory
can only instantiate the classes that registry lists.

    >>> save_estimator(model, "runs/gan", model._fitted_state())
    >>> model = load_estimator("runs/gan", ConditionalViewGAN, {"ConditionalViewGAN": ...})
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from sklearn.exceptions import NotFittedError

from jointspace import persistence


def save_estimator(estimator: Any, path: str | os.PathLike, state: dict[str, Any],
                   metadata: dict[str, Any] | None = None) -> None:
    """Write ``estimator``'s class, parameters and fitted ``state`` to directory ``path``
    (atomic; replaces a previous save).

    Args:
        estimator: a scikit-learn estimator (its ``get_params(deep=False)`` are recorded).
        path: directory to write.
        state: fitted attributes: JSON-serializable values, arrays, lists of arrays and
            dicts of arrays (see :func:`~jointspace.persistence.split_state`).
        metadata: JSON-serializable notes kept beside the model.
    """
    scalars, arrays = persistence.split_state(state)
    config = {
        "class": type(estimator).__name__,
        "module": type(estimator).__module__,
        "params": persistence.params_to_json(estimator.get_params(deep=False)),
        "state": scalars,
        "metadata": metadata or {},
    }
    persistence.write_model_dir(path, config, arrays)


def load_estimator(path: str | os.PathLike, expected: type, registry: Mapping[str, type],
                   params: dict[str, Any]) -> Any:
    """The estimator :func:`save_estimator` wrote to ``path``.

    Args:
        path: the model directory.
        expected: the class asked for; the saved class must be it or a subclass.
        registry: class name → class, the only classes a directory may name.
        params: constructor parameters to change (``training``).
    Returns:
        a fitted estimator of the saved class (its ``_restore`` has checked the state).
    Raises:
        FileNotFoundError: not a model directory.
        ValueError: another class, or a damaged or edited directory (names the directory).
    """
    config, arrays = persistence.read_model_dir(path)
    where = f"model directory {os.fspath(path)!r}"
    saved = registry.get(str(config.get("class")))
    if saved is None or not issubclass(saved, expected):
        raise ValueError(f"{where} holds a {config.get('class')!r} model; expected "
                         f"{expected.__name__}")
    saved_params, state = config.get("params"), config.get("state")
    if not isinstance(saved_params, dict) or not isinstance(state, dict):
        raise ValueError(f"{where}: config.json lacks its params or state object")
    try:
        model = saved(**persistence.constructor_params(saved, saved_params, params, where))
        model._validate_params()
        model._restore(persistence.join_state(state, arrays))
    except (TypeError, KeyError, AttributeError, IndexError, RuntimeError,
            ValueError) as exc:
        raise ValueError(f"{where}: its contents do not fit {saved.__name__} "
                         f"({type(exc).__name__}: {exc})") from None
    persistence.check_config_digest(path, config)
    return model


class SavedEstimator:
    """Mixin: ``save`` / ``load`` of an estimator through :func:`save_estimator` and
    :func:`load_estimator`. The class provides ``_saved_classes`` (the registry a directory
    may name), ``_fitted_state()`` (plain data and arrays) and ``_restore(state)``; it is
    fitted once it has ``network_``. :class:`~jointspace.models.base.JointModel` saves
    through it too, with its own fitted check and loader."""

    _saved_classes: ClassVar[Mapping[str, type]]

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def save(self, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> None:
        """Save to directory ``path`` (safetensors + JSON, atomic; never a pickle; replaces
        a previous save).

        Args:
            path: directory to write.
            metadata: JSON-serializable notes kept beside the model (e.g. the dataset and
                split it was fitted on); read back with
                :func:`jointspace.persistence.read_metadata`.
        """
        self._check_fitted()
        save_estimator(self, path, self._fitted_state(), metadata)

    @classmethod
    def load(cls, path: str | os.PathLike, **params: Any) -> Any:
        """Load a model saved by :meth:`save` (the base class returns the saved class).

        Args:
            path: the model directory.
            **params: constructor parameters to change (``training``).
        Raises:
            FileNotFoundError: not a model directory.
            ValueError: another class, or a damaged or edited directory (names it).
        """
        return load_estimator(path, cls, cls._saved_classes, params)
