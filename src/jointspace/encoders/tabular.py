"""Tabular encoder: standardization of a numeric array."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array

from jointspace.encoders.base import Encoder, register


@register("standardize")
class StandardizeEncoder(Encoder):
    """Per-column standardization (scikit-learn ``StandardScaler``) of a numeric array.

    Args:
        with_mean: subtract the column means learned by ``fit``.
        with_std: divide by the column standard deviations (constant columns: by 1).

    ``fit`` takes (n, d) numbers; ``transform`` returns (n, d) float32.
    """

    input_kind = "table"
    stateful = True

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def _check(self, X: Any) -> np.ndarray:
        try:
            return check_array(X, dtype=np.float64, ensure_2d=True)
        except ValueError as exc:
            raise ValueError(f"tabular encoder 'standardize': {exc}") from exc

    def fit(self, X: Any, y: Any = None) -> StandardizeEncoder:
        """Learn the column means and standard deviations of ``X`` (n, d)."""
        self.scaler_ = StandardScaler(with_mean=self.with_mean, with_std=self.with_std)
        self.scaler_.fit(self._check(X))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) float32 standardized rows of ``X`` (n, d)."""
        self._check_fitted()
        arr = self._check(X)
        d = self.scaler_.n_features_in_
        if arr.shape[1] != d:
            raise ValueError(
                f"tabular encoder 'standardize' got {arr.shape[1]} columns; it was fitted on {d}"
            )
        return self.scaler_.transform(arr).astype(np.float32)

    def _get_state(self) -> dict[str, Any]:
        if not hasattr(self, "scaler_"):
            return {}
        s = self.scaler_
        d = s.n_features_in_
        return {
            "n_features": int(d),
            "n_samples_seen": int(np.max(s.n_samples_seen_)),
            "mean": np.zeros(d) if s.mean_ is None else np.asarray(s.mean_, np.float64),
            "scale": np.ones(d) if s.scale_ is None else np.asarray(s.scale_, np.float64),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        s = StandardScaler(with_mean=self.with_mean, with_std=self.with_std)
        s.n_features_in_ = int(state["n_features"])
        s.n_samples_seen_ = int(state["n_samples_seen"])
        s.mean_ = np.asarray(state["mean"], np.float64) if self.with_mean else None
        s.scale_ = np.asarray(state["scale"], np.float64) if self.with_std else None
        s.var_ = None if s.scale_ is None else s.scale_**2
        self.scaler_ = s
