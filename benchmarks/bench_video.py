"""Text → video retrieval on moving-mnist-captions with each temporal tower (issue 13,
item 3): mean pooling (order-blind), a temporal 1-D convolution, a temporal transformer.

What it measures
----------------
``load_dataset("moving-mnist-captions")`` (2,000 clips of real MNIST digits moving over
64 × 64, 20 frames, .mp4), split 80 / 20 (seed 0). Captions through all-MiniLM-L6-v2 (a
trained linear projection on the frozen vectors); clips through the ``video-frames`` encoder
(20 grey frames of 16 × 16) and a ``temporal`` tower. The dual encoder (InfoNCE, its
defaults otherwise, 60 epochs in batches of 256) trains on the training pairs; reported on
the test pairs:

* text → video R@1 / R@10 (%), a caption's relevant clip being its own;
* direction accuracy (%): for each test clip that is not a bounce, whether it is closer to
  its own caption than to the caption of the same clip played backwards (every direction
  reversed, legs in reverse order: "moves left, then up" → "moves down, then right"). A
  clip played backwards holds the same frames, so mean pooling can only guess (50 %);
* direction-only R@1 (%): the same clips' captions, each searched among the clips whose
  captions differ from it only in direction (same digits, same kind of motion), the
  gallery holding the test clips and each of them played backwards (frame order reversed);
  relevant: a clip whose caption is the query (so the reversed clip of "moves right, then
  left" counts for that caption too). Every clip has a twin with the same frames whose
  caption differs only in direction: an order-blind tower ranks the twins alike (a tie,
  counted against it).

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_video.py             # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_video.py --quick     # 400 clips, 5 epochs
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from common import machine_info, training_bench_args, write_json
from rich.console import Console
from rich.table import Table

from jointspace import MultiView, load_dataset, train_test_split
from jointspace.encoders import make_encoder
from jointspace.metrics import cross_modal_retrieval
from jointspace.models import ContrastiveDualEncoder

OUT = Path(__file__).parent / "results" / "bench_video.json"
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
POOLS = ("mean", "conv", "transformer")
console = Console()


def played_backwards(motion: dict) -> str | None:
    """The caption of the clip played backwards (None for a bounce: the same caption)."""
    d = motion["digits"]
    if motion["kind"] == "two-leg":
        a, b = motion["moves"]
        return f"the digit {d[0]} moves {OPPOSITE[b]}, then {OPPOSITE[a]}"
    if motion["kind"] == "two-digit":
        a, b = motion["moves"]
        return f"the digit {d[0]} moves {OPPOSITE[a]} while the digit {d[1]} moves {OPPOSITE[b]}"
    return None


def reversed_clips(features: np.ndarray, frames: int) -> np.ndarray:
    """Frame-major rows (n, T·d) of ``video-frames`` with the frame order reversed."""
    n = len(features)
    return features.reshape(n, frames, -1)[:, ::-1].reshape(n, -1)


def skeleton(caption: str) -> str:
    """The caption with its directions blanked: captions with one skeleton differ only in
    direction."""
    return re.sub(r"\b(left|right|up|down)\b", "_", caption)


def direction_only_r1(model: ContrastiveDualEncoder, queries: np.ndarray, clips: np.ndarray,
                      captions: list[str], backwards: list[str]) -> float:
    """Text → video R@1 (%) among the clips whose captions differ from the query only in
    direction: the gallery holds ``clips`` (n, T·d) and each played backwards; each query
    (the caption of a clip) ranks the gallery items of its skeleton (same digits, same kind
    of motion), relevant when their caption is the query. Ties count against the query."""
    gallery = np.vstack([model.transform_view("video", clips),
                         model.transform_view("video", reversed_clips(clips, 20))])
    gallery_captions = np.array(captions + backwards)
    gallery_skeletons = np.array([skeleton(c) for c in gallery_captions])
    hits = []
    for query, caption in zip(queries, captions):
        candidates = gallery_skeletons == skeleton(caption)
        scores = gallery[candidates] @ query
        relevant = gallery_captions[candidates] == caption
        best_relevant = scores[relevant].max()
        hits.append(not (scores[~relevant] >= best_relevant).any())
    return 100 * float(np.mean(hits))


def main() -> None:
    args = training_bench_args(__doc__, OUT)
    n = 400 if args.quick else 2000
    data = load_dataset("moving-mnist-captions", n=n)
    start = time.perf_counter()
    video = make_encoder("video-frames", frames=20, size=16).transform(data["video"])
    minilm = make_encoder("minilm")
    text = minilm.transform(list(data["text"]))
    backwards = [played_backwards(m) for m in data.meta["motions"]]
    flipped = minilm.transform([b or c for b, c in zip(backwards, data["text"])])
    console.print(f"encoded {n} clips and captions in {time.perf_counter() - start:.0f} s")
    train, test = train_test_split(MultiView({"video": video, "text": text},
                                             ids=np.arange(n)), 0.2, random_state=0)
    rows = np.asarray(test.ids, dtype=int)
    epochs = args.epochs or (5 if args.quick else 60)  # 60 beat 30 for every tower
    results = []
    for pool in POOLS:
        tower = {"kind": "temporal", "frames": 20, "pool": pool}
        model = ContrastiveDualEncoder(128, tower=[tower, "linear"],
                                       training={"epochs": epochs, "batch_size": 256,
                                                 "progress": False})
        t = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - t
        zv, zt = model.transform(test)
        r = cross_modal_retrieval(zt, zv, names=("text", "video"))["text→video"]
        zf = model.transform_view("text", flipped[rows])
        own, other = (zv * zt).sum(axis=1), (zv * zf).sum(axis=1)
        directed = np.array([backwards[i] is not None for i in rows])
        accuracy = 100 * float((own > other)[directed].mean())
        kept = rows[directed]
        only = direction_only_r1(model, zt[directed], video[kept],
                                 [str(data["text"][i]) for i in kept],
                                 [backwards[i] for i in kept])
        results.append({"pool": pool, "R@1": r["R@1"], "R@10": r["R@10"],
                        "direction_accuracy": accuracy, "direction_only_R@1": only,
                        "fit_s": seconds,
                        "n_directed": int(directed.sum())})
        console.print(f"  {pool}: R@1 {r['R@1']:.1f}, direction {accuracy:.1f} %, "
                      f"direction-only R@1 {only:.1f} ({seconds:.0f} s)")
    table = Table(title=f"moving-mnist-captions, {len(rows)} test clips: text → video")
    for col in ("tower", "R@1", "R@10", "direction accuracy %", "direction-only R@1",
                "fit s"):
        table.add_column(col, justify="left" if col == "tower" else "right")
    for row in results:
        table.add_row(row["pool"], f"{row['R@1']:.1f}", f"{row['R@10']:.1f}",
                      f"{row['direction_accuracy']:.1f}", f"{row['direction_only_R@1']:.1f}",
                      f"{row['fit_s']:.0f}")
    console.print(table)
    write_json(args.out, {"machine": machine_info(["torch"]), "n": n, "epochs": epochs,
                          "quick": args.quick, "results": results})
    console.print(f"wrote {args.out}", highlight=False)


if __name__ == "__main__":
    main()
