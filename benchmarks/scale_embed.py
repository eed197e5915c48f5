"""Batch embedding at scale (issue 14), the part of ``bench_scale.py`` about embedding on Ray
Data: items/s of one encoder over ``--items`` real images, in one process and on a local Ray
cluster with 1 and 2 actors, each writing the same LanceDB table.

What it measures
----------------
The OpenClipArt renders (8,090 real clip-art images, 64 × 64 PNG files in the dataset cache),
repeated to ``--items`` items (distinct ids ``img-<k>``), encoded by ``hog+color-hist`` (1,812
features: decoding and HOG make the encoder the work, ~1.5 ms an image on one core):

* in process: the encoder over batches of 256 paths, each batch added to a LanceDB table;
* on Ray (``ray.init(num_cpus=2)``, started before the clock): ``embed_to_lance`` with 1 and
  2 actors, 256 items a batch, the driver writing each batch (one commit).

Reported: total items/s (the Ray figures include starting the actors and shipping the
encoder), the steady items/s after the first commit, the seconds to the first commit, the
largest difference from the in-process vectors (by id; should be 0) and whether the table
holds every id once.

Run through ``bench_scale.py`` (from the repository root)::

    .venv/bin/python benchmarks/bench_scale.py --only embed    # 20,000 images, ~3 minutes
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
from common import Target
from rich.console import Console
from rich.table import Table

from jointspace import load_dataset
from jointspace.encoders import make_encoder

ENCODER, BATCH = "hog+color-hist", 256
console = Console()


def items(n: int) -> tuple[list[str], list[str]]:
    """``n`` ids and image paths: the OpenClipArt renders, repeated."""
    paths = list(load_dataset("openclipart")["image"])
    return [f"img-{k}" for k in range(n)], [paths[k % len(paths)] for k in range(n)]


def table_vectors(uri: str, name: str) -> dict[str, np.ndarray]:
    import lancedb

    table = lancedb.connect(uri).open_table(name).to_arrow()
    flat = table.column("vector").combine_chunks().values.to_numpy()
    vectors = flat.reshape(table.num_rows, -1)
    return dict(zip(table.column("id").to_pylist(), vectors))


def in_process(ids: list[str], paths: list[str], uri: str) -> tuple[float, float, np.ndarray]:
    """(seconds, seconds to the first commit, (n, d) vectors): batches encoded here, each
    added to the table ``uri::local``."""
    import lancedb
    import pyarrow as pa

    encoder = make_encoder(ENCODER).fit(paths[:1])
    db, table, parts, first = lancedb.connect(uri), None, [], None
    start = time.perf_counter()
    for k in range(0, len(paths), BATCH):
        x = encoder.transform(paths[k : k + BATCH]).astype(np.float32)
        rows = pa.table({"id": ids[k : k + BATCH], "path": paths[k : k + BATCH],
                         "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()),
                                                                     x.shape[1])})
        if table is None:
            table = db.create_table("local", rows)
        else:
            table.add(rows)
        parts.append(x)
        first = first or time.perf_counter() - start
    return time.perf_counter() - start, first, np.concatenate(parts)


def on_ray(ids: list[str], paths: list[str], uri: str, workers: int) -> tuple[float, float,
                                                                                dict]:
    """(seconds, seconds to the first commit, the report) of ``embed_to_lance`` with
    ``workers`` actors on a fresh local cluster of 2 CPUs (its start not timed)."""
    import ray

    from jointspace.scale.ray_embed import EmbedModel, embed_to_lance

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        model = EmbedModel.from_encoder(make_encoder(ENCODER).fit(paths[:1]))
        first: list[float] = []
        start = time.perf_counter()
        report = embed_to_lance(
            {"id": ids, "path": paths}, model, uri, f"ray{workers}", item_column="path",
            workers=workers, batch_rows=BATCH, progress=False,
            on_commit=lambda n: first or first.append(time.perf_counter() - start))
        seconds = time.perf_counter() - start
    finally:
        ray.shutdown()
    return seconds, first[0], report.__dict__


def run(n: int) -> dict:
    """Embed ``n`` images in process and on Ray with 1 and 2 actors; the figures."""
    ids, paths = items(n)
    rows = []
    with tempfile.TemporaryDirectory() as uri:
        seconds, first, reference = in_process(ids, paths, uri)
        rows.append({"runner": "in process", "seconds": seconds, "first_commit_s": first,
                     "max_diff": 0.0, "each_id_once": True})
        console.print(f"  in process: {n / seconds:,.0f} items/s", highlight=False)
        want = dict(zip(ids, reference))
        for workers in (1, 2):
            seconds, first, report = on_ray(ids, paths, uri, workers)
            got = table_vectors(uri, f"ray{workers}")
            diff = max(float(np.abs(got[i] - want[i]).max()) for i in ids)
            rows.append({"runner": f"Ray, {workers} actor(s)", "seconds": seconds,
                         "first_commit_s": first, "max_diff": diff,
                         "each_id_once": report["rows"] == len(got) == n
                         and not report["failed"], "commits": report["commits"]})
            console.print(f"  Ray, {workers} actor(s): {n / seconds:,.0f} items/s",
                          highlight=False)
    for r in rows:
        r["items_per_s"] = n / r["seconds"]
        r["steady_items_per_s"] = (n - BATCH) / (r["seconds"] - r["first_commit_s"])
    return {"items": n, "encoder": ENCODER, "dim": int(reference.shape[1]),
            "batch_rows": BATCH, "results": rows}


def report(result: dict) -> list[Target]:
    """Print the table and return the targets."""
    table = Table(title=f"Embedding {result['items']:,} OpenClipArt images with "
                  f"{result['encoder']} ({result['dim']} features) into LanceDB: items/s "
                  "(2-core machine)")
    for col in ("runner", "seconds", "items/s", "steady items/s", "first commit s",
                "max |Δ| vs in process", "every id once"):
        table.add_column(col, justify="left" if col == "runner" else "right")
    for r in result["results"]:
        table.add_row(r["runner"], f"{r['seconds']:.1f}", f"{r['items_per_s']:,.0f}",
                      f"{r['steady_items_per_s']:,.0f}", f"{r['first_commit_s']:.1f}",
                      f"{r['max_diff']:.1e}", "yes" if r["each_id_once"] else "NO")
    console.print(table)
    by = {r["runner"]: r for r in result["results"]}
    diff = max(r["max_diff"] for r in result["results"])
    speedup = (by["Ray, 2 actor(s)"]["steady_items_per_s"]
               / by["Ray, 1 actor(s)"]["steady_items_per_s"])
    return [
        Target("Ray embedding equals the in-process one (max |Δ|)", diff, "≤ 1e-6",
               diff <= 1e-6),
        Target("every id written once (all runs)",
               float(all(r["each_id_once"] for r in result["results"])), "= 1",
               all(r["each_id_once"] for r in result["results"])),
        Target("2 actors / 1 actor, steady items/s", speedup, "≥ 1.4", speedup >= 1.4),
    ]
