"""Search at scale (issue 14), the part of ``bench_scale.py`` about the compressed engine:
IVF-PQ codes in memory, candidates re-ranked exactly with their vectors read back from the
LanceDB table, against exact search over the vectors in memory.

What it measures
----------------
``--vectors`` (default 1,000,000) × 256 clustered unit vectors (``bench_index.clustered``:
2,000 centres, each cluster spread along a low-rank subspace, like real embeddings), written
to an index collection with the ``ivfpq`` engine in batches of 100,000 (each batch one
commit, the engine retrained each time the collection doubles), then reopened from its saved
codes. 1,000 queries from the same distribution; the reference is the exact top 10
(``faiss.knn`` over the vectors in memory). Reported per setting of ``nprobe`` and
``rerank``: recall@10, queries/s batched (1,000 at once) and one at a time; and the memory
of the engine (its serialized IVF-PQ index: codes, keys, cells, codebooks) against the flat
index (n × d float32 and the int64 keys).

Run through ``bench_scale.py`` (from the repository root)::

    .venv/bin/python benchmarks/bench_scale.py --only search                   # 1M × 256
    .venv/bin/python benchmarks/bench_scale.py --only search --vectors 200000  # quick
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from bench_index import clustered
from common import Target
from rich.console import Console
from rich.table import Table

from jointspace.index import Index

K, DIM, QUERIES, BATCH = 10, 256, 1000, 100_000
SETTINGS = [(16, 10), (32, 5), (32, 10), (32, 20), (64, 10)]  # (nprobe, rerank)
DEFAULT = (32, 10)  # the engine's defaults (index/engine.py: DEFAULTS["ivfpq"])
console = Console()


def build(path: Path, x: np.ndarray) -> tuple[float, float]:
    """The collection at ``path`` written in batches; (build seconds, reopen seconds)."""
    t = time.perf_counter()
    ix = Index.create(path, {"items": {"view": "image", "dim": x.shape[1]}}, engine="ivfpq")
    c = ix.collection()
    for start in range(0, len(x), BATCH):
        c.add([f"v{i}" for i in range(start, min(start + BATCH, len(x)))],
              x[start : start + BATCH])
        console.print(f"  {len(c):,} vectors, engine {c.engine.active_kind}, "
                      f"{time.perf_counter() - t:.0f} s", highlight=False)
    ix.compact()
    ix.save_engines()
    built = time.perf_counter() - t
    t = time.perf_counter()
    Index.open(path, read_only=True).collection()
    return built, time.perf_counter() - t


def measure(collection, q: np.ndarray, want: np.ndarray, nprobe: int, rerank: int) -> dict:
    collection.engine.params.update(nprobe=nprobe, rerank=rerank)
    t = time.perf_counter()
    _, keys = collection.engine.search(q, K)
    batched = len(q) / (time.perf_counter() - t)
    t = time.perf_counter()
    for row in q[:100]:
        collection.engine.search(row[None], K)
    single = 100 / (time.perf_counter() - t)
    recall = np.mean([len(set(g) & set(w)) / K for g, w in zip(keys, want)])
    return {"nprobe": nprobe, "rerank": rerank, "recall@10": float(recall),
            "batched_qps": batched, "single_qps": single}


def run(n: int) -> dict:
    """Build, measure every setting, and return the figures (with the targets' values)."""
    import faiss

    x = clustered(n, DIM, seed=0)
    q = clustered(QUERIES, DIM, seed=1)
    _, want = faiss.knn(q, x, K, metric=faiss.METRIC_INNER_PRODUCT)
    t = time.perf_counter()
    faiss.knn(q, x, K, metric=faiss.METRIC_INNER_PRODUCT)
    exact_qps = QUERIES / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        built, reopened = build(Path(tmp) / "ix", x)
        collection = Index.open(Path(tmp) / "ix", read_only=True).collection()
        engine_bytes = collection.engine.memory_bytes()
        rows = [measure(collection, q, want, nprobe, rerank) for nprobe, rerank in SETTINGS]
    flat_bytes = x.nbytes + 8 * n
    return {"vectors": n, "dim": DIM, "build_s": built, "reopen_s": reopened,
            "engine_mb": engine_bytes / 1e6, "flat_mb": flat_bytes / 1e6,
            "memory_ratio": engine_bytes / flat_bytes, "exact_batched_qps": exact_qps,
            "settings": rows}


def report(result: dict) -> list[Target]:
    """Print the table and return the targets."""
    table = Table(title=f"IVF-PQ + exact re-rank from LanceDB, {result['vectors']:,} × "
                  f"{result['dim']} (engine {result['engine_mb']:.0f} MB, flat "
                  f"{result['flat_mb']:.0f} MB)")
    for col in ("nprobe", "rerank", "recall@10", "batched q/s", "one-at-a-time q/s"):
        table.add_column(col, justify="right")
    for r in result["settings"]:
        table.add_row(str(r["nprobe"]), str(r["rerank"]), f"{r['recall@10']:.3f}",
                      f"{r['batched_qps']:,.0f}", f"{r['single_qps']:,.0f}")
    console.print(table)
    console.print(f"build {result['build_s']:.0f} s, reopen from saved codes "
                  f"{result['reopen_s']:.1f} s; exact search over the vectors in memory: "
                  f"{result['exact_batched_qps']:,.0f} batched q/s", highlight=False)
    default = next(r for r in result["settings"] if (r["nprobe"], r["rerank"]) == DEFAULT)
    return [
        Target("IVF-PQ + re-rank recall@10 (defaults: nprobe 32, rerank 10)",
               default["recall@10"], "≥ 0.95", default["recall@10"] >= 0.95),
        Target("engine memory / flat index", result["memory_ratio"], "≤ 0.10",
               result["memory_ratio"] <= 0.10),
    ]
