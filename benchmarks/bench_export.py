"""Benchmark the ONNX export: throughput, size and parity per tower for torch, ONNX fp32 and
ONNX int8, and the cold start of a search process with and without torch.

What it measures
----------------
The demo pipeline (``runs/openclipart`` from ``make demo``: MiniLM captions, EfficientNet-Lite0
+ HOG + colour-histogram images at 224 px, the dual encoder) is exported with
``jointspace.pipeline.export`` in fp32 and in int8. Per view, raw items → joint-space vectors
through ``Pipeline.transform_view``:

- text: ``--texts`` (512) OpenClipArt test captions, in batches of 64;
- image: ``--images`` (128) OpenClipArt test renders, in batches of 16;

for "torch" (the original pipeline with its encoders on torch: minilm ``runtime="torch"``,
efficientnet ``backend="torch"``, and the torch towers), "onnx fp32" and "onnx int8" (the
exports). Reported per tower: items/s (best of 3 runs after a warm-up), size in MB of the
files the view runs (encoder weights + tower), and the cosine per item to the torch
embeddings (min, mean). Threads: 2 for torch and ONNX Runtime (the machine's cores).

Cold start: a fresh ``python -c`` that opens the index ``runs/openclipart-index``, loads a
pipeline and answers one text query, timed from launch to answer (median of 3) and split into
imports (interpreter, jointspace with scikit-learn, LanceDB), opening the index, and loading
the pipeline + answering: the index's own pipeline (torch) and the fp32 and int8 exports
(ONNX Runtime; the process reports whether torch was imported). Target: the ONNX-only process
answers in under 2 s.

Run (from the repository root, after ``make demo``)::

    .venv/bin/python benchmarks/bench_export.py           # ~3 minutes
    .venv/bin/python benchmarks/bench_export.py --quick   # fewer items
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table

from jointspace import load_dataset
from jointspace.pipeline import Pipeline
from jointspace.pipeline.export import cosines, export_pipeline

console = Console()
ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "bench_export.json"
PIPELINE, INDEX = ROOT / "runs" / "openclipart", ROOT / "runs" / "openclipart-index"
THREADS = 2
COLD = """
import sys, time
imported = time.time()
from jointspace.index import Index
from jointspace.pipeline import Pipeline
from jointspace.retrieval import Retriever
imported = time.time()
index = Index.open(sys.argv[1], read_only=True)
opened = time.time()
pipe = Pipeline.load(sys.argv[2] if len(sys.argv) > 2 else sys.argv[1] + "/pipeline")
r = Retriever(pipe, index)
hit = r.search(text="a red apple", k=1)[0]
print(imported, opened, time.time(), "torch" in sys.modules, hit["id"])
"""

def torch_pipeline() -> Pipeline:
    """The demo pipeline with its encoders on torch (speed settings: the same features)."""
    pipe = Pipeline.load(PIPELINE)
    for chain in pipe.encoders_.values():
        for encoder in chain:
            for part in getattr(encoder, "_parts", lambda e=encoder: [e])():
                if part.name == "minilm":
                    part.runtime, part.n_threads = "torch", THREADS
                if part.name == "efficientnet":
                    part.backend, part.n_threads, part.progress = "torch", THREADS, False
    return pipe


def onnx_threads(pipe: Pipeline) -> Pipeline:
    for chain in pipe.encoders_.values():
        for encoder in chain:
            for part in getattr(encoder, "_parts", lambda e=encoder: [e])():
                if part.name.startswith("onnx-"):
                    part.n_threads = THREADS
    pipe.model.n_threads = THREADS
    return pipe


def throughput(pipe: Pipeline, view: str, items: list, batch: int, repeats: int) -> float:
    """Items per second of ``transform_view`` in batches (best of ``repeats``)."""
    pipe.transform_view(view, items[:batch])  # warm-up: sessions, models
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for s in range(0, len(items), batch):
            pipe.transform_view(view, items[s : s + batch])
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def torch_mb(pipe: Pipeline, view: str) -> float:
    """MB of the weights the torch view runs: the encoder's weight files + the tower's."""
    from jointspace.encoders.efficientnet import weights_path
    from jointspace.encoders.sentence import minilm_dir

    files = {"text": [minilm_dir() / "model.safetensors"], "image": [weights_path()]}[view]
    i = pipe.model.view_names_.index(view)
    tower = sum(p.numel() * p.element_size()
                for p in pipe.model.network_.view_encoder(i).parameters())
    return (sum(f.stat().st_size for f in files) + tower) / 1e6


def cold_start(*args: str, runs: int = 3) -> dict:
    """Median seconds from launching a search process to its first answer, and its phases:
    imports (interpreter start, jointspace, scikit-learn, LanceDB), opening the index,
    loading the pipeline and answering; whether torch was imported."""
    rows, used = [], False
    for _ in range(runs):
        start = time.time()
        proc = subprocess.run([sys.executable, "-c", COLD, *args], capture_output=True,
                              text=True, timeout=600, check=True)
        imported, opened, end, torch_loaded, _ = proc.stdout.split()
        rows.append([float(imported) - start, float(opened) - float(imported),
                     float(end) - float(opened), float(end) - start])
        used = torch_loaded == "True"
    median = np.median(np.array(rows), axis=0)
    return {"seconds": float(median[3]), "imports_s": float(median[0]),
            "index_open_s": float(median[1]), "pipeline_and_query_s": float(median[2]),
            "torch_imported": used}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not (PIPELINE / "manifest.json").is_file() or not INDEX.is_dir():
        sys.exit("bench_export needs runs/openclipart and runs/openclipart-index: make demo")
    torch.set_num_threads(THREADS)
    n_text, n_image = (128, 32) if args.quick else (args.texts, args.images)
    repeats = 1 if args.quick else 3
    test = load_dataset("openclipart", split="test", size=224)
    items = {"text": list(test["text"][:n_text]),
             "image": [str(p) for p in dict.fromkeys(test["image"])][:n_image]}
    batches = {"text": 64, "image": 16}

    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    original = torch_pipeline()
    exports, export_s = {}, {}
    for precision in ("fp32", "int8"):
        start = time.perf_counter()
        path = export_pipeline(Pipeline.load(PIPELINE), tmp / precision, test,
                               int8=precision == "int8")
        export_s[precision] = time.perf_counter() - start
        exports[precision] = path
        console.print(f"exported {precision} in {export_s[precision]:.0f} s", highlight=False)

    rows = []
    for view in ("text", "image"):
        reference = original.transform_view(view, items[view])
        variants = [("torch", original)] + [
            (f"onnx {p}", onnx_threads(Pipeline.load(exports[p]))) for p in ("fp32", "int8")]
        for name, pipe in variants:
            z = pipe.transform_view(view, items[view])
            cos = cosines(reference, z)
            if name == "torch":
                size = torch_mb(pipe, view)
            else:
                record = pipe.manifest_["metadata"]["export"]["parity"][view]
                size = record["encoders_mb"] + record["tower_mb"]
            speed = throughput(pipe, view, items[view], batches[view], repeats)
            rows.append({"view": view, "runtime": name, "items_per_s": speed, "size_mb": size,
                         "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
                         "n": len(items[view])})
            console.print(f"  {view} {name}: {speed:.1f} items/s, {size:.1f} MB, cosine min "
                          f"{cos.min():.4f}", highlight=False)

    cold = {}
    for name, extra in (("torch", []), ("onnx fp32", [str(exports["fp32"])]),
                        ("onnx int8", [str(exports["int8"])])):
        cold[name] = cold_start(str(INDEX), *extra, runs=1 if args.quick else 3)
        console.print(f"  cold start {name}: {cold[name]}", highlight=False)

    table = Table(title="OpenClipArt at 224 px: raw items → joint space, per tower "
                        f"({THREADS} threads)")
    for col in ("tower", "runtime", "items/s", "size MB", "cosine min", "cosine mean"):
        table.add_column(col, justify="left" if col in ("tower", "runtime") else "right")
    for r in rows:
        table.add_row(f"{r['view']} ({'minilm' if r['view'] == 'text' else 'efficientnet'})",
                      r["runtime"], f"{r['items_per_s']:.1f}", f"{r['size_mb']:.1f}",
                      f"{r['cosine_min']:.4f}", f"{r['cosine_mean']:.4f}")
    console.print(table)
    starts = Table(title="Cold start: launch → first text query answered (median of 3)")
    for col in ("pipeline", "total s", "imports s", "index open s", "pipeline + query s",
                "torch imported"):
        starts.add_column(col, justify="left" if col == "pipeline" else "right")
    for name, c in cold.items():
        starts.add_row(name, f"{c['seconds']:.2f}", f"{c['imports_s']:.2f}",
                       f"{c['index_open_s']:.2f}", f"{c['pipeline_and_query_s']:.2f}",
                       str(c["torch_imported"]))
    console.print(starts)
    best = min(cold["onnx fp32"]["seconds"], cold["onnx int8"]["seconds"])
    targets = [
        Target("ONNX-only cold start (s)", best, "< 2", best < 2.0),
        Target("ONNX processes never import torch", float(not any(
            cold[k]["torch_imported"] for k in ("onnx fp32", "onnx int8"))), "1", not any(
            cold[k]["torch_imported"] for k in ("onnx fp32", "onnx int8"))),
        *[Target(f"{r['view']} {r['runtime']} cosine min", r["cosine_min"],
                 "≥ 0.999" if "fp32" in r["runtime"] else "≥ 0.99",
                 r["cosine_min"] >= (0.999 if "fp32" in r["runtime"] else 0.99))
          for r in rows if r["runtime"] != "torch"],
    ]
    console.print(targets_table(targets))
    write_json(args.out, {"machine": machine_info(["torch", "onnxruntime"]),
                          "quick": args.quick, "threads": THREADS, "export_s": export_s,
                          "towers": rows, "cold_start": cold,
                          "targets": [t.__dict__ for t in targets]})
    console.print(f"wrote {args.out}", highlight=False)


if __name__ == "__main__":
    main()
