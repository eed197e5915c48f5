"""Benchmark robustness to caption noise (issue 12 item 5): text ↔ image retrieval on
OpenClipArt as words are dropped from the query captions.

What it measures
----------------
A saved pipeline (default ``runs/openclipart``, the one ``make demo`` fits: the default dual
encoder on EfficientNet-Lite0 + HOG + colour-histogram images and MiniLM captions) embeds the
official test split (822 image–caption pairs) once. Then each word of each test caption is
dropped with probability p (:func:`jointspace.data.noise.drop_words`, at least one word kept;
p = 0, 10, 30, 50, 70 %, 3 seeds each), the noisy captions are embedded, and instance
retrieval is scored in both directions (R@1, R@10; a caption's relevant image is its own):
text → image (noisy queries) and image → text (noisy gallery). ``--pipelines`` compares
several saved pipelines side by side.

Run (from the repository root; ~1–2 minutes with the feature cache)::

    .venv/bin/python benchmarks/bench_caption_noise.py
    .venv/bin/python benchmarks/bench_caption_noise.py --pipelines runs/a,runs/b --seeds 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import machine_info, write_json
from rich.console import Console
from rich.table import Table

from jointspace.cli.audit import audit_rows
from jointspace.cli.data_source import DataSource
from jointspace.data.noise import drop_words
from jointspace.metrics import cross_modal_retrieval
from jointspace.pipeline import Pipeline

OUT = Path(__file__).parent / "results" / "bench_caption_noise.json"
RATES = (0.0, 0.1, 0.3, 0.5, 0.7)
console = Console()


def noisy_retrieval(pipe: Pipeline, rows, rates, seeds: int) -> list[dict]:
    """One result row per (rate, seed): R@1 / R@10 both ways with noisy captions."""
    image, text = pipe.view_names[:2]
    z_image = pipe.transform_view(image, rows[image])
    groups = rows.relevance_groups
    out = []
    for rate in rates:
        for seed in range(seeds if rate > 0 else 1):
            captions = drop_words(list(rows[text]), rate, seed=seed)
            z_text = pipe.transform_view(text, captions)
            r = cross_modal_retrieval(z_text, z_image, groups_a=groups, groups_b=groups,
                                      names=("text", "image"))
            words = np.mean([len(c.split()) for c in captions])
            out.append({"rate": rate, "seed": seed, "words_per_caption": float(words),
                        **{f"{d} {k}": r[d][k] for d in r for k in ("R@1", "R@10")}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default="runs/openclipart")
    parser.add_argument("--cache-dir", default=str(Path("~/.cache/jointspace/features")
                                                   .expanduser()))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    results = {}
    for path in args.pipelines.split(","):
        start = time.perf_counter()
        pipe = Pipeline.load(path)
        pipe.cache_dir = args.cache_dir
        rows, source = audit_rows(pipe, DataSource(), "test", path)
        results[path] = noisy_retrieval(pipe, rows, RATES, args.seeds)
        console.print(f"{path}: {len(rows)} test pairs of {source.name}, "
                      f"{time.perf_counter() - start:.0f} s", highlight=False)
    keys = [k for k in results[next(iter(results))][0] if "@" in k]
    table = Table(title="OpenClipArt test, instance retrieval with words dropped from the "
                        f"captions (mean of {args.seeds} seeds)")
    for col in ("pipeline", "words dropped", "words / caption", *keys):
        table.add_column(col, justify="left" if col == "pipeline" else "right")
    summary = {}
    for path, runs in results.items():
        for rate in RATES:
            at = [r for r in runs if r["rate"] == rate]
            mean = {k: float(np.mean([r[k] for r in at])) for k in [*keys, "words_per_caption"]}
            summary.setdefault(path, {})[str(rate)] = mean
            table.add_row(Path(path).name, f"{rate:.0%}", f"{mean['words_per_caption']:.1f}",
                          *(f"{mean[k]:.1f}" for k in keys))
        table.add_section()
    console.print(table)
    write_json(args.out, {"machine": machine_info(["numpy", "torch"]), "rates": RATES,
                          "seeds": args.seeds, "summary": summary, "runs": results})
    console.print(f"wrote {args.out}", highlight=False)


if __name__ == "__main__":
    main()
