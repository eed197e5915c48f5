"""Cross-modal generation with the multimodal VAEs on mnist-halves (issue 12's acceptance).

What it measures
----------------
mnist-halves, 4,000 train / 1,000 test rows (stratified split, seed 0), views ``left`` and
``right`` (392 pixels each, in [0, 1]). A classifier (scikit-learn's SVC, RBF kernel) is
trained on the *real* right halves of the training rows; its accuracy on the real test right
halves is the ceiling. For each joint posterior (MoE, PoE, MoPoE, and the split autoencoder
for comparison) a model with its defaults and a Bernoulli likelihood is fitted on the
training rows, the right halves of the test rows are generated from their left halves alone
(``generate(test["left"], from_view="left", to_view="right")``), and the classifier names
their digits: the accuracy of that is the figure (target ≥ 0.80; chance is 0.10). Fit time
and the final KL term are shown beside it. A picture of real left halves, generated right
halves and the real right halves is written next to the JSON.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_vae.py             # about 10 min on 2 idle cores
    .venv/bin/python benchmarks/bench_vae.py --quick     # a few epochs each
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table
from sklearn.svm import SVC

from jointspace import load_dataset, train_test_split
from jointspace.models import MultimodalVAE, SplitAutoencoder

TARGET = 0.80
MODELS = {
    "VAE, mixture of experts (MMVAE)": lambda **kw: MultimodalVAE(posterior="moe", **kw),
    "VAE, product of experts (MVAE)": lambda **kw: MultimodalVAE(posterior="poe", **kw),
    "VAE, mixture of products (MoPoE)": lambda **kw: MultimodalVAE(posterior="mopoe", **kw),
    "split autoencoder": lambda **kw: SplitAutoencoder(**kw),
}


def picture(left: np.ndarray, generated: dict[str, np.ndarray], right: np.ndarray,
            out: Path) -> None:
    """Rows of digits: real left half beside each model's generated right half, then the
    real right half; 10 test digits (one of each class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [("real", right)] + list(generated.items())
    fig, axes = plt.subplots(len(left), len(columns), figsize=(1.6 * len(columns), 12))
    for r in range(len(left)):
        for c, (name, halves) in enumerate(columns):
            whole = np.hstack([left[r].reshape(28, 14), halves[r].reshape(28, 14)])
            axes[r, c].imshow(whole, cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].axis("off")
            if r == 0:
                axes[r, c].set_title(name.split(",")[-1].strip(), fontsize=7)
    fig.suptitle("left half given; right half real (first column) or generated", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs each (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_vae.json"))
    args = parser.parse_args()
    console = Console()
    torch.set_num_threads(1)  # the shared 2-core machine: one thread trains fastest here
    train, test = train_test_split(load_dataset("mnist-halves"), 0.2, random_state=0)
    classifier = SVC().fit(train["right"], train.labels)
    ceiling = classifier.score(test["right"], test.labels)
    console.print(f"classifier on the real test right halves: {ceiling:.3f}")
    rows, generated = [], {}
    for name, build in MODELS.items():
        training = {"progress": False, **({"epochs": 3} if args.quick else {})}
        model = build(likelihood="bernoulli", training=training)
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        right = model.generate(test["left"], from_view="left", to_view="right")
        generated[name] = right
        rows.append({"model": name, "fit_s": seconds,
                     "accuracy": classifier.score(right, test.labels),
                     "kl": model.history_[-1].get("kl"), "params": model.get_params()})
        console.print(f"  {name}: {rows[-1]['accuracy']:.3f} in {seconds:.0f} s")
    table = Table(title="right halves generated from left halves: digit class named by a "
                        "classifier trained on real right halves")
    for col in ("model", "accuracy", "fit s", "final KL"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        kl = "—" if r["kl"] is None else f"{r['kl']:.1f}"
        table.add_row(r["model"], f"{r['accuracy']:.3f}", f"{r['fit_s']:.0f}", kl)
    table.add_row("real right halves (ceiling)", f"{ceiling:.3f}", "", "")
    console.print(table)
    best = max(r["accuracy"] for r in rows if r["model"].startswith("VAE"))
    targets = [Target("best VAE: accuracy on generated right halves", best, f"≥ {TARGET}",
                      best >= TARGET)]
    console.print(targets_table(targets))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pick = [int(np.flatnonzero(test.labels == c)[0]) for c in range(10)]
    png = args.out.with_name(args.out.stem + "_generated.png")
    picture(test["left"][pick], {k: v[pick] for k, v in generated.items()},
            test["right"][pick], png)
    write_json(args.out, {"machine": machine_info(["torch", "scikit-learn"]),
                          "ceiling": ceiling, "rows": rows,
                          "targets": [t.__dict__ for t in targets], "quick": args.quick})
    console.print(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
