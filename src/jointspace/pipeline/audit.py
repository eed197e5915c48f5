"""Mismatched-pair detection with a fitted pipeline or joint model: each pair's consistency in
the joint space (:func:`jointspace.metrics.consistency.consistency_scores` on its two views'
embeddings), so the pairs least consistent can be checked first::

    from jointspace import Pipeline, pair_consistency
    from jointspace.data import from_folder

    data = from_folder("photos", "captions.csv")
    scores = pair_consistency(Pipeline.load("runs/photos"), data)   # (n,), higher = agrees
    suspects = scores.argsort()[:20]                                # the likeliest mismatches
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jointspace.data.multiview import MultiView, as_multiview
from jointspace.metrics.consistency import consistency_scores
from jointspace.metrics.relevance import normalize_caption
from jointspace.models.base import JointModel
from jointspace.pipeline.core import Pipeline

__all__ = ["pair_consistency", "shuffle_pairs"]


def _pick(items: Any, rows: np.ndarray) -> Any:
    return items[rows] if isinstance(items, np.ndarray) else [items[i] for i in rows]


def pair_consistency(
    model: Pipeline | JointModel,
    views: Any,
    *,
    between: Sequence[str] | None = None,
    method: str = "margin",
    **options: Any,
) -> np.ndarray:
    """How well each pair (row) of ``views`` agrees in ``model``'s joint space: higher is more
    consistent; the lowest scores are the likeliest mismatched pairs.

    Args:
        model: a fitted :class:`Pipeline` (``views`` holds raw items: captions, image paths)
            or a fitted :class:`JointModel` (``views`` holds its numeric features).
        views: a MultiView (its groups, e.g. several captions of one image, never compete
            with each other), or for a JointModel a dict or list of (n, d) arrays.
        between: the two views compared (default: the model's first two).
        method: "margin" (default), "csls", "softmax" or "cosine"; see
            :mod:`jointspace.metrics.consistency`.
        **options: ``k``, ``temperature``, ``chunk_size`` of
            :func:`~jointspace.metrics.consistency.consistency_scores`.
    Returns:
        (n,) float array aligned with the rows of ``views``; NaN for a row that lacks one of
        the two views.
    Raises:
        ValueError: an unknown view, an unfitted model, fewer than two groups of complete
            pairs, a bad option.
    """
    if isinstance(model, Pipeline):
        model._check_fitted()
        names = model.view_names
    elif isinstance(model, JointModel):
        model._check_fitted()
        names = list(model.view_names_)
    else:
        raise ValueError(f"model is a {type(model).__name__}; expected a Pipeline or JointModel")
    data = views if isinstance(views, MultiView) else as_multiview(views, names=names)
    pair = list(between) if between is not None else names[:2]
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ValueError(f"between={between!r}; expected two different view names")
    for view in pair:
        if view not in names:
            raise ValueError(f"view {view!r} is not in this model; views: {names}")
        data[view]  # noqa: B018 - KeyError naming a view the data lacks
    rows = np.flatnonzero(data.observed(pair[0]) & data.observed(pair[1]))
    if len(rows) < 2:
        raise ValueError(
            f"{len(rows)} rows have both {pair[0]!r} and {pair[1]!r}; expected at least two pairs"
        )
    embedded = []
    for view in pair:
        items = _pick(data[view], rows)
        embedded.append(model.transform_view(view, items))
    scores = np.full(data.n_samples, np.nan)
    scores[rows] = consistency_scores(
        *embedded, groups=data.relevance_groups[rows], method=method, **options
    )
    return scores


def _item_key(item: Any) -> Any:
    if isinstance(item, str):
        return normalize_caption(item)
    return np.ascontiguousarray(item).tobytes()


def shuffle_pairs(
    data: MultiView, view: str, fraction: float, seed: int = 0
) -> tuple[MultiView, np.ndarray]:
    """Corrupt a known share of pairs, to measure how well an audit finds them: ``view``'s
    items are swapped among a random ``fraction`` of the complete rows (each chosen row gets
    the next one's item in a random order, so none keeps its own).

    Returns:
        the shuffled MultiView (same rows, groups, ids and labels; ``meta["shuffled"]``
        records the view, fraction, seed and ``source``, the row each item now comes from)
        and the (n,) bool mask of
        the rows now mismatched: a chosen row whose new item is not one of its group's own
        items (captions compared as :func:`~jointspace.metrics.normalize_caption` text), so a
        row handed an identical caption ("gramastar. keywords: …") is not counted.
    Raises:
        ValueError: ``fraction`` outside (0, 1), or fewer than two rows to shuffle.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"shuffle fraction is {fraction!r}; expected a number in (0, 1)")
    items = data[view]
    complete = np.flatnonzero(data.complete_rows())
    m = int(round(fraction * len(complete)))
    if m < 2:
        raise ValueError(
            f"a shuffle fraction of {fraction} swaps {m} of {len(complete)} complete pairs; "
            "expected at least two (a larger fraction or more data)"
        )
    rng = np.random.default_rng(seed)
    chosen = rng.choice(complete, m, replace=False)
    source = np.arange(data.n_samples)
    source[chosen] = np.roll(chosen, 1)
    if isinstance(items, np.ndarray):
        shuffled: Any = items[source]
    else:
        shuffled = [items[i] for i in source]
    own: dict[Any, set[Any]] = {}
    for g, i in zip(data.relevance_groups[complete], complete):
        own.setdefault(g, set()).add(_item_key(items[i]))
    groups = data.relevance_groups
    mismatched = np.zeros(data.n_samples, dtype=bool)
    for i in chosen:
        mismatched[i] = _item_key(shuffled[i]) not in own[groups[i]]
    views = {name: (shuffled if name == view else data[name]) for name in data.view_names}
    note = {"view": view, "fraction": fraction, "seed": seed, "source": source}
    out = MultiView(views, mask=data.mask.copy(), labels=data.labels, groups=data.groups,
                    ids=data.ids, meta={**data.meta, "shuffled": note})
    return out, mismatched
