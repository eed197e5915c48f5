"""Three modalities in one space (issue 13, item 2): audio → image retrieval on
openclipart-speech when no training sample pairs a clip with its image.

What it measures
----------------
``load_dataset("openclipart-speech")`` (2,000 OpenClipArt images, each title spoken by
espeak-ng in 2 voices), split 80 / 20 by image (seed 0). Views: audio (``mfcc``), text
(``minilm``) and image (``efficientnet+hog+color-hist``). In training, each image's first row
keeps its picture and title but loses its clip, its second row keeps its clip and title but
loses the picture:
no training row holds both a clip and an image, so audio and image meet only through text.
(Masking whole images instead — half the images without clips, half without pictures — gave
the dual encoder audio → image R@1 1.9 / R@10 5.9: half the pairs of each kind.) Models:

* the N-tower dual encoder anchored on text (``anchor="text"``; with this split every pair
  of views gives the same model) — MLP towers on audio and image, a projection on MiniLM;
  and the same with the clips as log-mel rows (40 mels × 120 frames) through the
  ``audio-cnn`` tower (40 epochs, as in ``bench_audio.py``);
* DGCCA on the masked views (its deep GCCA objective skips what a row lacks);
* MCCA and GCCA on views filled by ridge regression from the views a row has
  (``missing="model"``: neither trains on masked views);
* for reference, the dual encoder trained with every view in every row (audio–image pairs
  seen), which audio → image through text should approach.

Reported on the held-out images (each with its 2 clips and title), an image's rows one
group: audio → image, text → audio and text → image R@1 / R@10 (%), with chance.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_three_views.py           # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/bench_three_views.py --quick   # 300 images, 3 epochs
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from common import machine_info, training_bench_args, write_json
from rich.console import Console
from rich.table import Table

from jointspace import MultiView, load_dataset, train_test_split
from jointspace.encoders import encode_cached, make_encoder
from jointspace.metrics import cross_modal_retrieval
from jointspace.models import GCCA, MCCA
from jointspace.models.deep import DGCCA, ContrastiveDualEncoder

OUT = Path(__file__).parent / "results" / "bench_three_views.json"
LOG_MEL = {"mels": 40, "frames": 120, "hop_ms": 25.0}  # as bench_audio.py
CNN_TOWER = {"kind": "audio-cnn", "mels": 40, "channels": [8, 16, 32]}
CACHE = Path.home() / ".cache" / "jointspace" / "features"
VIEWS = ("audio", "text", "image")
DIRECTIONS = (("audio", "image"), ("text", "audio"), ("text", "image"))
console = Console()


def without_audio_image_pairs(train: MultiView) -> MultiView:
    """``train`` with no row holding both a clip and a picture: each image's first row keeps
    its picture and title (clip masked), its other rows keep their clip and title (picture
    masked)."""
    first = np.zeros(train.n_samples, dtype=bool)
    first[np.unique(train.groups, return_index=True)[1]] = True
    mask = np.ones((train.n_samples, 3), dtype=bool)
    mask[first, 0] = False
    mask[~first, 2] = False
    arrays = {v: np.where(mask[:, [i]], train[v], np.nan) for i, v in enumerate(VIEWS)}
    return MultiView(arrays, mask=mask, groups=train.groups, labels=train.labels,
                     ids=train.ids)


def models(k: int, epochs: int, cnn_epochs: int) -> dict:
    training = {"epochs": epochs, "batch_size": 256, "progress": False}
    dual = {"tower": ["mlp", "linear", "mlp"], "random_state": 0, "training": training}
    cnn = {"tower": [CNN_TOWER, "linear", "mlp"], "random_state": 0,
           "training": {**training, "epochs": cnn_epochs}}
    return {
        "dual encoder, anchor text": ContrastiveDualEncoder(k, anchor="text", **dual),
        "dual encoder, anchor text, log-mel + audio-cnn":
            ContrastiveDualEncoder(k, anchor="text", **cnn),
        "DGCCA (masked views)": DGCCA(min(k, 32), training=training),
        "MCCA (ridge-filled views)": MCCA(min(k, 32), reg=0.1, missing="model"),
        "GCCA (ridge-filled views)": GCCA(min(k, 32), reg=0.1, missing="model"),
    }


def scores(model, test: MultiView) -> dict:
    """R@1 / R@10 of each direction on the test rows (an image's rows: one group)."""
    Z = dict(zip(VIEWS, model.transform(test)))
    row = {}
    for a, b in DIRECTIONS:
        r = cross_modal_retrieval(Z[a], Z[b], groups_a=test.groups, groups_b=test.groups,
                                  names=(a, b), ks=(1, 10))[f"{a}→{b}"]
        row[f"{a}→{b}"] = {"R@1": r["R@1"], "R@10": r["R@10"]}
    return row


def main() -> None:
    args = training_bench_args(__doc__, OUT)
    n = 300 if args.quick else 2000
    epochs = args.epochs or (3 if args.quick else 30)
    cnn_epochs = args.epochs or (3 if args.quick else 40)
    data = load_dataset("openclipart-speech", n=n)
    start = time.perf_counter()
    features = {}
    for view, spec in (("audio", "mfcc"), ("text", "minilm"),
                       ("image", "efficientnet+hog+color-hist")):
        items = list(data[view])
        features[view] = encode_cached(make_encoder(spec).fit(items), items, CACHE)
    log_mel = make_encoder("log-mel", **LOG_MEL).transform(list(data["audio"]))
    console.print(f"encoded {len(data)} rows in {time.perf_counter() - start:.0f} s")
    full = MultiView(features, groups=data.groups, labels=data.labels, ids=np.arange(len(data)))
    train, test = train_test_split(full, 0.2, random_state=0)
    split = without_audio_image_pairs(train)
    assert not (split.mask[:, 0] & split.mask[:, 2]).any()

    def with_log_mel(part: MultiView) -> MultiView:
        """``part`` with its clips as log-mel rows (the same rows and mask)."""
        audio = np.where(part.mask[:, [0]], log_mel[np.asarray(part.ids, dtype=int)], np.nan)
        arrays = {v: audio if v == "audio" else part[v] for v in VIEWS}
        return MultiView(arrays, mask=part.mask, groups=part.groups, labels=part.labels)

    chance = {"R@1": 100 * 2 / test.n_samples, "R@10": 100 * 20 / test.n_samples}
    results = []
    runs = [(name, m, split, test) for name, m in models(128, epochs, cnn_epochs).items()]
    runs[1] = (*runs[1][:2], with_log_mel(split), with_log_mel(test))
    reference = ContrastiveDualEncoder(128, tower=["mlp", "linear", "mlp"], random_state=0,
                                       training={"epochs": epochs, "batch_size": 256,
                                                 "progress": False})
    runs.append(("reference: dual encoder, every view in every row", reference, train, test))
    for name, model, fit_on, test_on in runs:
        t = time.perf_counter()
        model.fit(fit_on)
        row = {"model": name, "fit_s": time.perf_counter() - t, **scores(model, test_on)}
        results.append(row)
        console.print(f"  {name}: audio→image R@1 {row['audio→image']['R@1']:.1f}, R@10 "
                      f"{row['audio→image']['R@10']:.1f} ({row['fit_s']:.0f} s)",
                      highlight=False)
    table = Table(title=f"openclipart-speech, {test.n_samples} test rows ({n} images): "
                        "no clip paired with its image in training")
    table.add_column("model")
    for a, b in DIRECTIONS:
        table.add_column(f"{a}→{b} R@1 / R@10", justify="right")
    table.add_column("fit s", justify="right")
    for row in results:
        cells = [f"{row[f'{a}→{b}']['R@1']:.1f} / {row[f'{a}→{b}']['R@10']:.1f}"
                 for a, b in DIRECTIONS]
        table.add_row(row["model"], *cells, f"{row['fit_s']:.0f}")
    table.add_row("chance (≈)", *[f"{chance['R@1']:.1f} / {chance['R@10']:.1f}"] * 3, "")
    console.print(table)
    write_json(args.out, {"machine": machine_info(["torch"]), "n": n, "epochs": epochs,
                          "test_rows": test.n_samples, "chance": chance, "quick": args.quick,
                          "results": results})
    console.print(f"wrote {args.out}", highlight=False)


if __name__ == "__main__":
    main()
