"""Who counts as a positive of a retrieval query: relevance protocols as group ids, and the
ceiling that identical captions impose on the instance protocol.

Every protocol is expressed as (n,) relevance ids of paired rows (row i: item i of view a and
of view b): a gallery item is a positive of a query iff it has the query's id. These ids go
into :func:`~jointspace.metrics.retrieval_metrics` / :func:`cross_modal_retrieval` as
``query_groups`` / ``gallery_groups``, so every protocol is ranked by the same code (one tie
rule):

- ``"instance"``: the same item (a MultiView's ``groups``, else row i pairs with row i only);
- ``"caption"``: the same caption after :func:`normalize_caption`, or the same item
  (:func:`caption_groups`);
- ``"label"``: the same class label.

Under instance relevance a caption shared by several images (161 OpenClipArt test images are
all titled "gramastar. keywords: stars, magick, geometry") cannot single out its own image, so
no model can reach R@1 = 100: :func:`instance_ceiling` gives the best figures attainable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from jointspace.metrics.checks import as_vector
from jointspace.metrics.retrieval import _check_ks

__all__ = [
    "RELEVANCE",
    "caption_groups",
    "instance_ceiling",
    "instance_ceiling_ranks",
    "normalize_caption",
]

#: relevance protocol → what makes a gallery item a positive of a query
RELEVANCE = {
    "caption": "same caption, ignoring case and spacing, or same item",
    "instance": "same item (groups, else the paired row)",
    "label": "same class label",
}


def normalize_caption(text: str) -> str:
    """``text`` lowercased with runs of whitespace collapsed to one space and ends stripped:
    ``"A  Star\\n"`` → ``"a star"``."""
    return " ".join(str(text).lower().split())


def _first_seen_codes(keys: np.ndarray) -> np.ndarray:
    """(n,) int64 codes of ``keys`` (n,): equal keys get equal codes, numbered 0, 1, … in
    order of first appearance."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.empty(first.size, dtype=np.int64)
    order[np.argsort(first, kind="stable")] = np.arange(first.size)
    return order[inverse.reshape(-1)]


def caption_groups(texts: Sequence[str], groups: ArrayLike | None = None) -> np.ndarray:
    """Relevance ids of caption relevance: (n,) int64, numbered 0, 1, … in order of first
    appearance.

    Args:
        texts: n captions. Two rows get the same id when their captions are equal after
            :func:`normalize_caption` (case and whitespace ignored).
        groups: optional (n,) instance ids (a MultiView's ``groups``: byte-identical images,
            several captions of one image). Rows sharing a group then share an id too, so an
            image's own row stays a positive whatever its caption; the ids are the connected
            components of "same caption or same group" (transitive: if rows 1 and 2 show one
            image under captions x and y, a third row captioned y is a positive of caption x).
    Returns:
        (n,) int64 ids; pass them as both ``query_groups`` and ``gallery_groups``.
    Raises:
        ValueError: ``texts`` empty or not strings, ``groups`` not of shape (n,).
    """
    items = list(texts) if not isinstance(texts, str) else None
    if not items or not all(isinstance(t, str) for t in items):
        raise ValueError("texts must be a non-empty sequence of strings (one caption per row)")
    n = len(items)
    caption_ids = _first_seen_codes(np.array([normalize_caption(t) for t in items], dtype=object))
    if groups is None:
        return caption_ids
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    group_ids = _first_seen_codes(as_vector(groups, "groups", n, "texts"))
    # a bipartite graph: row i — caption node (n + caption) — row j, row i — group node — row j
    n_nodes = n + int(caption_ids.max()) + 1 + int(group_ids.max()) + 1
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([n + caption_ids, n + int(caption_ids.max()) + 1 + group_ids])
    graph = coo_matrix((np.ones(2 * n), (rows, cols)), shape=(n_nodes, n_nodes))
    _, component = connected_components(graph, directed=False)
    return _first_seen_codes(component[:n])


def _pair_counts(twins: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct (twin class, group) pairs of the rows: their class, group, row count, and the
    pair index of each row."""
    pairs, row_pair, counts = np.unique(
        np.stack([twins, groups], axis=1), axis=0, return_inverse=True, return_counts=True
    )
    return pairs[:, 0], pairs[:, 1], counts, row_pair.reshape(-1)


def instance_ceiling_ranks(
    groups: ArrayLike, twins: ArrayLike, *, side: Literal["query", "gallery"]
) -> np.ndarray:
    """(n,) int64: the best rank of each query's first instance positive that any model can
    reach when rows with equal ``twins`` ids are indistinguishable on one side.

    The rows are paired (row i is query i and gallery item i, as in
    :func:`~jointspace.metrics.cross_modal_retrieval` with ``groups_a = groups_b = groups``);
    ``groups`` (n,) are the instance ids (the positives of query i are the gallery items of
    group ``groups[i]``) and ``twins`` (n,) mark rows whose captions are identical, e.g.
    ``caption_groups(texts)``. Any model embeds identical captions identically, hence:

    - ``side="query"`` (captions are the queries, e.g. text→image): queries of one caption
      share one ranking. The best ranking lists one item of each of their groups first, the
      group with most of these queries first: the queries of the p-th group get rank p. This
      one ranking maximises R@K for every K at once and minimises the mean and median rank.
    - ``side="gallery"`` (captions are the gallery, e.g. image→text): identical captions have
      equal similarity to every query, so they tie, and ties count against the query (the
      pessimistic rule of :mod:`jointspace.metrics.retrieval`): with its best caption block
      ranked first, query i gets rank 1 + the rows of that block outside its group, minimised
      over the blocks that hold a row of its group. This is the rank the metrics report for a
      perfect model; breaking ties at random would give an expected rank half-way.

    Returns the ranks ``r`` (n,); ``instance_ceiling`` turns them into R@K, MedR and MeanR.
    Raises:
        ValueError: ``groups`` and ``twins`` not 1-D of one length n >= 1, a bad ``side``.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"groups has shape {g.shape}; expected (n,) with n >= 1")
    n = g.size
    t = as_vector(twins, "twins", n, "groups")
    if side not in ("query", "gallery"):
        raise ValueError(f"side={side!r}; expected 'query' or 'gallery'")
    g, t = _first_seen_codes(g), _first_seen_codes(t)
    cls, grp, count, row_pair = _pair_counts(t, g)
    if side == "query":
        # within each class, pairs by decreasing count (ties: any order, same rank multiset)
        order = np.lexsort((-count, cls))
        start = np.searchsorted(cls[order], cls[order], side="left")
        position = np.empty(cls.size, dtype=np.int64)
        position[order] = np.arange(cls.size) - start + 1
        return position[row_pair]
    class_size = np.bincount(t, minlength=int(cls.max()) + 1)
    outsiders = class_size[cls] - count  # rows of the block outside the pair's group
    best = np.full(int(grp.max()) + 1, n, dtype=np.int64)
    np.minimum.at(best, grp, outsiders)
    return 1 + best[g]


def instance_ceiling(
    groups: ArrayLike,
    twins: ArrayLike,
    *,
    side: Literal["query", "gallery"],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """The best instance-relevance figures any model can reach when rows with equal ``twins``
    are indistinguishable on ``side``: ``R@K`` for each K in ``ks`` (percent), ``MedR`` and
    ``MeanR``, as :func:`~jointspace.metrics.retrieval_metrics` reports them, from the ranks of
    :func:`instance_ceiling_ranks` (same arguments: ``groups``, ``twins`` (n,))."""
    ks_sorted = _check_ks(ks)
    ranks = instance_ceiling_ranks(groups, twins, side=side)
    out = {f"R@{k}": float(100.0 * np.mean(ranks <= k)) for k in ks_sorted}
    out["MedR"] = float(np.median(ranks))
    out["MeanR"] = float(np.mean(ranks))
    return out
