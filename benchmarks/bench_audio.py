"""Text ↔ audio retrieval on openclipart-speech (issue 13, item 1): the log-mel CNN tower
against the MFCC + MLP baseline (audio → image through text: ``bench_three_views.py``).

What it measures
----------------
``load_dataset("openclipart-speech")`` (2,000 OpenClipArt images with distinct titles, each
title spoken by espeak-ng in 2 voices: 4,000 clips of 16 kHz), split 80 / 20 by image (seed
0, so both voices of an image are on one side). Written titles through all-MiniLM-L6-v2 (a
trained linear projection on the frozen vectors); clips through

* ``mfcc`` (20 MFCCs and deltas, mean and std over the clip: 80-d) and an MLP tower (the
  baseline), or
* ``log-mel`` (40 mel bands × 120 frames of 25 ms: 3 s, padded at the floor) and the
  ``audio-cnn`` tower (3 conv blocks over (mel, time), attention pooling over time).

The dual encoder (InfoNCE, k 128, batches of 256) trains on the training pairs; reported on
the test rows, under the project's caption relevance (a query's relevant items: the same
title, or the same image): text → audio and audio → text R@1 / R@10 (%).

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_audio.py             # about 15 minutes on 2 cores
    .venv/bin/python benchmarks/bench_audio.py --quick     # 300 images, 3 epochs
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from common import machine_info, training_bench_args, write_json
from rich.console import Console
from rich.table import Table

from jointspace import MultiView, load_dataset, train_test_split
from jointspace.encoders import make_encoder
from jointspace.metrics.evaluation import evaluate_embeddings
from jointspace.models import ContrastiveDualEncoder

OUT = Path(__file__).parent / "results" / "bench_audio.json"
LOG_MEL = {"mels": 40, "frames": 120, "hop_ms": 25.0}
CNN_TOWER = {"kind": "audio-cnn", "mels": 40, "channels": [8, 16, 32]}
console = Console()


def fit_eval(name: str, train: MultiView, test: MultiView, raw: MultiView, towers: list,
             epochs: int) -> dict:
    """Fit a dual encoder on ``train``'s views and report the retrieval figures."""
    model = ContrastiveDualEncoder(128, tower=towers, random_state=0,
                                   training={"epochs": epochs, "batch_size": 256,
                                             "progress": False})
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    Z = dict(zip(train.view_names, model.transform(test)))
    pair = raw.select(["text", "audio"])
    figures = evaluate_embeddings(["text", "audio"], [Z["text"], Z["audio"]],
                                  test.select(["text", "audio"]), raw_rows=pair)
    row = {"model": name, "fit_s": seconds, "relevance": figures["relevance"]}
    for direction in ("text→audio", "audio→text"):
        r = figures["retrieval"][direction]
        row[direction] = {"R@1": r["R@1"], "R@10": r["R@10"]}
    console.print(f"  {name}: text→audio R@1 {row['text→audio']['R@1']:.1f}, audio→text "
                  f"R@1 {row['audio→text']['R@1']:.1f} ({seconds:.0f} s)", highlight=False)
    return row


def main() -> None:
    args = training_bench_args(__doc__, OUT, lambda parser: parser.add_argument(
        "--n", type=int, default=None, help="images (default 2000)"))
    n = args.n or (300 if args.quick else 2000)
    data = load_dataset("openclipart-speech", n=n)
    start = time.perf_counter()
    mfcc = make_encoder("mfcc").transform(data["audio"])
    log_mel = make_encoder("log-mel", **LOG_MEL).transform(data["audio"])
    text = make_encoder("minilm").transform(list(data["text"]))
    console.print(f"encoded {len(data)} clips and titles in {time.perf_counter() - start:.0f} s")
    ids = np.arange(len(data))
    split = train_test_split(MultiView({"audio": mfcc, "text": text}, groups=data.groups,
                                       labels=data.labels, ids=ids), 0.2, random_state=0)
    train_rows, test_rows = (np.asarray(part.ids, dtype=int) for part in split)
    raw = data.subset(test_rows)

    def views(audio: np.ndarray) -> tuple:
        full = MultiView({"audio": audio, "text": text}, groups=data.groups,
                         labels=data.labels, ids=ids)
        return full.subset(train_rows), full.subset(test_rows)

    epochs = args.epochs or (3 if args.quick else 30)
    cnn_epochs = args.epochs or (3 if args.quick else 40)  # 20 epochs: R@1 14.5
    results = [
        fit_eval("mfcc + mlp", *views(mfcc), raw, ["mlp", "linear"], epochs),
        fit_eval("log-mel + audio-cnn", *views(log_mel), raw, [CNN_TOWER, "linear"],
                 cnn_epochs),
    ]
    title = f"openclipart-speech, {len(test_rows)} test clips ({n} images × 2 voices)"
    table = Table(title=title)
    columns = ["text→audio", "audio→text"]
    table.add_column("model")
    for col in columns:
        table.add_column(f"{col} R@1 / R@10", justify="right")
    table.add_column("fit s", justify="right")
    for row in results:
        cells = [f"{row[c]['R@1']:.1f} / {row[c]['R@10']:.1f}" for c in columns]
        table.add_row(row["model"], *cells, f"{row['fit_s']:.0f}")
    console.print(table)
    write_json(args.out, {"machine": machine_info(["torch", "librosa"]), "n": n,
                          "clips": len(data), "test_clips": len(test_rows), "epochs": epochs,
                          "log_mel": LOG_MEL, "cnn_tower": CNN_TOWER, "quick": args.quick,
                          "espeak": data.meta["espeak"], "results": results})
    console.print(f"wrote {args.out}", highlight=False)


if __name__ == "__main__":
    main()
