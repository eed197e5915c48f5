"""Cross-modal retrieval metrics.

Retrieval is evaluated in chunks of queries so that the full ``nq x ng`` similarity matrix is
never held in memory; peak memory is about ``20 * chunk_size * ng`` bytes.

Tie rule (used by every ranking metric): among items with equal similarity the irrelevant ones
are placed first, so the rank of a relevant item is 1 + the number of irrelevant items with a
similarity *greater than or equal* to its own (+ the relevant ones above it). Ties are thus
resolved pessimistically: a degenerate embedding (all queries or all gallery items alike, a
zero vector) cannot score well by tying, and the result does not depend on gallery order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from jointspace.metrics.checks import as_matrix, as_vector

__all__ = ["cross_modal_retrieval", "first_positive_ranks", "retrieval_metrics"]

_METRICS = ("cosine", "dot", "euclidean")
Ids = ArrayLike | None


def _encode(a: np.ndarray, b: np.ndarray, names: str) -> tuple[np.ndarray, np.ndarray]:
    """Map two id arrays to shared integer codes so that equal ids get equal codes."""
    if (a.dtype.kind in "OSU") != (b.dtype.kind in "OSU"):
        raise TypeError(f"{names} have dtypes {a.dtype} and {b.dtype}; expected comparable ids")
    try:
        _, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    except TypeError as err:
        raise TypeError(f"{names} could not be compared: {err}") from None
    codes = codes.reshape(-1)
    return codes[: len(a)], codes[len(a) :]


def _check_ks(ks: Sequence[int]) -> list[int]:
    """Validate ``ks`` (non-empty, positive ints) and return them sorted without duplicates."""
    ks_list = list(ks) if not isinstance(ks, int | np.integer) else [ks]
    bad = [k for k in ks_list if isinstance(k, bool) or not isinstance(k, int | np.integer)]
    if not ks_list or bad or min(ks_list) < 1:
        raise ValueError(f"ks={ks!r}; expected a non-empty sequence of positive integers")
    return sorted({int(k) for k in ks_list})


def _paired_ids(a: ArrayLike | None, b: ArrayLike | None, what: str, nq: int, ng: int) -> tuple:
    """Validate an optional (query, gallery) pair of id arrays and return integer codes."""
    if (a is None) != (b is None):
        raise ValueError(f"query_{what} and gallery_{what} must be given together or both be None")
    if a is None:
        return None, None
    qa = as_vector(a, f"query_{what}", nq, "queries")
    ga = as_vector(b, f"gallery_{what}", ng, "gallery")
    return _encode(qa, ga, f"query_{what} and gallery_{what}")


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _similarities(q: np.ndarray, g: np.ndarray, g_sqnorm: np.ndarray | None) -> np.ndarray:
    """Similarities of a chunk of (prepared) queries to the whole gallery, shape (c, ng)."""
    sims = q @ g.T
    if g_sqnorm is not None:  # euclidean: -||q - g||^2 = 2 q.g - ||q||^2 - ||g||^2
        sims *= 2.0
        sims -= np.einsum("ij,ij->i", q, q)[:, None]
        sims -= g_sqnorm[None, :]
    return sims


def _count_at_least(sorted_rows: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each i, how many entries of ``sorted_rows[rows[i]]`` (ascending) are >= ``values[i]``.

    A branchless binary search vectorised over all i (about log2(n) numpy passes, no loop per
    query): ``count`` grows by decreasing powers of two while the entry before it is < value.
    """
    n = sorted_rows.shape[1]
    flat, base = sorted_rows.ravel(), rows * n - 1
    count = np.zeros(rows.size, dtype=np.int64)  # entries < value found so far
    for step in 1 << np.arange(int(n).bit_length() - 1, -1, -1):
        cand = count + step
        ok = flat[base + np.minimum(cand, n)] < values  # overshoot past n is clipped below
        np.copyto(count, cand, where=ok)
    return n - np.minimum(count, n)


def _ranking_stats(sims: np.ndarray, rel: np.ndarray, kmax: int) -> tuple[np.ndarray, ...]:
    """Per-query AP, DCG@kmax and hits@kmax for a chunk: ``sims`` and ``rel`` are (c, ng).

    With the pessimistic tie rule, the m-th most similar relevant item of a query sits at position
    ``m + I``, where ``I`` counts the irrelevant items with greater or equal similarity; its
    precision is ``m / (m + I)``. The relevant similarities of each row are sorted in a padded
    (c, max #relevant) array and ``I`` is found in the sorted irrelevant similarities of the row.
    """
    c = sims.shape[0]
    irrelevant = np.where(rel, -np.inf, sims)
    irrelevant.sort(axis=1)
    rows, cols = np.nonzero(rel)  # rows ascending
    n_rel = np.bincount(rows, minlength=c)
    slot = np.arange(rows.size) - (np.cumsum(n_rel) - n_rel)[rows]
    padded = np.full((c, int(n_rel.max())), np.inf)
    padded[rows, slot] = -sims[rows, cols]
    padded.sort(axis=1)  # each row: decreasing similarity, then +inf padding
    values = -padded[np.arange(padded.shape[1]) < n_rel[:, None]]  # row-major, like rows
    m = slot + 1  # rank of the item among the row's relevant items
    position = m + _count_at_least(irrelevant, rows, values)  # 1-based
    ap = np.bincount(rows, weights=m / position, minlength=c) / n_rel
    top = position <= kmax
    hits = np.bincount(rows[top], minlength=c).astype(np.float64)
    dcg = np.bincount(rows[top], weights=1.0 / np.log2(position[top] + 1.0), minlength=c)
    return ap, dcg, hits


def _prepare(
    queries: ArrayLike,
    gallery: ArrayLike,
    query_groups: ArrayLike | None,
    gallery_groups: ArrayLike | None,
    metric: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Checked and prepared inputs of a ranking: queries (nq, k) and gallery (ng, k) as
    normalised for ``metric``, the gallery's squared norms (euclidean only), and the query and
    gallery group codes (the paired protocol without groups).

    Raises:
        ValueError: shapes, metric, or a query without a positive.
    """
    q = as_matrix(queries, "queries")
    g = as_matrix(gallery, "gallery")
    nq, ng = q.shape[0], g.shape[0]
    if q.shape[1] != g.shape[1]:
        raise ValueError(
            f"queries has {q.shape[1]} columns, gallery has {g.shape[1]}; "
            "expected the same embedding dimension"
        )
    if metric not in _METRICS:
        raise ValueError(f"metric={metric!r}; expected one of {_METRICS}")

    qg, gg = _paired_ids(query_groups, gallery_groups, "groups", nq, ng)
    if qg is None:
        if nq != ng:
            raise ValueError(
                f"queries has {nq} rows, gallery has {ng}; the paired protocol (no groups) "
                "needs equal counts, otherwise pass query_groups and gallery_groups"
            )
        qg = gg = np.arange(nq)
    n_missing = int(np.count_nonzero(~np.isin(qg, gg)))
    if n_missing:
        raise ValueError(
            f"{n_missing} of {nq} queries have no positive in the gallery (no gallery item "
            "shares their group); expected at least one positive per query"
        )
    if metric == "cosine":
        q, g = _l2_normalise(q), _l2_normalise(g)
    g_sqnorm = np.einsum("ij,ij->i", g, g) if metric == "euclidean" else None
    return q, g, g_sqnorm, qg, gg


def _check_chunk_size(chunk_size: int) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise TypeError(f"chunk_size={chunk_size!r}; expected an integer >= 1")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; expected an integer >= 1")
    return int(chunk_size)


def _first_ranks(sims: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """(c,) 1-based rank of each row's best positive: 1 + the irrelevant items scoring at
    least as high (the pessimistic tie rule). ``sims``, ``pos``: (c, ng)."""
    best = np.max(sims, axis=1, where=pos, initial=-np.inf)
    return 1 + np.count_nonzero((sims >= best[:, None]) & ~pos, axis=1)


def first_positive_ranks(
    queries: ArrayLike,
    gallery: ArrayLike,
    *,
    query_groups: ArrayLike | None = None,
    gallery_groups: ArrayLike | None = None,
    metric: str = "cosine",
    chunk_size: int = 1024,
) -> np.ndarray:
    """(nq,) int: the 1-based rank of each query's first instance positive, as
    :func:`retrieval_metrics` ranks (same arguments, tie rule and chunking); R@K is the
    share of these ranks ≤ K."""
    q, g, g_sqnorm, qg, gg = _prepare(queries, gallery, query_groups, gallery_groups, metric)
    chunk_size = _check_chunk_size(chunk_size)
    first = np.empty(q.shape[0], dtype=np.int64)
    for s in range(0, q.shape[0], chunk_size):
        e = min(s + chunk_size, q.shape[0])
        first[s:e] = _first_ranks(_similarities(q[s:e], g, g_sqnorm), qg[s:e, None] == gg[None, :])
    return first


def retrieval_metrics(
    queries: ArrayLike,
    gallery: ArrayLike,
    *,
    query_groups: ArrayLike | None = None,
    gallery_groups: ArrayLike | None = None,
    query_labels: ArrayLike | None = None,
    gallery_labels: ArrayLike | None = None,
    ks: Sequence[int] = (1, 5, 10),
    metric: str = "cosine",
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Retrieval metrics of ``queries`` (nq, k) against ``gallery`` (ng, k).

    Similarity ``metric``: ``"cosine"`` (rows L2-normalised first; all-zero rows stay zero),
    ``"dot"``, or ``"euclidean"`` (negative squared Euclidean distance).

    Instance positives: gallery item j is a positive of query i iff
    ``query_groups[i] == gallery_groups[j]`` (several positives per query are allowed, e.g.
    five captions of one image sharing a group id). With both groups None the paired protocol
    is used: nq must equal ng and the positive of query i is gallery item i. Other relevance
    protocols are other ids (same caption, same label: :mod:`jointspace.metrics.relevance`),
    ranked by this same code. Every query needs
    at least one positive. Relevance for the ranking metrics (mAP, nDCG@K, P@K, Recall@K, F1@K)
    is "same label" if ``query_labels`` (nq,) and ``gallery_labels`` (ng,) are given, otherwise
    the instance positives.

    Ranks follow the pessimistic tie rule of the module docstring. Queries are processed
    ``chunk_size`` at a time, so at most a (chunk_size, ng) similarity block is in memory.

    Returns a dict of floats: ``R@K`` for each K in ``ks`` (percentage 0-100 of queries whose
    first instance positive has rank <= K); ``MedR`` and ``MeanR`` (median and mean 1-based
    rank of the first instance positive); ``mAP`` (mean average precision over the full
    ranking, 0-1); and for the largest K: ``nDCG@K`` (binary gains, 1/log2(rank + 1) discount,
    ideal DCG from min(#relevant, K)), ``P@K`` (relevant in top K / K), ``Recall@K`` (relevant
    in top K / #relevant) and ``F1@K`` (per-query harmonic mean of P@K and Recall@K,
    averaged over queries).
    """
    ks_sorted = _check_ks(ks)
    kmax = ks_sorted[-1]
    q, g, g_sqnorm, qg, gg = _prepare(queries, gallery, query_groups, gallery_groups, metric)
    chunk_size = _check_chunk_size(chunk_size)
    nq, ng = q.shape[0], g.shape[0]
    ql, gl = _paired_ids(query_labels, gallery_labels, "labels", nq, ng)
    if ql is not None:
        n_missing = int(np.count_nonzero(~np.isin(ql, gl)))
        if n_missing:
            raise ValueError(
                f"{n_missing} of {nq} queries have a label that no gallery item has; "
                "expected at least one relevant gallery item per query"
            )

    first = np.empty(nq, dtype=np.int64)
    ap, dcg, hits = (np.empty(nq) for _ in range(3))
    for s in range(0, nq, chunk_size):
        e = min(s + chunk_size, nq)
        sims = _similarities(q[s:e], g, g_sqnorm)
        pos = qg[s:e, None] == gg[None, :]
        first[s:e] = _first_ranks(sims, pos)
        rel = pos if ql is None else ql[s:e, None] == gl[None, :]
        del pos
        ap[s:e], dcg[s:e], hits[s:e] = _ranking_stats(sims, rel, kmax)
        del sims, rel

    rel_codes, rel_gallery = (qg, gg) if ql is None else (ql, gl)
    counts = np.bincount(rel_gallery, minlength=int(rel_codes.max()) + 1)
    n_rel = counts[rel_codes].astype(np.float64)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, kmax + 2)))])
    precision = hits / kmax
    recall = hits / n_rel
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(nq), where=denom > 0)

    out = {f"R@{k}": float(100.0 * np.mean(first <= k)) for k in ks_sorted}
    out["MedR"] = float(np.median(first))
    out["MeanR"] = float(np.mean(first))
    out["mAP"] = float(np.mean(ap))
    out[f"nDCG@{kmax}"] = float(np.mean(dcg / ideal[np.minimum(n_rel, kmax).astype(np.int64)]))
    out[f"P@{kmax}"] = float(np.mean(precision))
    out[f"Recall@{kmax}"] = float(np.mean(recall))
    out[f"F1@{kmax}"] = float(np.mean(f1))
    return out


def cross_modal_retrieval(
    za: ArrayLike,
    zb: ArrayLike,
    *,
    groups_a: ArrayLike | None = None,
    groups_b: ArrayLike | None = None,
    labels_a: ArrayLike | None = None,
    labels_b: ArrayLike | None = None,
    names: tuple[str, str] = ("a", "b"),
    **kwargs,
) -> dict[str, dict[str, float]]:
    """Retrieval metrics in both directions between ``za`` (na, k) and ``zb`` (nb, k).

    Returns ``{"<a>→<b>": retrieval_metrics(za, zb, ...), "<b>→<a>": retrieval_metrics(zb, za,
    ...)}`` with the names taken from ``names`` (e.g. ``("text", "image")`` gives
    ``"text→image"`` and ``"image→text"``). ``kwargs`` (``ks``, ``metric``, ``chunk_size``) are
    passed on to :func:`retrieval_metrics`.
    """
    if len(names) != 2 or not all(isinstance(n, str) for n in names) or names[0] == names[1]:
        raise ValueError(f"names={names!r}; expected two different strings")
    a, b = names

    def run(q: ArrayLike, g: ArrayLike, qg: Ids, gg: Ids, ql: Ids, gl: Ids) -> dict[str, float]:
        ids = {"query_groups": qg, "gallery_groups": gg, "query_labels": ql, "gallery_labels": gl}
        return retrieval_metrics(q, g, **ids, **kwargs)

    return {
        f"{a}→{b}": run(za, zb, groups_a, groups_b, labels_a, labels_b),
        f"{b}→{a}": run(zb, za, groups_b, groups_a, labels_b, labels_a),
    }
