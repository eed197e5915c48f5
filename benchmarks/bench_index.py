"""Benchmark the index: exact and ANN search against the GEMM limit and brute force, the
LanceDB store, filtered search and incremental re-indexing.

What it measures (one run, side by side)
----------------------------------------
Data: ``--n`` (1,000,000) unit vectors of ``--dim`` (256), clustered like real embeddings
(2,000 clusters, each spread along a 16-dimensional subspace, plus a little noise; not uniform
noise), and ``--queries`` (1,000) new
queries from the same clusters; k = 10.

- GEMM limit: the time of the query × database matrix product alone (numpy sgemm, blocked):
  no search can beat it. Exact search (the engine's ``exact``, FAISS blocked GEMM + heap) in
  batched queries/s and as a fraction of the limit (target ≥ 0.9).
- Single-query latency of exact search over the first 100,000 items (target ≤ 5 ms, median).
- ANN: HNSW and IVF build time and size; recall@10 against exact and batched queries/s for a
  sweep of their search parameter (target: ≥ 3,000 queries/s at recall@10 ≥ 0.99).
- The store: writing the vectors into a LanceDB collection (batches of 100,000), its size on
  disk, reopening it (vectors read, engine built), and the process's peak memory.
- Filtered search: recall@10 against a brute-force filter in numpy, for filters passing 50%,
  10% and 0.1% of the items (target 1.0).
- Incremental re-index: a folder of ``--files`` (2,000) real photo crops indexed with a small
  pipeline; time of the full build against re-indexing after 1% of the files changed.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_index.py            # ~15 minutes on 2 cores
    .venv/bin/python benchmarks/bench_index.py --quick    # 100,000 items, ~2 minutes
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table

from jointspace.index import Index, VectorEngine

OUT = Path(__file__).parent / "results" / "bench_index.json"
K = 10
SWEEPS = {"hnsw": ("ef_search", (32, 64, 96, 128, 192)), "ivf": ("nprobe", (8, 16, 32, 64))}
console = Console()


def clustered(n: int, d: int, seed: int, centers: int = 2000, rank: int = 16) -> np.ndarray:
    """Unit vectors shaped like real embeddings: around ``centers`` random centres, each
    cluster spread along a few directions of its own (a ``rank``-dimensional subspace, one of
    20 shared by groups of clusters, scaled per cluster) plus a little isotropic noise."""
    structure = np.random.default_rng(99)  # the same clusters for the data and the queries
    c = structure.normal(size=(centers, d)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    spread = structure.uniform(0.05, 0.15, centers).astype(np.float32)
    bases = (structure.normal(size=(20, rank, d)) / np.sqrt(d)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.integers(0, centers, m)
        z = rng.normal(size=(m, rank)).astype(np.float32) * spread[which, None]
        x = c[which] + 0.01 * rng.normal(size=(m, d)).astype(np.float32)
        for g in range(20):
            rows = which % 20 == g
            x[rows] += z[rows] @ bases[g]
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exact_section(x: np.ndarray, q: np.ndarray, results: dict) -> np.ndarray:
    def gemm() -> None:
        for start in range(0, len(x), 65536):
            q @ x[start : start + 65536].T

    engine = VectorEngine(x.shape[1], "exact")
    engine.reset(np.arange(len(x)), x)
    t_gemm = best_of(gemm)
    t_exact = best_of(lambda: engine.search(q, K))
    _, truth = engine.search(q, K)
    small = VectorEngine(x.shape[1], "exact")
    small.reset(np.arange(min(100_000, len(x))), x[:100_000])
    lat = []
    for row in q[:300]:
        t = time.perf_counter()
        small.search(row[None], K)
        lat.append(time.perf_counter() - t)
    results["exact"] = {
        "gemm_limit_qps": len(q) / t_gemm, "exact_qps": len(q) / t_exact,
        "fraction_of_limit": t_gemm / t_exact,
        "latency_100k_ms_median": 1e3 * float(np.median(lat)),
        "latency_100k_ms_p99": 1e3 * float(np.percentile(lat, 99)),
    }
    return truth


def ann_section(x: np.ndarray, q: np.ndarray, truth: np.ndarray, results: dict) -> None:
    import faiss

    results["ann"] = {}
    for kind, (param, values) in SWEEPS.items():
        engine = VectorEngine(x.shape[1], kind)
        t = time.perf_counter()
        engine.reset(np.arange(len(x)), x)
        build = time.perf_counter() - t
        size = len(faiss.serialize_index(engine._ann)) / 1e6
        sweep = []
        for value in values:
            engine.params[param] = value
            _, found = engine.search(q, K)
            sweep.append({param: value, "recall@10": recall(found, truth),
                          "qps": len(q) / best_of(lambda e=engine: e.search(q, K))})
        results["ann"][kind] = {"build_s": build, "size_mb": size, "sweep": sweep}


def store_section(x: np.ndarray, q: np.ndarray, results: dict, workdir: Path) -> None:
    path = workdir / "store"
    index = Index.create(path, {"items": {"view": "image", "dim": x.shape[1]}}, engine="exact")
    c = index.collection()
    labels = np.random.default_rng(1).integers(0, 1000, len(x))
    t = time.perf_counter()
    for start in range(0, len(x), 100_000):
        part = slice(start, start + 100_000)
        c.add([f"item{i}" for i in range(start, min(start + 100_000, len(x)))], x[part],
              [{"label": str(v)} for v in labels[part]])
    write_s = time.perf_counter() - t
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    t = time.perf_counter()
    c = Index.open(path).collection()
    open_s = time.perf_counter() - t
    filtered = []
    for share, where, mask in [
        (0.5, "CAST(label AS INT) < 500", labels < 500),
        (0.1, "CAST(label AS INT) < 100", labels < 100),
        (0.001, "label = '7'", labels == 7),
    ]:
        keys = np.flatnonzero(mask)
        truth = keys[np.argsort(-(q[:100] @ x[keys].T), axis=1)[:, :K]]
        t = time.perf_counter()
        hits = c.search(q[:100], k=K, filter=where)
        seconds = time.perf_counter() - t
        found = np.array([[h["key"] for h in row] for row in hits])
        filtered.append({"share": share, "recall@10": recall(found, truth),
                         "ms_per_query": 1e3 * seconds / 100})
    results["store"] = {"write_s": write_s, "disk_mb": disk, "open_s": open_s,
                        "peak_rss_mb": peak_mb(), "filtered": filtered}


def incremental_section(n_files: int, results: dict, workdir: Path) -> None:
    from PIL import Image
    from skimage import data as skdata

    from jointspace import Pipeline
    from jointspace.data import MultiView
    from jointspace.models import CCA
    from jointspace.retrieval import build_index, scan_folder

    photos = {"astronaut": skdata.astronaut(), "coffee": skdata.coffee(),
              "chelsea": skdata.chelsea(), "rocket": skdata.rocket()}
    rng = np.random.default_rng(0)
    root = workdir / "photos"
    files, captions = [], []
    for i in range(n_files):
        name = list(photos)[i % 4]
        img = photos[name]
        top, left = rng.integers(0, img.shape[0] // 2), rng.integers(0, img.shape[1] // 2)
        file = root / name / f"{i}.png"
        file.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[top : top + 128, left : left + 128]).resize((64, 64)).save(file)
        files.append(str(file))
        captions.append(f"a photo of {name}")
    data = MultiView({"image": files[:400], "text": captions[:400]})
    Pipeline({"image": "hog+color-hist", "text": "tfidf"}, CCA(n_components=4, reg=0.1)) \
        .fit(data).save(workdir / "pipeline")
    t = time.perf_counter()
    build_index(workdir / "pipeline", scan_folder(root), workdir / "ix", progress=False)
    full = time.perf_counter() - t
    for file in files[:: 100]:  # 1% of the files get new pixels
        img = np.asarray(Image.open(file))
        Image.fromarray(255 - img).save(file)
    t = time.perf_counter()
    report = build_index(workdir / "pipeline", scan_folder(root), workdir / "ix", progress=False)
    incremental = time.perf_counter() - t
    results["incremental"] = {"files": n_files, "changed": report.embedded, "full_s": full,
                              "incremental_s": incremental, "ratio": incremental / full}


def report(results: dict, args: argparse.Namespace) -> list[Target]:
    ex = results["exact"]
    table = Table(title=f"Exact search, {args.n:,} × {args.dim}, {args.queries:,} queries, k={K}")
    for col in ("GEMM limit q/s", "exact q/s", "fraction", "1-query ms @100k (p50 / p99)"):
        table.add_column(col, justify="right")
    table.add_row(f"{ex['gemm_limit_qps']:,.0f}", f"{ex['exact_qps']:,.0f}",
                  f"{ex['fraction_of_limit']:.2f}",
                  f"{ex['latency_100k_ms_median']:.2f} / {ex['latency_100k_ms_p99']:.2f}")
    console.print(table)
    table = Table(title="ANN against exact")
    for col in ("engine", "build s", "MB", "setting", "recall@10", "q/s"):
        table.add_column(col, justify="right")
    best = 0.0
    for kind, r in results["ann"].items():
        for row in r["sweep"]:
            param = SWEEPS[kind][0]
            table.add_row(kind, f"{r['build_s']:.1f}", f"{r['size_mb']:.0f}",
                          f"{param}={row[param]}", f"{row['recall@10']:.4f}", f"{row['qps']:,.0f}")
            if row["recall@10"] >= 0.99:
                best = max(best, row["qps"])
    console.print(table)
    st = results["store"]
    console.print(f"store: write {st['write_s']:.1f} s, {st['disk_mb']:.0f} MB on disk, reopen "
                  f"{st['open_s']:.1f} s, peak memory {st['peak_rss_mb']:.0f} MB", highlight=False)
    for f in st["filtered"]:
        console.print(f"  filter passing {f['share']:.1%}: recall@10 {f['recall@10']:.4f}, "
                      f"{f['ms_per_query']:.1f} ms/query", highlight=False)
    inc = results["incremental"]
    console.print(f"incremental: {inc['files']} files, full build {inc['full_s']:.1f} s, "
                  f"after {inc['changed']} changed {inc['incremental_s']:.2f} s "
                  f"(ratio {inc['ratio']:.3f})", highlight=False)
    return [
        Target("exact / GEMM limit", ex["fraction_of_limit"], "≥ 0.9",
               ex["fraction_of_limit"] >= 0.9),
        Target("1-query ms @100k", ex["latency_100k_ms_median"], "≤ 5",
               ex["latency_100k_ms_median"] <= 5),
        Target("ANN q/s at recall ≥ 0.99", best, "≥ 3000", best >= 3000),
        Target("filtered recall (min)", min(f["recall@10"] for f in st["filtered"]), "= 1.0",
               min(f["recall@10"] for f in st["filtered"]) == 1.0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="100,000 items, 500 files")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.quick:
        args.n, args.files = 100_000, 500
    x = clustered(args.n, args.dim, seed=0)
    q = clustered(args.queries, args.dim, seed=1)
    results: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench_index_"))
    try:
        console.print("exact search …")
        truth = exact_section(x, q, results)
        console.print("ANN engines …")
        ann_section(x, q, truth, results)
        console.print("the store …")
        store_section(x, q, results, workdir)
        console.print("incremental re-index …")
        incremental_section(args.files, results, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    targets = report(results, args)
    console.print(targets_table(targets))
    write_json(args.out, {"machine": machine_info(["numpy", "faiss-cpu", "lancedb"]),
                          "args": vars(args) | {"out": str(args.out)}, "results": results,
                          "targets": [t.__dict__ for t in targets]})


if __name__ == "__main__":
    main()
