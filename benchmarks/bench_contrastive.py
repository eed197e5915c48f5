"""Benchmark the contrastive dual encoder's training: the shared Trainer against a plain PyTorch
loop, and GradCache's memory against plain big batches, in one run.

What it measures
----------------
Data: the OpenClipArt training split (6,476 real image–caption pairs), captions as frozen
MiniLM vectors (384-d), images as HOG features (1,764-d) or raw 64 × 64 RGB pixels; features
come from the feature cache (computed on the first run).

1. Throughput (pairs/s). The same network — ``ContrastiveDualEncoder``'s default towers
   (MLP 1,024 → 256 on each view), symmetric InfoNCE with a learnable temperature, AdamW,
   batch 512, standardized inputs — trained for ``--epochs`` epochs (a) by
   ``ContrastiveDualEncoder.fit`` (the Trainer: shuffling, schedule, per-batch bookkeeping,
   the batch-index and backward hooks, the standardization and the final model) and (b) by
   a plain loop written here (randperm, forward, loss, backward, step). The two alternate,
   best of ``--repeats`` wall times. Target: the Trainer costs at most 1.3× the plain loop.
2. GradCache. One training step of a CNN image tower (4 conv blocks on 64 × 64 RGB) against
   a linear head on MiniLM vectors, each configuration in a fresh subprocess: batch 256,
   batch 4,096, and batch 4,096 with gradient caching in chunks of 256. Reported: seconds per
   step and the step's peak resident memory above the process's memory before the step
   (Linux: the peak is reset through /proc/self/clear_refs, then read as VmHWM). Target:
   the cached 4,096 batch needs at most 1.5× the memory of the 256 batch (the gradient
   equality itself is a test: tests/test_dual_encoder.py).

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_contrastive.py            # full run, ~3 minutes
    .venv/bin/python benchmarks/bench_contrastive.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table

from jointspace.data import load_dataset
from jointspace.encoders import CachedEncoder, make_encoder
from jointspace.models import ContrastiveDualEncoder

OUT = Path(__file__).parent / "results" / "bench_contrastive.json"
CACHE = Path(os.environ.get("JOINTSPACE_CACHE", Path.home() / ".cache" / "jointspace"))


def features(kinds: list[str], limit: int | None) -> dict[str, np.ndarray]:
    """OpenClipArt training features: "text" (MiniLM), "hog", "pixels64" (64 px RGB)."""
    data = load_dataset("openclipart", split="train")
    if limit:
        data = data.subset(np.arange(min(limit, data.n_samples)))
    specs = {"text": ("text", "minilm", {}), "hog": ("image", "hog", {"size": 64})}
    specs["pixels64"] = ("image", "pixels", {"size": 64})
    out = {}
    for kind in kinds:
        view, name, params = specs[kind]
        encoder = CachedEncoder(make_encoder(name, **params), CACHE / "features")
        out[kind] = encoder.fit_transform(data[view]).astype(np.float32)
    return out


# ------------------------------------------------------------------ 1. throughput
def plain_loop(X: list[np.ndarray], epochs: int, batch: int, seed: int = 0) -> float:
    """The same towers, loss and optimizer in a bare loop; returns wall seconds."""
    start = time.perf_counter()
    template = ContrastiveDualEncoder(training={"progress": False})
    torch.manual_seed(seed)
    net = template._build_network([x.shape[1] for x in X])
    views = [torch.as_tensor((x - x.mean(0)) / (x.std(0) + 1e-12)) for x in X]
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.1)
    n = len(views[0])
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n)
        for s in range(0, n - batch // 2, batch):
            idx = order[s : s + batch]
            A, B = (enc(v[idx]) for enc, v in zip(net.encoders, views))
            loss = net.objective(A, B)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def trainer_fit(X: list[np.ndarray], epochs: int, batch: int) -> float:
    start = time.perf_counter()
    ContrastiveDualEncoder(training={"epochs": epochs, "batch_size": batch, "progress": False}).fit(
        X
    )
    return time.perf_counter() - start


def throughput(X: list[np.ndarray], epochs: int, repeats: int, batch: int = 512) -> dict:
    trainer_plain = {"trainer": [], "plain": []}
    plain_loop(X, 1, batch)  # warm-up: thread pools, allocator, kernels
    for _ in range(repeats):
        trainer_plain["plain"].append(plain_loop(X, epochs, batch))
        trainer_plain["trainer"].append(trainer_fit(X, epochs, batch))
    pairs = len(X[0]) * epochs
    best = {k: min(v) for k, v in trainer_plain.items()}
    return {
        "pairs": pairs,
        "seconds": trainer_plain,
        "pairs_per_s": {k: pairs / v for k, v in best.items()},
        "ratio": best["trainer"] / best["plain"],
    }


# ------------------------------------------------------------------ 2. GradCache memory
def one_step(batch: int, chunk: int | None, limit: int | None) -> dict:
    """Runs in a subprocess: one training step; peak memory above the pre-step baseline."""
    from jointspace.models.deep.contrastive_training import ContrastiveTraining

    X = features(["pixels64", "text"], limit)
    rows = np.arange(batch) % len(X["text"])
    views = [torch.as_tensor(X["pixels64"][rows]), torch.as_tensor(X["text"][rows])]
    cnn = {"kind": "cnn", "image_shape": (3, 64, 64), "layout": "hwc", "channels": (32, 64, 64, 64)}
    model = ContrastiveDualEncoder(128, tower=[cnn, "linear"], grad_cache_chunk=chunk)
    torch.manual_seed(0)
    net = model._build_network([views[0].shape[1], views[1].shape[1]])
    training = ContrastiveTraining(net, model, np.arange(batch), None).train()
    del X
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    base = _status_kb("VmRSS")
    start = time.perf_counter()
    training.backward_loss(views, None, torch.arange(batch))
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    return {"batch": batch, "chunk": chunk, "seconds": seconds, "peak_mb": (peak - base) / 1024}


def _status_kb(key: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def grad_cache_memory(limit: int | None, big: int, small: int) -> list[dict]:
    rows = []
    for batch, chunk in ((small, None), (big, None), (big, small)):
        args = [sys.executable, __file__, "--one-step", f"{batch},{chunk or 0}"]
        if limit:
            args += ["--limit", str(limit)]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return rows


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only this many pairs")
    parser.add_argument("--one-step", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.one_step:
        batch, chunk = (int(v) for v in args.one_step.split(","))
        print(json.dumps(one_step(batch, chunk or None, args.limit)))
        return
    if args.quick:
        args.epochs, args.repeats, args.limit = 2, 1, args.limit or 1500
    big, small = (1024, 128) if args.quick else (4096, 256)
    console = Console()
    torch.set_num_threads(os.cpu_count() or 1)
    X = features(["hog", "text"], args.limit)
    console.print(
        f"throughput: {len(X['text'])} pairs × {args.epochs} epochs, best of {args.repeats}"
    )
    tp = throughput([X["hog"], X["text"]], args.epochs, args.repeats)
    console.print("GradCache: one step per configuration, each in a fresh process")
    memory = grad_cache_memory(args.limit, big, small)

    table = Table(title="Training throughput (OpenClipArt, MLP towers, InfoNCE, batch 512)")
    for col in ("loop", "best s", "pairs/s"):
        table.add_column(col, justify="left" if col == "loop" else "right")
    for k in ("plain", "trainer"):
        table.add_row(k, f"{min(tp['seconds'][k]):.2f}", f"{tp['pairs_per_s'][k]:,.0f}")
    console.print(table)
    table = Table(title="GradCache: one step, CNN image tower on 64 × 64 RGB")
    for col in ("batch", "chunk", "step s", "peak MB above baseline"):
        table.add_column(col, justify="right")
    for r in memory:
        table.add_row(
            str(r["batch"]), str(r["chunk"] or "—"), f"{r['seconds']:.2f}", f"{r['peak_mb']:.0f}"
        )
    console.print(table)
    small_mb, big_mb, cached_mb = (r["peak_mb"] for r in memory)
    targets = [
        Target("trainer time / plain loop", tp["ratio"], "≤ 1.30", tp["ratio"] <= 1.3),
        Target(
            f"cached {big} memory / plain {small}",
            cached_mb / max(small_mb, 1e-9),
            "≤ 1.50",
            cached_mb <= 1.5 * small_mb,
        ),
        Target(f"plain {big} memory / cached {big}", big_mb / max(cached_mb, 1e-9), "(info)", True),
    ]
    console.print(targets_table(targets, ".2f"))
    write_json(
        args.out,
        {
            "machine": machine_info(["torch", "numpy"], torch_threads=torch.get_num_threads()),
            "args": {k: v for k, v in vars(args).items() if k != "one_step"},
            "throughput": tp,
            "grad_cache": memory,
            "targets": [t.__dict__ for t in targets],
        },
    )
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
