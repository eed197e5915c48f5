"""Input checks shared by the metrics: arrays of the right shape, finite, named in errors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def as_matrix(x: ArrayLike, name: str) -> np.ndarray:
    """Return ``x`` as a 2-D finite float64 array with at least one row and column."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected a real numeric array")
    if arr.ndim != 2:
        raise ValueError(f"{name} has shape {arr.shape}; expected a 2-D array (n_samples, n_dims)")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} has shape {arr.shape}; expected at least one row and one column")
    arr = arr.astype(np.float64, copy=False)
    n_bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name} contains {n_bad} non-finite values (NaN or inf); expected finite")
    return arr


def as_vector(x: ArrayLike, name: str, n: int, rows_of: str) -> np.ndarray:
    """Return ``x`` as a 1-D array of length ``n`` (one entry per row of ``rows_of``)."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(
            f"{name} has shape {arr.shape}; expected a 1-D array of length {n} "
            f"(one entry per row of {rows_of})"
        )
    return arr
