"""How a joint model treats the views that samples lack: the ``missing`` parameter every
model takes, applied at fit time and at query time (``transform``, ``fuse``).

- ``"mask"``: the model trains on every sample with the views it lacks masked (DGCCA, the
  multimodal VAE, the split autoencoder; their default);
- ``"drop"``: the model trains on the samples that have every view (the default of the
  others);
- ``"zero"``, ``"mean"``, ``"model"``: a :class:`~jointspace.models.missing.ViewImputer`
  fitted on the training views fills them (zeros, the view's training mean, or ridge
  predictions from the views the sample has); the model trains on every sample, and at
  query time a sample's missing views are filled the same way before embedding.

With "mask" and "drop", a query's missing view is left out: ``transform`` gives it NaN rows
and ``fuse`` averages the views the sample has. Whatever a missing view's slots hold (NaN
included) is never read. For fills from a VAE or a conditional GAN, put a
``ViewImputer("model", generator="vae")`` in front of the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions

from jointspace.data.multiview import MultiView
from jointspace.models.missing import ViewImputer, imputer_arrays, imputer_from_arrays

#: the strategies, in the order of the docs
STRATEGIES = ("mask", "drop", "zero", "mean", "model")
FILLS = ("zero", "mean", "model")

#: the constraint of the ``missing`` parameter
MISSING_CONSTRAINT: list[Any] = [StrOptions(set(STRATEGIES)), None]


class MissingViews:
    """Mixin of :class:`~jointspace.models.base.JointModel`: the ``missing`` strategy."""

    fits_missing_views: bool

    @property
    def missing_strategy(self) -> str:
        """The strategy in use: ``missing``, or for None the model's own ("mask" for models
        that train on masked views, else "drop").

        Raises:
            ValueError: "mask" on a model that cannot train on masked views.
        """
        strategy = getattr(self, "missing", None)
        if strategy is None:
            return "mask" if self.fits_missing_views else "drop"
        if strategy == "mask" and not self.fits_missing_views:
            raise ValueError(f"{type(self).__name__} cannot train on masked views "
                             "(missing='mask'); use 'drop', 'zero', 'mean' or 'model'")
        return strategy

    def _arrays_to_fit(self, mv: MultiView, arrays: list[np.ndarray]
                       ) -> tuple[list[np.ndarray], np.ndarray]:
        """The training arrays and their (n, n_views) mask under the strategy; fits and sets
        ``imputer_`` (None unless the strategy fills)."""
        strategy = self.missing_strategy
        self.imputer_ = None
        if strategy in FILLS:
            numeric = _numeric(mv, arrays)
            self.imputer_ = ViewImputer(strategy).fit(numeric)
            return _filled(self.imputer_, numeric), np.ones(mv.mask.shape, dtype=bool)
        if strategy == "mask":
            return [a if m.all() else np.where(m[:, None], a, 0.0)
                    for a, m in zip(arrays, mv.mask.T)], mv.mask
        rows = mv.complete_rows()
        arrays = arrays if rows.all() else [a[rows] for a in arrays]
        return arrays, np.ones((len(arrays[0]), len(arrays)), dtype=bool)

    def _arrays_to_embed(self, mv: MultiView, arrays: list[np.ndarray]
                         ) -> tuple[list[np.ndarray], np.ndarray]:
        """Query arrays and the (m, n_views) mask of the views to embed: every view once
        filled (a fill strategy), else the views each sample has."""
        imputer = getattr(self, "imputer_", None)
        if imputer is None or mv.mask.all():
            return arrays, mv.mask
        return _filled(imputer, _numeric(mv, arrays)), np.ones(mv.mask.shape, dtype=bool)

    # ------------------------------------------------------------ persistence
    def _state_with_imputer(self, state: dict[str, Any]) -> dict[str, Any]:
        """A fitted state with ``imputer_`` as the arrays ``imputer_state_`` (or left out)."""
        imputer = state.pop("imputer_", None)
        if imputer is not None:
            state["imputer_state_"] = imputer_arrays(imputer)
        return state

    def _restore_imputer(self) -> None:
        """After ``load``: ``imputer_`` from its saved arrays (None when there are none)."""
        saved = self.__dict__.pop("imputer_state_", None)
        self.imputer_ = None
        if saved is not None:
            if self.missing_strategy not in FILLS:
                raise ValueError(f"an imputer is saved, but missing={self.missing!r} fills "
                                 "nothing")
            if not isinstance(saved, dict):
                raise ValueError("imputer_state_ is not a set of named arrays")
            self.imputer_ = imputer_from_arrays(self.missing_strategy, 1e-3, self.view_names_,
                                                self.n_features_, saved)


def _numeric(mv: MultiView, arrays: list[np.ndarray]) -> MultiView:
    """The validated float arrays as a MultiView with ``mv``'s mask."""
    return MultiView(dict(zip(mv.view_names, arrays)), mask=mv.mask)


def _filled(imputer: ViewImputer, mv: MultiView) -> list[np.ndarray]:
    filled = imputer.transform(mv)
    return [np.asarray(filled[name], dtype=np.float64) for name in mv.view_names]
