"""Missing and noisy views: how much each method loses (issue 12's acceptance table).

What it measures
----------------
For each dataset (noisy-mnist: view1 / view2; uci-mfeat: fou / kar), stratified 80 / 20 split
(seed 0), each view standardized on the training rows, and for each setting:

* ``missing p``: the second view removed at random from a fraction p (0, 30 %, 60 %) of the
  training rows *and* of the test rows (marked in the MultiView's mask);
* ``noise``: no view missing, Gaussian noise of one standard deviation added to the second
  view of the test rows only.

each method is fitted on the training rows and scored on the test rows:

* the linear-probe accuracy of its fused test vectors (``fuse``: one vector per sample from
  the views it has; a logistic regression trained on the fused training vectors), or, for
  the fusion classifiers, their own test accuracy;
* R@1 / R@10 from the first view to the second over the test rows that have both (the
  joint-space methods only; with 60 % removed the gallery is 40 % of the test rows, so R@10
  compares methods within a column, not across columns).

Methods: CCA and DCCA (trained on the complete rows: they need every view), the multimodal
VAE with each posterior (trained on every row, masks honoured), CCA on views filled by a
``ViewImputer`` (the training mean, ridge predictions, the VAE's or the conditional GAN's
generations), and ``FusionClassifier`` with every fusion module (masks honoured). A table per
dataset and JSON beside it. ``--methods`` runs the methods whose names contain one of the
given words (e.g. ``--methods attention,gated``).

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_missing.py              # about an hour on 2 cores
    .venv/bin/python benchmarks/bench_missing.py --quick      # a few epochs, smaller data
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import machine_info, write_json
from rich.console import Console
from rich.table import Table

from jointspace import MultiView, load_dataset, train_test_split
from jointspace.metrics import cross_modal_retrieval, linear_probe_accuracy
from jointspace.models import CCA, DCCA, MultimodalVAE
from jointspace.models.fusion_heads import FusionClassifier
from jointspace.models.missing import ViewImputer

FUSIONS = ("early", "late", "hierarchical", "hybrid", "gated", "self-attention",
           "cross-attention", "co-attention")

DATASETS = {"noisy-mnist": ("view1", "view2"), "uci-mfeat": ("fou", "kar")}
SETTINGS = [
    ("missing 0 %", 0.0, False),
    ("missing 30 %", 0.3, False),
    ("missing 60 %", 0.6, False),
    ("noise σ = 1", 0.0, True),
]
K = 20


def prepare(name: str, quick: bool) -> tuple[MultiView, MultiView]:
    """The two views of ``name``, split and standardized on the training rows."""
    data = load_dataset(name).select(list(DATASETS[name]))
    if quick:
        data = data.subset(np.arange(0, data.n_samples, 4))
    train, test = train_test_split(data, 0.2, random_state=0)
    views_tr, views_te = {}, {}
    for v in data.view_names:
        mu, sd = train[v].mean(axis=0), train[v].std(axis=0) + 1e-8
        views_tr[v], views_te[v] = (train[v] - mu) / sd, (test[v] - mu) / sd
    return (MultiView(views_tr, labels=train.labels), MultiView(views_te, labels=test.labels))


def damage(mv: MultiView, fraction: float, noise: bool, seed: int) -> MultiView:
    """``mv`` with the second view masked on ``fraction`` of the rows, or noised."""
    rng = np.random.default_rng(seed)
    names = mv.view_names
    views = {n: mv[n].copy() for n in names}
    mask = np.ones((mv.n_samples, 2), dtype=bool)
    mask[rng.random(mv.n_samples) < fraction, 1] = False
    if noise:
        views[names[1]] = views[names[1]] + rng.normal(size=views[names[1]].shape)
    return MultiView(views, mask=mask, labels=mv.labels)


def joint_scores(
    model: Any, train: MultiView, test: MultiView, both: np.ndarray
) -> dict[str, float]:
    """Probe accuracy of the fused vectors, and R@1 / R@10 over the test rows ``both`` (bool)
    that truly have both views (not filled ones)."""
    probe = linear_probe_accuracy(model.fuse(train), train.labels, model.fuse(test), test.labels)
    both = test.subset(both)
    za, zb = model.transform(both)
    r = cross_modal_retrieval(za, zb, names=("a", "b"))["a→b"]
    return {"probe": probe, "R@1": r["R@1"], "R@10": r["R@10"]}


def methods(quick: bool) -> dict[str, Callable[[MultiView, MultiView], dict[str, float]]]:
    """Method name → function(train, test) → scores."""
    training = {"progress": False, **({"epochs": 3} if quick else {})}

    def fitted(model: Any, imputer: ViewImputer | None = None):
        def run(train: MultiView, test: MultiView) -> dict[str, float]:
            both = test.complete_rows()
            if imputer is not None:
                filling = imputer.fit(train)
                train, test = filling.transform(train), filling.transform(test)
            return joint_scores(model.fit(train), train, test, both)

        return run

    def classifier(fusion: str):
        def run(train: MultiView, test: MultiView) -> dict[str, float]:
            clf = FusionClassifier(fusion, training=training).fit(train, train.labels)
            return {"probe": clf.score(test, test.labels)}

        return run

    generated = {"generator_options": {"training": training}}
    return {
        "CCA (complete rows)": fitted(CCA(K, reg=1e-3)),
        "CCA on mean-filled views": fitted(CCA(K, reg=1e-3), ViewImputer("mean")),
        "CCA on ridge-filled views": fitted(CCA(K, reg=1e-3), ViewImputer("model")),
        "CCA on VAE-filled views": fitted(
            CCA(K, reg=1e-3), ViewImputer("model", generator="vae", **generated)),
        "CCA on GAN-filled views": fitted(
            CCA(K, reg=1e-3), ViewImputer("model", generator="gan", **generated)),
        "DCCA (complete rows)": fitted(DCCA(K, training=training)),
        "VAE, PoE": fitted(MultimodalVAE(K, posterior="poe", training=training)),
        "VAE, MoE": fitted(MultimodalVAE(K, posterior="moe", training=training)),
        "VAE, MoPoE": fitted(MultimodalVAE(K, posterior="mopoe", training=training)),
        **{f"fusion classifier, {fusion}": classifier(fusion) for fusion in FUSIONS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the rows, 3 epochs")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default="", help="words, comma-separated: run the "
                        "methods whose names contain one (default: all)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_missing.json"))
    args = parser.parse_args()
    console = Console()
    torch.set_num_threads(1)  # small networks on a shared 2-core machine
    rows = []
    for dataset in args.datasets.split(","):
        train, test = prepare(dataset, args.quick)
        table = Table(
            title=f"{dataset}: probe accuracy of fused vectors (classifiers: their "
            "accuracy) | R@10 first → second view"
        )
        table.add_column("method")
        for setting, _, _ in SETTINGS:
            table.add_column(setting, justify="right")
        words = [w for w in args.methods.split(",") if w]
        for name, run in methods(args.quick).items():
            if words and not any(w in name for w in words):
                continue
            cells = []
            for i, (setting, fraction, noise) in enumerate(SETTINGS):
                start = time.perf_counter()
                scores = run(
                    damage(train, fraction, False, seed=i),
                    damage(test, fraction, noise, seed=100 + i),
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "method": name,
                        "setting": setting,
                        "seconds": time.perf_counter() - start,
                        **scores,
                    }
                )
                r10 = f" | {scores['R@10']:.1f}" if "R@10" in scores else ""
                cells.append(f"{scores['probe']:.3f}{r10}")
            table.add_row(name, *cells)
            console.print(f"  {dataset}: {name}")
        console.print(table)
    write_json(
        args.out,
        {"machine": machine_info(["torch", "scikit-learn"]), "rows": rows, "quick": args.quick},
    )
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
