"""Benchmark the search server under load: concurrent text → image queries over HTTP.

What it measures
----------------
An index of ``--items`` (100,000) image vectors made by the demo pipeline (``runs/openclipart``
from ``make demo``: MiniLM captions, EfficientNet-Lite0 images, the dual encoder): the 7,429
real OpenClipArt images, filled up with near copies of them (each real vector plus a little
noise, renormalized). ``jointspace serve`` runs as its own process on 127.0.0.1; ``--clients``
(8) threads send OpenClipArt's test captions as text queries (k = 10) for ``--seconds`` (60),
each waiting for its answer before sending the next.

Reported: p50 / p99 latency, throughput (queries/s), errors (non-200 answers and failed
requests), and the server's resident memory after a 10 s warm-up under the same load and at
the end. The same load then
runs against the same index searched by IVF (nprobe 64, its recall@10 against exact search
on the query captions reported), and for ``--compare-seconds`` with batching off
(``--max-batch 1``: each query embedded and searched alone), with the captions sent as
ready-made vectors (the serving stack without the text encoder), and through Ray Serve
(``jointspace serve --ray local --replicas N`` for each N of ``--ray-replicas``, 1 and 2: a
local Ray cluster on this machine, Serve's proxy in front of N replicas), side by side, each
run's queries/s also given as a ratio to uvicorn's (the first run).
Targets: p99 ≤ 50 ms, 0 errors, flat memory (growth ≤ 5% or 20 MB), for uvicorn.

Run (from the repository root, after ``make demo``)::

    .venv/bin/python benchmarks/bench_serve.py           # ~2.5 minutes
    .venv/bin/python benchmarks/bench_serve.py --quick   # 20,000 items, 10 s runs
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table

OUT = Path(__file__).parent / "results" / "bench_serve.json"
FEATURES = Path(os.environ.get("JOINTSPACE_CACHE", Path.home() / ".cache" / "jointspace")) \
    / "features"
console = Console()
IVF = {"nprobe": 64}  # the IVF setting served beside exact search
WARM_UP = 10.0  # seconds of the same load before memory and latency are measured


def make_index(pipeline_dir: Path, n_items: int, out: Path) -> list[str]:
    """The benchmark index at ``out``; returns the query captions (the test split's)."""
    from jointspace import Pipeline, load_dataset
    from jointspace.index import Index
    from jointspace.retrieval.build import IMAGES, copy_pipeline, normalized
    from jointspace.retrieval.scan import items_from_multiview

    pipeline = Pipeline.load(pipeline_dir)
    pipeline.cache_dir = FEATURES
    data = load_dataset("openclipart", size=224)
    items, root = items_from_multiview(data)
    vectors = normalized(pipeline.transform_view("image", [str(it.file) for it in items]))
    rng = np.random.default_rng(0)
    source = rng.integers(0, len(items), n_items - len(items))
    noisy = vectors[source] + 0.05 * rng.normal(size=(len(source), vectors.shape[1])) \
        / np.sqrt(vectors.shape[1])
    all_vectors = np.concatenate([vectors, normalized(noisy)])
    ids = [it.id for it in items] + [f"copy-{i}-of-{items[s].id}" for i, s in enumerate(source)]
    meta = [{"path": it.path, "caption": it.caption} for it in items] + \
        [{"path": items[s].path, "caption": items[s].caption} for s in source]
    out.mkdir(parents=True)
    copy_pipeline(pipeline_dir, out)
    index = Index.create(out, {IMAGES: {"view": "image", "dim": all_vectors.shape[1]}},
                         fingerprint=pipeline.fingerprint, source={"root": str(root)})
    index.collection().add(ids, all_vectors, meta)
    index.compact()
    test = load_dataset("openclipart", size=224, split="test")
    return sorted(set(test.views["text"]))


def ivf_copy(index: Path, out: Path, params: dict, captions: list[str]) -> float:
    """A copy of ``index`` searched by IVF with ``params`` (its structure built and saved);
    returns its recall@10 against exact search on the query captions' vectors."""
    import shutil

    from jointspace.index import Index, VectorEngine
    from jointspace.retrieval import Retriever

    shutil.copytree(index, out)
    Index.open(out).update_manifest(engine={"kind": "ivf", "params": params})
    ivf = Index.open(out)
    ivf.collection()  # builds the IVF structure
    ivf.save_engines()
    retriever = Retriever.load(out)
    queries = retriever.embed("text", captions)
    coll = retriever.index.collection()
    exact = VectorEngine(coll.dim, "exact")
    exact.reset(coll.engine.keys, coll.engine.vectors)
    _, truth = exact.search(queries, 10)
    _, found = coll.engine.search(queries, 10)
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))


def query_vectors(index: Path, queries: list[str]) -> list[dict]:
    """The captions embedded once, as vector queries: the server's cost without its encoder."""
    from jointspace.retrieval import Retriever

    vectors = Retriever.load(index).embed("text", queries)
    return [{"vector": [round(float(x), 6) for x in v], "k": 10} for v in vectors]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client(url: str, queries: list[dict], seed: int, deadline: float, out: list) -> None:
    rng = np.random.default_rng(seed)
    with httpx.Client(timeout=30) as http:
        while time.perf_counter() < deadline:
            query = queries[int(rng.integers(len(queries)))]
            start = time.perf_counter()
            try:
                ok = http.post(f"{url}/search", json=query).status_code == 200
            except httpx.HTTPError:
                ok = False
            out.append((time.perf_counter() - start, ok))


def run_clients(url: str, queries: list[dict], clients: int, seconds: float, out: list) -> None:
    """``clients`` threads sending queries for ``seconds``; (latency, ok) pairs into out."""
    end = time.perf_counter() + seconds
    threads = [threading.Thread(target=client, args=(url, queries, i, end, out))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def load_test(index: Path, queries: list[dict], clients: int, seconds: float,
              max_batch: int, ray_replicas: int | None = None) -> dict:
    """``jointspace serve`` under the load of ``clients`` threads for ``seconds`` (after the
    warm-up); with ``ray_replicas``, on a local Ray cluster with that many replicas (its
    memory, in the replica processes, is not measured: NaN)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = str(Path(sys.executable).with_name("jointspace"))
    ray = ["--ray", "local", "--replicas", str(ray_replicas)] if ray_replicas else []
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([exe, "serve", str(index), "--port", str(port),
                                 "--max-batch", str(max_batch), *ray],
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"no server: {log.read()}")
                time.sleep(0.2)
            run_clients(url, queries, clients, WARM_UP, [])  # the same load, not measured
            rss_start = rss_mb(proc.pid) if not ray else float("nan")
            results: list = []
            run_clients(url, queries, clients, seconds, results)
            rss_end = rss_mb(proc.pid) if not ray else float("nan")
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl+C: a Ray deployment is removed
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    latency = np.array([r[0] for r in results]) * 1e3
    return {"server": f"ray serve ×{ray_replicas}" if ray_replicas else "uvicorn",
            "max_batch": max_batch, "seconds": seconds, "queries": len(results),
            "qps": len(results) / seconds, "p50_ms": float(np.percentile(latency, 50)),
            "p99_ms": float(np.percentile(latency, 99)),
            "errors": int(sum(not r[1] for r in results)),
            "rss_start_mb": rss_start, "rss_end_mb": rss_end}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", type=Path, default=Path("runs/openclipart"))
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--compare-seconds", type=float, default=20)
    parser.add_argument("--ray-replicas", default="1,2",
                        help="replica counts to run on Ray Serve ('': none)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.quick:
        args.items, args.seconds, args.compare_seconds = 20_000, 10, 10
    ray_replicas = [int(n) for n in args.ray_replicas.split(",") if n.strip()]
    if ray_replicas:
        try:
            from ray import serve  # noqa: F401
        except ImportError:
            console.print("Ray Serve is not installed: no Ray Serve runs")
            ray_replicas = []
    if not (args.pipeline / "manifest.json").is_file():
        sys.exit(f"no pipeline at {args.pipeline}: run `make demo` first (or pass --pipeline)")
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        index = Path(tmp) / "index"
        console.print(f"building a {args.items:,}-item index …")
        queries = make_index(args.pipeline, args.items, index)
        recall = ivf_copy(index, Path(tmp) / "index-ivf", IVF, queries)
        runs = []
        payloads = {"text": [{"text": q, "k": 10} for q in queries],
                    "vector": query_vectors(index, queries)}
        for kind, engine, max_batch, seconds in (("text", "exact", 32, args.seconds),
                                                 ("text", "ivf", 32, args.seconds),
                                                 ("text", "exact", 1, args.compare_seconds),
                                                 ("vector", "exact", 32, args.compare_seconds)):
            console.print(f"{kind} queries, {engine}: {args.clients} clients for "
                          f"{seconds:.0f} s, max batch {max_batch} …")
            where = index if engine == "exact" else Path(tmp) / "index-ivf"
            run = load_test(where, payloads[kind], args.clients, seconds, max_batch)
            runs.append({"query": kind, "engine": engine,
                         "recall@10": 1.0 if engine == "exact" else recall, **run})
        for replicas in ray_replicas:
            console.print(f"text queries, exact, on Ray Serve with {replicas} replica(s): "
                          f"{args.clients} clients for {args.compare_seconds:.0f} s …")
            run = load_test(index, payloads["text"], args.clients, args.compare_seconds, 32,
                            ray_replicas=replicas)
            runs.append({"query": "text", "engine": "exact", "recall@10": 1.0, **run})
    for run in runs:
        run["qps_ratio"] = run["qps"] / runs[0]["qps"]
    table = Table(title=f"search over HTTP, {args.items:,} items, "
                        f"{args.clients} clients")
    for col in ("server", "query", "engine", "recall@10", "batching", "queries", "q/s",
                "q/s ratio", "p50 ms", "p99 ms", "errors", "memory MB (start → end)"):
        table.add_column(col, justify="right")
    for r in runs:
        table.add_row(r["server"], r["query"], r["engine"], f"{r['recall@10']:.3f}",
                      "on (≤ 32)" if r["max_batch"] > 1 else "off", f"{r['queries']:,}",
                      f"{r['qps']:.0f}", f"{r['qps_ratio']:.2f}", f"{r['p50_ms']:.1f}",
                      f"{r['p99_ms']:.1f}",
                      str(r["errors"]), f"{r['rss_start_mb']:.0f} → {r['rss_end_mb']:.0f}")
    console.print(table)
    targets = []
    for run in runs[:2]:
        growth = run["rss_end_mb"] - run["rss_start_mb"]
        targets += [
            Target(f"{run['engine']}: p99 ms", run["p99_ms"], "≤ 50", run["p99_ms"] <= 50),
            Target(f"{run['engine']}: errors", run["errors"], "= 0", run["errors"] == 0),
            Target(f"{run['engine']}: memory growth MB", growth, "≤ 5% or 20 MB",
                   growth <= max(20.0, 0.05 * run["rss_start_mb"])),
        ]
    console.print(targets_table(targets, ".1f"))
    write_json(args.out, {"machine": machine_info(["fastapi", "uvicorn", "faiss-cpu",
                                                       *(["ray"] if ray_replicas else [])]),
                          "args": {k: str(v) for k, v in vars(args).items()}, "runs": runs,
                          "targets": [t.__dict__ for t in targets]})


if __name__ == "__main__":
    main()
