"""Checks of what a model is given: the values of its views (nothing to correlate, overflow)
and per-view parameters (one value, or one per view)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from jointspace.data.multiview import MultiView

#: the largest magnitude a feature may reach: squares and products of larger values overflow
#: float64 (about 1.8e308) in a covariance
MAX_ABS_VALUE = 1e150


def check_view_values(arrays: list[np.ndarray], mask: np.ndarray, names: list[str]) -> None:
    """Refuse what no correlation can be estimated from: a view that is constant on the
    training rows (every feature one value, or every row identical), and values so large
    that their products overflow.

    Raises:
        ValueError: names the view and what is wrong.
    """
    for a, observed, name in zip(arrays, mask.T, names):
        rows = a[observed] if not observed.all() else a
        if rows.size == 0:
            continue
        peak = float(np.max(np.abs(rows)))
        if peak > MAX_ABS_VALUE:
            raise ValueError(f"view {name!r} has values up to {peak:.3g}; their products "
                             f"overflow float64 (limit {MAX_ABS_VALUE:.0e}): rescale the view")
        if np.all(np.ptp(rows, axis=0) <= 1e-12 * max(peak, 1e-300)):
            raise ValueError(f"view {name!r} is constant on the {len(rows)} training rows "
                             "(every feature takes a single value): no correlation can be "
                             "estimated from it")


def per_view(name: str, value: float | Sequence[float] | None, n_views: int,
             default: float | None = None) -> list[float]:
    """Broadcast a scalar or per-view parameter to a list of n_views non-negative floats
    (``None`` is ``default`` for every view, where a default is given)."""
    if value is None and default is not None:
        value = default
    try:
        values = [float(value)] * n_views if np.isscalar(value) else [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}; expected a non-negative number, or one per "
                         "view") from None
    if len(values) == 1:
        values = values * n_views
    if len(values) != n_views:
        raise ValueError(f"'{name}' must be a scalar or a list of length {n_views} (one value "
                         f"per view); got {len(values)} values")
    if any(v < 0 or not np.isfinite(v) for v in values):
        raise ValueError(f"{name}={value!r}; expected non-negative finite values")
    return values


def numeric_views(views: Any, fitted: tuple[list[str], list[int]] | None,
                  owner: str) -> MultiView:
    """``views`` as a MultiView of numeric views; at query time (``fitted``: the fitted view
    names and widths) checked against them.

    Raises:
        ValueError: other view names, a raw view, or a view of another width (names it).
    """
    from jointspace.data.multiview import as_multiview

    names, widths = fitted if fitted is not None else (None, None)
    mv = as_multiview(views, names=names)
    if names is not None and mv.view_names != names:
        raise ValueError(f"views are {mv.view_names}; this {owner} was fitted on {names}")
    for j, view in enumerate(mv.view_names):
        if not mv.is_numeric(view):
            raise ValueError(f"view {view!r} holds raw items; encode it to numbers first")
        if widths is not None and mv[view].shape[1] != widths[j]:
            raise ValueError(f"View {j} has {mv[view].shape[1]} features; expected "
                             f"{widths[j]} (view {view!r})")
    return mv
