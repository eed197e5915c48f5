"""The index store: LanceDB collections searched through FAISS, checked against brute force
in numpy, across reopening, writes, filters, versions and a killed writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from jointspace.index import Index, VectorEngine, filter_sql
from jointspace.index.compressed import trainable


def clustered(n: int, d: int, seed: int = 0, centers: int = 20) -> np.ndarray:
    """Unit vectors around a few centres (like real embeddings, not uniform noise)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d))
    x = c[rng.integers(0, centers, n)] + 0.5 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(queries: np.ndarray, vectors: np.ndarray, keys: np.ndarray, k: int):
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), keys[order]


# the compressed engine under the same tests as the exact one: small cells and codebooks, so
# that collections of tens of items are already searched through codes and re-ranked
IVFPQ = {"engine": "ivfpq",
         "engine_params": {"nlist": 4, "nprobe": 4, "m": 8, "nbits": 4, "rerank": 20}}


@pytest.fixture(params=["exact", "ivfpq"])
def engine(request, monkeypatch):
    """The engine options of Index.create: the default (exact), or ivfpq trained from 16
    items on."""
    if request.param == "exact":
        return {}
    monkeypatch.setattr("jointspace.index.compressed.TRAIN_PER_CENTROID", 1)
    return IVFPQ


def make_index(path, n=300, d=16, **engine):
    ix = Index.create(path, {"images": {"view": "image", "dim": d}}, fingerprint="fp", **engine)
    x = clustered(n, d)
    meta = [{"label": ["cat", "dog", "bird"][i % 3], "path": f"{i}.png", "size": i}
            for i in range(n)]
    ix.collection().add([f"item{i}" for i in range(n)], x, meta)
    return ix, x


def test_exact_search_matches_brute_force_and_survives_reopening(tmp_path, engine):
    ix, x = make_index(tmp_path / "ix", **engine)
    assert ix.collection().engine.active_kind == engine.get("engine", "exact")
    q = clustered(7, 16, seed=1)
    hits = ix.collection().search(q, k=5)
    want_scores, want_keys = brute_force(q, x, np.arange(len(x)), 5)
    assert [[h["key"] for h in row] for row in hits] == want_keys.tolist()
    np.testing.assert_allclose([[h["score"] for h in row] for row in hits], want_scores,
                               rtol=1e-5)
    again = Index.open(tmp_path / "ix").collection("images").search(q, k=5)
    assert again == hits
    assert hits[0][0]["id"] == f"item{want_keys[0, 0]}"
    assert hits[0][0]["path"] == f"{want_keys[0, 0]}.png"


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivfpq"])
def test_ann_engines_find_the_true_neighbours_and_keep_in_step_with_writes(tmp_path, kind):
    params = {"ivf": {"nprobe": 8}, "hnsw": {},
              "ivfpq": {"nlist": 16, "nprobe": 8, "nbits": 4, "m": 4}}[kind]
    ix, x = make_index(tmp_path / "ix", n=2000, engine=kind, engine_params=params)
    c = ix.collection()
    assert c.engine.active_kind == kind
    q = x[:50] + 0.01
    _, want = brute_force(q, x, np.arange(len(x)), 10)
    got = [[h["key"] for h in row] for row in c.search(q, k=10)]
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.95
    c.delete([f"item{i}" for i in range(0, 50)])  # the queries' own items go
    got = [[h["key"] for h in row] for row in c.search(q, k=10)]
    assert not {k for row in got for k in row} & set(range(50))
    c.add(["fresh"], x[:1])
    assert c.search(x[:1], k=1)[0][0]["id"] == "fresh"
    ix.save_engines()
    reopened = Index.open(tmp_path / "ix").collection()
    assert reopened.engine.active_kind == kind and len(reopened) == 1951
    assert reopened.search(x[:1], k=1)[0][0]["id"] == "fresh"


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_filtered_search_is_the_true_top_k_among_the_items_that_pass(tmp_path, kind,
                                                                     monkeypatch):
    monkeypatch.setattr("jointspace.index.compressed.TRAIN_PER_CENTROID", 1)
    ix, x = make_index(tmp_path / "ix", n=3000, **(IVFPQ if kind == "ivfpq" else
                                                   {"engine": kind}))
    assert ix.collection().engine.active_kind == kind
    c = ix.collection()
    labels = np.array([["cat", "dog", "bird"][i % 3] for i in range(len(x))])
    q = clustered(20, 16, seed=3)
    for where, mask in [({"label": "dog"}, labels == "dog"),
                        ("label IN ('cat', 'bird') AND size < 500",
                         (labels != "dog") & (np.arange(len(x)) < 500)),
                        ({"id": ["item5", "item7"]}, np.isin(np.arange(len(x)), [5, 7]))]:
        keys = np.flatnonzero(mask)
        want_scores, want_keys = brute_force(q, x[keys], keys, 10)
        hits = c.search(q, k=10, filter=where)
        assert [[h["key"] for h in row] for row in hits] == want_keys.tolist()
        assert all(h["label"] == labels[h["key"]] for row in hits for h in row)


def test_add_upsert_delete_and_versions(tmp_path, engine):
    ix, x = make_index(tmp_path / "ix", n=30, **engine)
    c = ix.collection()
    v0 = c.version
    with pytest.raises(ValueError, match="already holds id"):
        c.add(["item3"], x[:1])
    c.upsert(["item3", "new"], x[[0, 1]], [{"label": "fish"}, {"label": "fish"}])
    assert len(c) == 31 and c.version == v0 + 1
    top = c.search(x[0], k=2)[0]
    assert {h["id"] for h in top} == {"item0", "item3"}  # item3 now holds item0's vector
    assert c.keys_of(["item3"]) == {"item3": 3}  # an upsert keeps the key
    assert c.delete(where={"label": "fish"}) == 2
    assert len(c) == 29 and "item3" not in c.keys_of(["item3"])
    assert c.delete(["nope"]) == 0
    c.restore(v0)
    assert len(c) == 30 and c.keys_of(["item3"]) == {"item3": 3}
    assert Index.open(tmp_path / "ix").collection().search(x[3], k=1)[0][0]["id"] == "item3"


def test_bad_writes_and_queries_are_clear_errors(tmp_path, engine):
    ix, x = make_index(tmp_path / "ix", n=10, **engine)
    c = ix.collection()
    with pytest.raises(ValueError, match=r"shape \(2, 15\).*expected \(2, 16\)"):
        c.add(["a", "b"], np.ones((2, 15)))
    with pytest.raises(ValueError, match="NaN"):
        c.add(["a"], np.full((1, 16), np.nan))
    with pytest.raises(ValueError, match="repeat"):
        c.add(["a", "a"], x[:2])
    with pytest.raises(ValueError, match="metadata field.*colour"):
        c.add(["a"], x[:1], [{"colour": "red"}])
    with pytest.raises(ValueError, match="filter column 'colour'"):
        c.search(x[0], filter={"colour": "red"})
    with pytest.raises(ValueError, match="not valid"):
        c.search(x[0], filter="label = = 'x'")
    with pytest.raises(ValueError, match="dimension 3"):
        c.search(np.ones(3))
    with pytest.raises(KeyError, match="no collection 'captions'"):
        ix.collection("captions")
    with pytest.raises(FileExistsError, match="already holds an index"):
        Index.create(tmp_path / "ix", {"images": {"view": "image", "dim": 4}})
    with pytest.raises(FileNotFoundError, match="not a jointspace index"):
        Index.open(tmp_path)
    assert len(c) == 10  # nothing was written


def test_filter_values_are_quoted_not_injected():
    assert filter_sql({"label": "it's"}) == "label = 'it''s'"
    assert filter_sql({"size": [1, 2]}) == "size IN (1, 2)"
    assert filter_sql({"label": []}) == "false"
    with pytest.raises(ValueError, match="None is not a string or a number"):
        filter_sql({"label": None})


def test_engine_reads_its_saved_structure_only_for_the_same_contents(tmp_path):
    x = clustered(500, 8)
    engine = VectorEngine(8, "hnsw")
    engine.reset(np.arange(500), x)
    assert engine.save_ann(tmp_path / "e.faiss")
    other = VectorEngine(8, "hnsw")
    other.reset(np.arange(400), x[:400], ann_path=tmp_path / "e.faiss")  # 400 ≠ 500: rebuilt
    assert other._ann.ntotal == 400
    with pytest.raises(ValueError, match="engine kind 'annoy'"):
        VectorEngine(8, "annoy")


WRITER = textwrap.dedent("""
    import json, sys, numpy as np
    from jointspace.index import Index
    c = Index.open(sys.argv[1]).collection()
    assert c.engine.kind == json.loads(sys.argv[2])
    rng = np.random.default_rng(0)
    print("ready", flush=True)
    for b in range(10_000):
        x = rng.normal(size=(2000, 64)).astype(np.float32)
        c.add([f"b{b}-{i}" for i in range(2000)], x)
""")


@pytest.mark.parametrize("kind", ["exact", "ivfpq"])
def test_a_writer_killed_mid_write_leaves_the_last_version_whole(tmp_path, kind):
    path = tmp_path / "ix"
    options = IVFPQ if kind == "ivfpq" else {"engine": "exact"}  # ivfpq: trained from 624
    Index.create(path, {"images": {"view": "image", "dim": 64}}, **options)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), f'"{kind}"'],
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(3.0)  # several commits in, one under way
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    c = Index.open(path).collection()
    n = len(c)
    assert n > 0 and n % 2000 == 0  # whole batches only
    trained = kind == "ivfpq" and trainable(c.engine.params, n)
    assert c.engine.active_kind == ("ivfpq" if trained else "exact")
    assert c.search(np.ones(64), k=3)[0]
    c.add(["after"], np.ones((1, 64)))  # and it can be written again
    assert len(Index.open(path).collection()) == n + 1


@pytest.mark.parametrize("n_queries", [1, 5, 19, 20, 40])
def test_exact_engine_paths_agree_with_brute_force(n_queries):
    from jointspace.index.engine import small_batch_knn

    x = clustered(5000, 32, seed=4)
    q = clustered(n_queries, 32, seed=5)
    want_scores, want = brute_force(q, x, np.arange(len(x)), 10)
    engine = VectorEngine(32, "exact")
    engine.reset(np.arange(len(x)) * 7, x)  # keys are not positions
    scores, keys = engine.search(q, 10)
    np.testing.assert_array_equal(keys, want * 7)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    blocked_scores, blocked = small_batch_knn(q, x, 10, block=999)  # top-k merged over blocks
    np.testing.assert_array_equal(blocked, want)
    np.testing.assert_allclose(blocked_scores, want_scores, atol=1e-5)


def test_a_read_only_open_serves_the_last_build_from_its_snapshot(tmp_path, engine):
    """After save_engines (the end of a build), a read-only open serves searches from the
    read snapshot without importing LanceDB, with the same hits as the table; a SQL filter
    reads the table at the snapshot's version; writes are refused. (A compressed collection
    has no snapshot, its vectors being too many: it reads the table, with the same hits.)"""
    ix, x = make_index(tmp_path / "ix", **engine)
    ix.save_engines()
    q = clustered(5, 16, seed=3)
    want = Index.open(tmp_path / "ix").collection().search(q, k=7)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from jointspace.index import Index
        ix = Index.open({str(tmp_path / "ix")!r}, read_only=True)
        c = ix.collection()
        hits = c.search(np.array({q.tolist()!r}, dtype=np.float32), k=7)
        print(json.dumps({{"hits": hits, "lancedb": "lancedb" in sys.modules,
                           "version": c.version}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    got = __import__("json").loads(out.stdout)
    assert got["lancedb"] is (engine.get("engine") == "ivfpq")
    assert got["hits"] == want
    read_only = Index.open(tmp_path / "ix", read_only=True)
    c = read_only.collection()
    assert c.version == ix.collection().version
    dogs = c.search(q, k=4, filter={"label": "dog"})
    assert dogs == ix.collection().search(q, k=4, filter={"label": "dog"})
    assert all(h["label"] == "dog" for row in dogs for h in row)
    with pytest.raises(ValueError, match="opened read-only"):
        c.add(["new"], x[:1])
    with pytest.raises(ValueError, match="opened read-only"):
        c.delete(["item1"])
    with pytest.raises(ValueError, match="opened read-only"):
        read_only.add_collection("captions", "text", 16)


def test_a_write_after_the_build_invalidates_the_snapshot(tmp_path):  # exact engine only
    """A write removes the snapshot's stamp, so a read-only open reads the table (and sees
    the write) until the next save_engines; a damaged snapshot file is not read either."""
    ix, x = make_index(tmp_path / "ix")
    ix.save_engines()
    ix.collection().add(["late"], x[:1], [{"label": "cat"}])
    c = Index.open(tmp_path / "ix", read_only=True).collection()
    assert c._snapshot is None and len(c) == 301
    assert c.search(x[:1], k=1)[0][0]["id"] in ("late", "item0")
    ix.save_engines()
    fresh = Index.open(tmp_path / "ix", read_only=True).collection()
    assert fresh._snapshot is not None and len(fresh) == 301
    (tmp_path / "ix" / "engines" / "images.arrow").write_bytes(b"ARROW1 but not really")
    damaged = Index.open(tmp_path / "ix", read_only=True).collection()
    assert damaged._snapshot is None and len(damaged) == 301
    assert damaged.search(x[5:6], k=3) == fresh.search(x[5:6], k=3)
