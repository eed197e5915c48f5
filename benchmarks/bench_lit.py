"""Benchmark LiT ("locked image, tuned text", Zhai et al. 2022) on OpenClipArt: the dual
encoder's text tower as frozen MiniLM sentence vectors with a trained head ("linear" or
"mlp") against all-MiniLM-L6-v2 itself with its top 1 or 2 layers fine-tuned ("minilm").

What it measures
----------------
Data: OpenClipArt, ``--limit`` training pairs (a seeded random subset of the 6,476) and the
822 test pairs. The image side is locked: ``hog+color-hist`` features (1,812-d, standardized;
``--image efficientnet`` for pretrained EfficientNet-Lite0 features) through an MLP tower
(1,024 → 256). Text: frozen ``minilm`` vectors (384-d) through a
"linear" or "mlp" tower, or ``minilm-tokens`` rows (ids + mask, max 64 tokens) through the
"minilm" tower (``train_layers`` 1 or 2, the transformer at lr × ``lr_scale``, then a linear
projection). All: symmetric InfoNCE, AdamW lr 1e-3, weight decay 0.1, batch ``--batch``,
cosine schedule; frozen towers for ``--epochs`` and for ``--frozen-epochs`` (they are cheap),
tuned towers for ``--epochs``. Features come from the feature cache.

Per configuration, each in a fresh process: test R@1/5/10 in both directions (relevance by
groups: byte-identical SVGs are one instance), seconds per training epoch (median of the
epochs after the first; the first includes building the network), seconds to encode the
822 test captions, and peak resident memory: of the whole process (VmHWM) and above the
memory held before fitting (the peak reset through /proc/self/clear_refs).

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_lit.py              # ~10 minutes on 2 busy cores
    .venv/bin/python benchmarks/bench_lit.py --threads 1  # faster when other jobs share the cores
    .venv/bin/python benchmarks/bench_lit.py --quick      # smoke run, ~1-2 minutes
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
from common import machine_info, write_json
from rich.console import Console
from rich.table import Table

from jointspace.data import MultiView, load_dataset
from jointspace.encoders import CachedEncoder, make_encoder
from jointspace.metrics import cross_modal_retrieval
from jointspace.models import ContrastiveDualEncoder

OUT = Path(__file__).parent / "results" / "bench_lit.json"
CACHE = Path(os.environ.get("JOINTSPACE_CACHE", Path.home() / ".cache" / "jointspace"))
IMAGE_SPEC = "hog+color-hist"  # the default locked image features (--image)
KS = (1, 5, 10)


def parse_config(name: str) -> dict:
    """ "frozen-linear", "frozen-mlp", "tuned-<layers>" or "tuned-<layers>-<lr_scale>"
    → the text view's encoder and tower."""
    if name in ("frozen-linear", "frozen-mlp"):
        return {"text": "minilm", "tower": name.split("-")[1]}
    parts = name.split("-")
    if parts[0] != "tuned" or len(parts) not in (2, 3):
        raise ValueError(f"config {name!r}; expected frozen-linear, frozen-mlp, tuned-K[-SCALE]")
    tower = {"kind": "minilm", "train_layers": int(parts[1])}
    tower["lr_scale"] = float(parts[2]) if len(parts) == 3 else 0.1
    return {"text": "minilm-tokens", "tower": tower}


def features(
    split: str, image: str, text: str, limit: int | None
) -> tuple[list[np.ndarray], np.ndarray]:
    """([image features, text features], groups) of an OpenClipArt split (cached features);
    ``limit`` keeps a seeded random subset of that many rows."""
    data = load_dataset("openclipart", split=split)
    if limit and limit < data.n_samples:
        data = data.subset(np.sort(np.random.default_rng(0).permutation(data.n_samples)[:limit]))
    out = []
    for view, spec in (("image", image), ("text", text)):
        encoder = CachedEncoder(make_encoder(spec), CACHE / "features")
        out.append(encoder.fit_transform(data[view]).astype(np.float32))
    return out, np.asarray(data.groups)


def _status_kb(key: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def run_one(name: str, epochs: int, args: argparse.Namespace) -> dict:
    """Runs in a subprocess: fit one configuration, evaluate it on the test split."""
    config = parse_config(name)
    if args.threads:
        torch.set_num_threads(args.threads)
    train, train_groups = features("train", args.image, config["text"], args.limit)
    test, test_groups = features("test", args.image, config["text"], args.test_limit)
    model = ContrastiveDualEncoder(
        256,
        tower=["mlp", config["tower"]],
        training={
            "epochs": epochs,
            "batch_size": args.batch,
            "threads": args.threads,
            "progress": False,
        },
    )
    views = MultiView({"image": train[0], "text": train[1]}, groups=train_groups)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    base_kb = _status_kb("VmRSS")
    stamps: list[float] = []
    start = time.perf_counter()
    model.fit(views, callback=lambda *_: stamps.append(time.perf_counter()))
    fit_s = time.perf_counter() - start
    peak_kb = _status_kb("VmHWM")
    epoch_s = np.diff([start, *stamps])
    t0 = time.perf_counter()
    text = model.transform_view("text", test[1])
    encode_s = time.perf_counter() - t0
    image = model.transform_view("image", test[0])
    report = cross_modal_retrieval(
        image, text, groups_a=test_groups, groups_b=test_groups, names=("image", "text"), ks=KS
    )
    return {
        "config": name,
        "tower": config["tower"],
        "epochs": epochs,
        "n_train": len(train_groups),
        "n_test": len(test_groups),
        "fit_s": fit_s,
        "first_epoch_s": float(epoch_s[0]),
        "epoch_s": float(np.median(epoch_s[1:] if len(epoch_s) > 1 else epoch_s)),
        "encode_test_text_s": encode_s,
        "peak_rss_mb": max(peak_kb, _status_kb("VmHWM")) / 1024,
        "peak_above_fit_start_mb": (peak_kb - base_kb) / 1024,
        "final_loss": model.history_[-1]["loss"],
        "retrieval": {d: {f"R@{k}": r[f"R@{k}"] for k in KS} for d, r in report.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--limit", type=int, default=1000, help="training pairs (0: all)")
    parser.add_argument("--test-limit", type=int, default=0, help="test pairs (0: all 822)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every configuration")
    parser.add_argument("--frozen-epochs", type=int, default=30, help="frozen towers' long run")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image", default=IMAGE_SPEC, help="locked image features (encoder)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (None: default)")
    parser.add_argument(
        "--configs", default="frozen-linear,frozen-mlp,tuned-1,tuned-2", help="comma-separated"
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.quick:
        args.limit, args.test_limit, args.epochs, args.frozen_epochs = 300, 200, 1, 5
        args.configs = "frozen-linear,tuned-2"
    args.limit, args.test_limit = args.limit or None, args.test_limit or None
    if args.one:
        name, epochs = args.one.rsplit("@", 1)
        print(json.dumps(run_one(name, int(epochs), args)))
        return
    console = Console(width=max(Console().width, 120))
    runs = []
    for name in args.configs.split(","):
        budgets = [args.epochs]
        if name.startswith("frozen") and args.frozen_epochs != args.epochs:
            budgets.append(args.frozen_epochs)
        for epochs in budgets:
            console.print(f"{name}, {epochs} epochs (fresh process)")
            cmd = [sys.executable, __file__, "--one", f"{name}@{epochs}"]
            cmd += [a for a in sys.argv[1:] if a != "--quick"]
            if args.quick:
                cmd += ["--limit", str(args.limit), "--test-limit", str(args.test_limit)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))

    title = (
        f"LiT on OpenClipArt: {runs[0]['n_train']} training pairs, {runs[0]['n_test']} test, "
        f"image {args.image} + MLP (locked features)"
    )
    table = Table(title=title)
    cols = ["text tower", "ep"]
    cols += [f"i→t@{k}" for k in KS] + [f"t→i@{k}" for k in KS]
    cols += ["s/ep", "enc s", "peak MB", "+MB fit"]
    for col in cols:
        table.add_column(col, justify="left" if col == "text tower" else "right")
    for r in runs:
        i2t, t2i = r["retrieval"]["image→text"], r["retrieval"]["text→image"]
        table.add_row(
            r["config"],
            str(r["epochs"]),
            *(f"{i2t[f'R@{k}']:.1f}" for k in KS),
            *(f"{t2i[f'R@{k}']:.1f}" for k in KS),
            f"{r['epoch_s']:.2f}",
            f"{r['encode_test_text_s']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['peak_above_fit_start_mb']:.0f}",
        )
    console.print(table)
    write_json(
        args.out,
        {
            "machine": machine_info(
                ["torch", "transformers", "numpy"], torch_threads=torch.get_num_threads()
            ),
            "args": {k: v for k, v in vars(args).items() if k != "one"},
            "runs": runs,
            "loadavg_end": os.getloadavg(),
        },
    )
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
