"""The compressed engine (ivfpq) beyond the shared index tests (tests/test_index.py runs
those on it too): it holds codes, not vectors; its scores are the exact inner products read
back from the table; it reopens from its saved codes; it retrains as the collection grows;
large filters go through the codes."""

from __future__ import annotations

import numpy as np
import pytest
from test_index import brute_force, clustered

from jointspace.index import Index
from jointspace.index.compressed import CompressedEngine, subquantizers, trainable

PARAMS = {"nlist": 8, "nprobe": 8, "m": 8, "nbits": 4, "rerank": 10}


def build(path, n=2000, d=32, params=PARAMS):
    ix = Index.create(path, {"images": {"view": "image", "dim": d}}, engine="ivfpq",
                      engine_params=params)
    x = clustered(n, d)
    labels = [["cat", "dog", "bird"][i % 3] for i in range(n)]
    ix.collection().add([f"item{i}" for i in range(n)], x, [{"label": b} for b in labels])
    return ix, x, np.array(labels)


def test_it_holds_codes_not_vectors_and_returns_exact_scores(tmp_path):
    ix, x, _ = build(tmp_path / "ix")
    c = ix.collection()
    assert c.engine.active_kind == "ivfpq" and len(c.engine.vectors) == 0
    assert c.engine.memory_bytes() < 0.5 * x.nbytes  # 8 code bytes + 8 key bytes vs 128
    q = clustered(30, 32, seed=7)
    hits = c.search(q, k=10)
    for query, row in zip(q, hits):
        keys = [h["key"] for h in row]
        np.testing.assert_allclose([h["score"] for h in row], x[keys] @ query, rtol=1e-5)
        assert [h["score"] for h in row] == sorted((h["score"] for h in row), reverse=True)
    _, want = brute_force(q, x, np.arange(len(x)), 10)

    def recall(hits):
        return np.mean([len({h["key"] for h in row} & set(w)) / 10
                        for row, w in zip(hits, want)])

    c.engine.params["rerank"] = 40  # more candidates re-ranked: nearer the exact top 10
    assert recall(hits) >= 0.75 and recall(c.search(q, k=10)) >= max(0.95, recall(hits))
    np.testing.assert_array_equal(c.vectors_of([5, 1999, 5]), x[[5, 1999, 5]])
    batches = list(c.vector_batches(700))
    assert [len(k) for k, _ in batches] == [700, 700, 600]
    keys = np.concatenate([k for k, _ in batches])
    np.testing.assert_array_equal(np.concatenate([v for _, v in batches]), x[keys])


def test_it_reopens_from_its_saved_codes_without_training(tmp_path, monkeypatch):
    ix, x, _ = build(tmp_path / "ix")
    q = clustered(5, 32, seed=8)
    want = ix.collection().search(q, k=5)
    ix.save_engines()

    def no_training(self, n):
        raise AssertionError("trained again")

    monkeypatch.setattr(CompressedEngine, "train", no_training)
    for read_only in (False, True):
        c = Index.open(tmp_path / "ix", read_only=read_only).collection()
        assert c.engine.active_kind == "ivfpq" and c.search(q, k=5) == want
    ix.collection().delete(["item0"])  # a new table version: the saved codes are stale
    with pytest.raises(AssertionError, match="trained again"):
        Index.open(tmp_path / "ix").collection()


def test_it_trains_when_the_collection_is_large_enough_and_again_when_it_doubles(tmp_path):
    ix, x, _ = build(tmp_path / "ix", n=300)
    c = ix.collection()
    assert not trainable(c.engine.params, 300) and c.engine.active_kind == "exact"
    more = clustered(3000, 32, seed=2)
    c.add([f"more{i}" for i in range(400)], more[:400])
    assert c.engine.active_kind == "ivfpq" and c.engine._trained_on == 700
    c.add([f"more{i}" for i in range(400, 1000)], more[400:1000])
    assert c.engine._trained_on == 700 and len(c) == 1300
    c.add([f"more{i}" for i in range(1000, 1500)], more[1000:1500])
    assert c.engine._trained_on == 1800 and len(c) == 1800
    top = c.search(more[1200], k=1)[0][0]
    assert top["id"] == "more1200" and top["score"] == pytest.approx(1.0, abs=1e-5)


def test_a_filter_passing_many_items_goes_through_the_codes(tmp_path, monkeypatch):
    ix, x, labels = build(tmp_path / "ix")
    c = ix.collection()
    q = clustered(10, 32, seed=9)
    exact = c.search(q, k=5, filter={"label": "dog"})  # 667 items: read back, searched exactly
    keys = np.flatnonzero(labels == "dog")
    _, want = brute_force(q, x[keys], keys, 5)
    assert [[h["key"] for h in row] for row in exact] == want.tolist()
    monkeypatch.setattr("jointspace.index.compressed.EXACT_FILTER_LIMIT", 100)
    coded = c.search(q, k=5, filter={"label": "dog"})
    assert all(h["label"] == "dog" for row in coded for h in row)
    for query, row in zip(q, coded):
        np.testing.assert_allclose([h["score"] for h in row],
                                   x[[h["key"] for h in row]] @ query, rtol=1e-5)
    overlap = np.mean([len({h["key"] for h in a} & {h["key"] for h in b}) / 5
                       for a, b in zip(coded, exact)])
    assert overlap >= 0.8


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="m=5 does not divide the vector dimension 32"):
        subquantizers({"m": 5}, 32)
    assert subquantizers({"m": 0}, 256) == 64 and subquantizers({"m": 0}, 100) == 25
    with pytest.raises(ValueError, match="engine 'ivfpq' has no parameter ef_search"):
        Index.create("/nonexistent/never", {"images": {"view": "image", "dim": 8}},
                     engine="ivfpq", engine_params={"ef_search": 3})
    with pytest.raises(ValueError, match="use make_engine"):
        from jointspace.index import VectorEngine

        VectorEngine(8, "ivfpq")
