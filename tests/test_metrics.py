"""Tests for jointspace.metrics against independent brute-force and scikit-learn references."""

from __future__ import annotations

import math
import statistics
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score, ndcg_score
from sklearn.model_selection import train_test_split

from jointspace.metrics import (
    canonical_correlations,
    correlation_sum,
    cross_modal_retrieval,
    first_positive_ranks,
    linear_probe_accuracy,
    retrieval_metrics,
)

# ----------------------------------------------------------------------------------------------
# Independent reference: full similarity matrix, explicit Python loops.


def _sim(x: list[float], y: list[float], metric: str) -> float:
    if metric == "dot":
        return sum(a * b for a, b in zip(x, y, strict=True))
    if metric == "euclidean":
        return -sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
    nx, ny = math.sqrt(sum(a * a for a in x)), math.sqrt(sum(b * b for b in y))
    if nx == 0 or ny == 0:
        return 0.0
    return sum(a * b for a, b in zip(x, y, strict=True)) / (nx * ny)


def brute_force(
    queries, gallery, qg=None, gg=None, ql=None, gl=None, ks=(1, 5, 10), metric="cosine"
):
    """Reference metrics; ties are broken pessimistically: sorting on (-similarity, relevant)."""
    queries, gallery = np.asarray(queries).tolist(), np.asarray(gallery).tolist()
    nq, ng = len(queries), len(gallery)
    if qg is None:
        qg, gg = list(range(nq)), list(range(ng))
    S = [[_sim(q, g, metric) for g in gallery] for q in queries]
    kmax = max(ks)
    firsts, aps, ndcgs, precs, recs, f1s = [], [], [], [], [], []
    for i in range(nq):
        positives = {j for j in range(ng) if qg[i] == gg[j]}
        relevant = positives if ql is None else {j for j in range(ng) if ql[i] == gl[j]}
        by_pos = sorted(range(ng), key=lambda j: (-S[i][j], j in positives))
        firsts.append(next(r for r, j in enumerate(by_pos, start=1) if j in positives))
        ranking = sorted(range(ng), key=lambda j: (-S[i][j], j in relevant))
        hits, ap = 0, 0.0
        for r, j in enumerate(ranking, start=1):
            if j in relevant:
                hits += 1
                ap += hits / r
        aps.append(ap / len(relevant))
        top = ranking[:kmax]
        h = sum(j in relevant for j in top)
        dcg = sum(1 / math.log2(r + 1) for r, j in enumerate(top, start=1) if j in relevant)
        idcg = sum(1 / math.log2(r + 1) for r in range(1, min(len(relevant), kmax) + 1))
        p, rc = h / kmax, h / len(relevant)
        ndcgs.append(dcg / idcg)
        precs.append(p)
        recs.append(rc)
        f1s.append(2 * p * rc / (p + rc) if p + rc > 0 else 0.0)
    out = {f"R@{k}": 100 * sum(f <= k for f in firsts) / nq for k in ks}
    out["MedR"] = statistics.median(firsts)
    out["MeanR"] = sum(firsts) / nq
    out["mAP"] = sum(aps) / nq
    out[f"nDCG@{kmax}"] = sum(ndcgs) / nq
    out[f"P@{kmax}"] = sum(precs) / nq
    out[f"Recall@{kmax}"] = sum(recs) / nq
    out[f"F1@{kmax}"] = sum(f1s) / nq
    return out


def assert_same(got: dict, want: dict, tol: float = 1e-12) -> None:
    assert list(got) == list(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=0, abs=tol), key


def image_caption_data(seed: int = 0, n_images: int = 30, dim: int = 16, n_classes: int = 4):
    """30 'images', each with 1-5 noisy 'captions' in shuffled order, plus class labels."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n_images, dim))
    image_ids = rng.permutation(n_images) + 100  # group ids need not be 0..n-1
    image_cls = rng.integers(0, n_classes, n_images)
    per_image = rng.integers(1, 6, n_images)
    owner = np.repeat(np.arange(n_images), per_image)
    captions = images[owner] + rng.normal(size=(owner.size, dim))
    perm = rng.permutation(owner.size)
    captions, owner = captions[perm], owner[perm]
    return {
        "images": images,
        "captions": captions,
        "image_groups": image_ids,
        "caption_groups": image_ids[owner],
        "image_labels": image_cls,
        "caption_labels": image_cls[owner],
    }


@pytest.fixture(scope="module")
def data():
    return image_caption_data()


# ----------------------------------------------------------------------------------------------
# retrieval_metrics vs references


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("direction", ["text→image", "image→text"])
@pytest.mark.parametrize("use_labels", [False, True])
def test_matches_brute_force(data, metric, direction, use_labels):
    q, g = ("captions", "images") if direction == "text→image" else ("images", "captions")
    qs, gs = q[:-1], g[:-1]  # "caption", "image"
    qg, gg = data[f"{qs}_groups"], data[f"{gs}_groups"]
    ql, gl = (data[f"{qs}_labels"], data[f"{gs}_labels"]) if use_labels else (None, None)
    got = retrieval_metrics(
        data[q],
        data[g],
        query_groups=qg,
        gallery_groups=gg,
        query_labels=ql,
        gallery_labels=gl,
        metric=metric,
        chunk_size=7,
    )
    want = brute_force(
        data[q],
        data[g],
        qg.tolist(),
        gg.tolist(),
        None if ql is None else ql.tolist(),
        None if gl is None else gl.tolist(),
        metric=metric,
    )
    assert_same(got, want)
    assert 0 < got["R@1"] < 100  # a non-trivial case


def test_paired_protocol_and_k_larger_than_gallery():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 6))
    b = a + 1.5 * rng.normal(size=(40, 6))
    ks = (1, 3, 60)
    got = retrieval_metrics(a, b, ks=ks, chunk_size=7)
    assert_same(got, brute_force(a, b, ks=ks))
    assert got["R@60"] == 100.0 and got["Recall@60"] == 1.0
    assert got["P@60"] == pytest.approx(1 / 60)


def test_ties_are_pessimistic_and_order_independent():
    rng = np.random.default_rng(2)
    a = rng.integers(-1, 2, size=(25, 3)).astype(float)  # many exact ties
    b = rng.integers(-1, 2, size=(30, 3)).astype(float)
    qg, gg = rng.integers(0, 6, 25), np.arange(30) % 6
    ql, gl = qg % 2, gg % 2
    kw = {"metric": "dot", "ks": (1, 4), "chunk_size": 4}
    got = retrieval_metrics(
        a, b, query_groups=qg, gallery_groups=gg, query_labels=ql, gallery_labels=gl, **kw
    )
    assert_same(
        got,
        brute_force(
            a, b, qg.tolist(), gg.tolist(), ql.tolist(), gl.tolist(), ks=(1, 4), metric="dot"
        ),
    )
    perm = rng.permutation(30)
    shuffled = retrieval_metrics(
        a,
        b[perm],
        query_groups=qg,
        gallery_groups=gg[perm],
        query_labels=ql,
        gallery_labels=gl[perm],
        **kw,
    )
    assert_same(shuffled, got)


def test_tie_with_a_negative_ranks_the_positive_second():
    q = np.array([[1.0, 0.0]])
    g = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    m = retrieval_metrics(q, g, query_groups=[7], gallery_groups=[1, 7, 2], ks=(1,))
    assert m["R@1"] == 0.0 and m["MedR"] == 2.0 and m["mAP"] == 0.5


def test_degenerate_embeddings_cannot_score_by_tying():
    """All gallery items alike: every query ties everything, so its positive ranks last."""
    rng = np.random.default_rng(5)
    m = retrieval_metrics(rng.normal(size=(50, 4)), np.ones((50, 4)), ks=(1, 10))
    assert m["R@1"] == 0.0 and m["R@10"] == 0.0 and m["MedR"] == 50.0


def test_zero_rows_cosine_do_not_give_nan():
    q = np.array([[0.0, 0.0], [1.0, 0.0]])
    g = np.array([[0.0, 0.0], [0.0, 2.0]])
    m = retrieval_metrics(q, g, ks=(1,))
    assert all(np.isfinite(v) for v in m.values())
    # query 0 has similarity 0 to everything (tie -> rank 2); query 1: 0 vs 0 -> tie -> rank 2
    assert m["MedR"] == 2.0 and m["R@1"] == 0.0


def test_against_sklearn_average_precision_and_ndcg(data):
    q, g = data["captions"], data["images"]
    ql, gl = data["caption_labels"], data["image_labels"]
    m = retrieval_metrics(
        q,
        g,
        query_groups=data["caption_groups"],
        gallery_groups=data["image_groups"],
        query_labels=ql,
        gallery_labels=gl,
        ks=(1, 5),
        chunk_size=7,
    )
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    sims = qn @ gn.T
    rel = (ql[:, None] == gl[None, :]).astype(int)
    ap = [average_precision_score(rel[i], sims[i]) for i in range(len(q))]
    assert m["mAP"] == pytest.approx(np.mean(ap), abs=1e-12)
    assert m["nDCG@5"] == pytest.approx(ndcg_score(rel, sims, k=5), abs=1e-12)
    # instance relevance (no labels), several positives per image query
    m2 = retrieval_metrics(
        g,
        q,
        query_groups=data["image_groups"],
        gallery_groups=data["caption_groups"],
        ks=(3,),
        chunk_size=4,
    )
    rel2 = (data["image_groups"][:, None] == data["caption_groups"][None, :]).astype(int)
    assert m2["nDCG@3"] == pytest.approx(ndcg_score(rel2, sims.T, k=3), abs=1e-12)
    ap2 = [average_precision_score(rel2[i], sims.T[i]) for i in range(len(g))]
    assert m2["mAP"] == pytest.approx(np.mean(ap2), abs=1e-12)


def test_hand_checked_3x3():
    # gallery = identity, so similarity[i, j] = queries[i, j]; positive of query i is item i.
    queries = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5]])
    m = retrieval_metrics(queries, np.eye(3), metric="dot", ks=(1, 2, 3))
    ranks = [2, 1, 2]
    assert m["R@1"] == pytest.approx(100 / 3)
    assert m["R@2"] == 100.0 and m["R@3"] == 100.0
    assert m["MedR"] == 2.0 and m["MeanR"] == pytest.approx(5 / 3)
    assert m["mAP"] == pytest.approx(np.mean([1 / r for r in ranks]))  # = 2/3
    assert m["nDCG@3"] == pytest.approx(np.mean([1 / math.log2(r + 1) for r in ranks]))
    assert m["P@3"] == pytest.approx(1 / 3)
    assert m["Recall@3"] == 1.0
    assert m["F1@3"] == pytest.approx(0.5)
    assert list(m) == [
        "R@1",
        "R@2",
        "R@3",
        "MedR",
        "MeanR",
        "mAP",
        "nDCG@3",
        "P@3",
        "Recall@3",
        "F1@3",
    ]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_perfect_embedding(metric):
    z = np.random.default_rng(3).normal(size=(50, 8))
    m = retrieval_metrics(z, z, metric=metric, chunk_size=16)
    assert m["R@1"] == 100.0 and m["MedR"] == 1.0 and m["MeanR"] == 1.0
    assert m["mAP"] == 1.0 and m["nDCG@10"] == 1.0 and m["Recall@10"] == 1.0


def test_chunk_size_does_not_change_results(data):
    kw = {
        "query_groups": data["image_groups"],
        "gallery_groups": data["caption_groups"],
        "query_labels": data["image_labels"],
        "gallery_labels": data["caption_labels"],
    }
    results = [
        retrieval_metrics(data["images"], data["captions"], chunk_size=c, **kw)
        for c in (1, 5, 1000)
    ]
    assert results[0] == results[1] == results[2]


def _peak_memory_of_retrieval(n: int, chunk_size: int) -> tuple[dict, int]:
    rng = np.random.default_rng(4)
    a = rng.normal(size=(n, 8))
    b = a + 0.5 * rng.normal(size=(n, 8))
    tracemalloc.start()
    try:
        m = retrieval_metrics(a, b, chunk_size=chunk_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return m, peak


def test_memory_stays_bounded_for_20k_by_20k():
    m, peak = _peak_memory_of_retrieval(20_000, chunk_size=256)
    assert peak < 200e6, f"peak {peak / 1e6:.0f} MB; a full matrix would need 3200 MB"
    assert 0 < m["R@1"] < m["R@10"] < 100 and m["MedR"] >= 1 and 0 < m["mAP"] < 1


@pytest.mark.slow
def test_memory_stays_bounded_for_100k_by_100k():
    """The issue's scale: a full 100,000² float64 matrix would need 80 GB."""
    m, peak = _peak_memory_of_retrieval(100_000, chunk_size=128)
    assert peak < 600e6, f"peak {peak / 1e6:.0f} MB"
    assert 0 < m["R@1"] < m["R@10"] < 100 and m["MedR"] >= 1 and 0 < m["mAP"] < 1


def test_cross_modal_retrieval_both_directions(data):
    out = cross_modal_retrieval(
        data["captions"],
        data["images"],
        groups_a=data["caption_groups"],
        groups_b=data["image_groups"],
        names=("text", "image"),
        ks=(1, 5),
        chunk_size=8,
    )
    assert list(out) == ["text→image", "image→text"]
    assert out["text→image"] == retrieval_metrics(
        data["captions"],
        data["images"],
        query_groups=data["caption_groups"],
        gallery_groups=data["image_groups"],
        ks=(1, 5),
        chunk_size=8,
    )
    assert out["image→text"] == retrieval_metrics(
        data["images"],
        data["captions"],
        query_groups=data["image_groups"],
        gallery_groups=data["caption_groups"],
        ks=(1, 5),
        chunk_size=8,
    )
    with pytest.raises(ValueError, match="names="):
        cross_modal_retrieval(data["images"], data["images"], names=("x", "x"))


# ----------------------------------------------------------------------------------------------
# Correlations and linear probe


def test_canonical_correlations_match_corrcoef():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 4))
    y = x * [1.0, 0.5, -0.3, 0.0] + rng.normal(size=(200, 4))
    r = canonical_correlations(x, y)
    want = [np.corrcoef(x[:, j], y[:, j])[0, 1] for j in range(4)]
    np.testing.assert_allclose(r, want, rtol=0, atol=1e-12)
    assert r.shape == (4,)


def test_canonical_correlations_three_views_is_mean_of_pairs():
    rng = np.random.default_rng(6)
    base = rng.normal(size=(100, 3))
    views = [base + s * rng.normal(size=(100, 3)) for s in (0.5, 1.0, 2.0)]
    pairs = [(0, 1), (0, 2), (1, 2)]
    want = np.mean(
        [[np.corrcoef(views[i][:, j], views[k][:, j])[0, 1] for j in range(3)] for i, k in pairs],
        axis=0,
    )
    np.testing.assert_allclose(canonical_correlations(*views), want, rtol=0, atol=1e-12)


def test_zero_variance_component_gives_zero():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(50, 3))
    y = x.copy()
    x[:, 1] = 0.1  # constant (the mean of 0.1s is not exactly 0.1 in floating point)
    y[:, 2] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = canonical_correlations(x, y)
    np.testing.assert_allclose(r, [1.0, 0.0, 0.0], atol=1e-12)


def test_correlation_sum():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(80, 5))
    y = x * [0.1, 2.0, 0.0, -1.0, 0.7] + rng.normal(size=(80, 5))
    r = np.sort(canonical_correlations(x, y))[::-1]
    assert correlation_sum(x, y) == pytest.approx(r.sum(), abs=1e-12)
    assert correlation_sum(x, y, top=2) == pytest.approx(r[0] + r[1], abs=1e-12)
    with pytest.raises(ValueError, match=r"top=6; expected None or an integer in \[1, 5\]"):
        correlation_sum(x, y, top=6)


def test_linear_probe_on_digits():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # also fails on a ConvergenceWarning
        acc = linear_probe_accuracy(Xtr, ytr, Xte, yte)
    assert 0.9 < acc <= 1.0
    with pytest.raises(ValueError, match="Z_train has 64 columns, Z_test has 10"):
        linear_probe_accuracy(Xtr, ytr, Xte[:, :10], yte)
    with pytest.raises(ValueError, match="y_test has shape"):
        linear_probe_accuracy(Xtr, ytr, Xte, yte[:-1])


# ----------------------------------------------------------------------------------------------
# Validation errors


def test_errors_dimension_and_shapes():
    z = np.zeros((10, 10))
    with pytest.raises(
        ValueError,
        match="queries has 10 columns, gallery has 12; expected the same embedding dimension",
    ):
        retrieval_metrics(z, np.zeros((10, 12)))
    with pytest.raises(ValueError, match=r"gallery has shape \(3, 2, 2\); expected a 2-D"):
        retrieval_metrics(np.zeros((3, 2)), np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="queries has 10 rows, gallery has 8; the paired"):
        retrieval_metrics(z, np.zeros((8, 10)))
    with pytest.raises(TypeError, match="queries has dtype <U1"):
        retrieval_metrics([["a"]], [[1.0]])


def test_errors_group_and_label_lengths():
    q, g = np.eye(4), np.eye(4)[:3]
    with pytest.raises(
        ValueError,
        match=r"gallery_groups has shape \(2,\); expected a 1-D array "
        r"of length 3 \(one entry per row of gallery\)",
    ):
        retrieval_metrics(q, g, query_groups=[0, 1, 2, 0], gallery_groups=[0, 1])
    with pytest.raises(ValueError, match="query_groups and gallery_groups must be given together"):
        retrieval_metrics(q, g, query_groups=[0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"query_labels has shape \(3,\)"):
        retrieval_metrics(
            q,
            g,
            query_groups=[0, 1, 2, 0],
            gallery_groups=[0, 1, 2],
            query_labels=[0, 0, 1],
            gallery_labels=[0, 1, 1],
        )


def test_errors_incomparable_ids():
    with pytest.raises(
        TypeError, match="query_groups and gallery_groups have dtypes int64 and <U1"
    ):
        retrieval_metrics(np.eye(2), np.eye(2), query_groups=[0, 1], gallery_groups=["0", "1"])


def test_errors_query_without_positive():
    q, g = np.eye(4), np.eye(4)[:3]
    with pytest.raises(ValueError, match="2 of 4 queries have no positive in the gallery"):
        retrieval_metrics(q, g, query_groups=["x", "y", "z", "w"], gallery_groups=["x", "y", "q"])
    with pytest.raises(ValueError, match="1 of 4 queries have a label that no gallery item has"):
        retrieval_metrics(
            q,
            g,
            query_groups=[0, 1, 2, 0],
            gallery_groups=[0, 1, 2],
            query_labels=[0, 1, 1, 5],
            gallery_labels=[0, 1, 1],
        )


def test_errors_non_finite_input():
    q = np.ones((3, 2))
    q[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"queries contains 1 non-finite values \(NaN or inf\)"):
        retrieval_metrics(q, np.ones((3, 2)))
    with pytest.raises(ValueError, match="gallery contains 1 non-finite"):
        retrieval_metrics(np.ones((3, 2)), [[1, 1], [1, np.inf], [0, 1]])
    with pytest.raises(ValueError, match="Z\\[1\\] contains 1 non-finite"):
        canonical_correlations(np.ones((3, 2)), q)


@pytest.mark.parametrize("ks", [(0, 5), (1, 2.5), (), (True,)])
def test_errors_bad_ks(ks):
    with pytest.raises(ValueError, match="expected a non-empty sequence of positive integers"):
        retrieval_metrics(np.eye(3), np.eye(3), ks=ks)


def test_errors_bad_chunk_size_and_metric():
    with pytest.raises(ValueError, match="chunk_size=0; expected an integer >= 1"):
        retrieval_metrics(np.eye(3), np.eye(3), chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size=2.0"):
        retrieval_metrics(np.eye(3), np.eye(3), chunk_size=2.0)
    with pytest.raises(ValueError, match="metric='l1'; expected one of"):
        retrieval_metrics(np.eye(3), np.eye(3), metric="l1")


def test_errors_correlation_inputs():
    with pytest.raises(ValueError, match="got 1 view"):
        canonical_correlations(np.eye(3))
    with pytest.raises(ValueError, match=r"Z\[1\] has shape \(3, 2\), Z\[0\] has \(3, 3\)"):
        canonical_correlations(np.eye(3), np.ones((3, 2)))


def test_first_positive_ranks_agree_with_retrieval_metrics():
    rng = np.random.default_rng(11)
    q, g = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    g[7] = g[3]  # an exact tie between a positive and a non-positive candidate
    groups = np.arange(50) // 2
    for metric in ("cosine", "dot", "euclidean"):
        ranks = first_positive_ranks(
            q, g, query_groups=groups, gallery_groups=groups, metric=metric, chunk_size=7
        )
        stats = retrieval_metrics(
            q, g, query_groups=groups, gallery_groups=groups, metric=metric, ks=(1, 5, 10)
        )
        for k in (1, 5, 10):
            assert stats[f"R@{k}"] == pytest.approx(100 * np.mean(ranks <= k))
        assert stats["MedR"] == np.median(ranks) and stats["MeanR"] == pytest.approx(ranks.mean())
        sims = {"cosine": _cos(q, g), "dot": q @ g.T, "euclidean": -_sqdist(q, g)}[metric]
        for i in (0, 3, 6, 49):  # brute force: 1 + non-positives scoring >= the best positive
            pos = groups == groups[i]
            assert ranks[i] == 1 + np.sum(sims[i][~pos] >= sims[i][pos].max())


def _cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return a @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T


def _sqdist(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
