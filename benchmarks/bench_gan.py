"""The conditional view GAN (issue 12, item 3): cross-modal generation on mnist-halves and
fills of a missing view on uci-mfeat, against the mean fill, ridge regressions and a VAE.

What it measures
----------------
1. mnist-halves, 4,000 train / 1,000 test rows (stratified split, seed 0), as
   ``bench_vae.py``: an SVC (RBF) trained on the real right halves of the training rows names
   the digits of right halves generated from the test rows' left halves alone; target ≥ 0.80
   (as for the VAEs; chance is 0.10). Beside the accuracy: the squared error against the real
   right halves (pixels in [0, 1]) and the *grey share*, the fraction of generated pixels in
   (0.1, 0.9) (real halves: about 0.1; a regression's blurred mean: more). Rows: the GAN with
   its defaults, the GAN's generators trained on the reconstruction term alone (λ = 10⁴: the
   adversarial term negligible) and the VAEs' figures from ``bench_vae.json`` when present.
2. uci-mfeat, 1,600 train / 400 test digits (stratified, seed 0), six views. Each view in
   turn is removed from every test digit and filled from the other five ("all others"), or
   from one other view chosen at random per digit ("one other"). The figure is the squared
   error in the view's standardized units (training mean and spread) relative to the mean
   fill's (1 = no better than the mean), averaged over the six views. Fills: the mean,
   ``ViewImputer("model")`` with the ridge, the VAE (MoPoE, Gaussian, defaults) and the GAN
   (defaults).

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_gan.py            # about 5 min on 2 idle cores
    .venv/bin/python benchmarks/bench_gan.py --quick    # 3 epochs each
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import Target, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table
from sklearn.svm import SVC

from jointspace import MultiView, load_dataset, train_test_split
from jointspace.models.deep.gan import ConditionalViewGAN
from jointspace.models.missing import ViewImputer

TARGET = 0.80


def grey_share(x: np.ndarray) -> float:
    return float(((x > 0.1) & (x < 0.9)).mean())


def mnist_rows(quick: bool, console: Console) -> tuple[list[dict], float, dict[str, np.ndarray]]:
    train, test = train_test_split(load_dataset("mnist-halves"), 0.2, random_state=0)
    classifier = SVC().fit(train["right"], train.labels)
    ceiling = classifier.score(test["right"], test.labels)
    training = {"progress": False, "threads": 1, **({"epochs": 3} if quick else {})}
    rows, generated = [], {}
    rows.append({"model": "real right halves (ceiling)", "accuracy": ceiling, "mse": 0.0,
                 "grey": grey_share(test["right"]), "fit_s": None})
    for name, params in (("cGAN (defaults)", {}),
                         ("cGAN generators, reconstruction only (λ = 1e4)",
                          {"reconstruction_weight": 1e4})):
        start = time.perf_counter()
        gan = ConditionalViewGAN(**params, training=training).fit(train)
        seconds = time.perf_counter() - start
        right = gan.generate(test["left"], from_view="left", to_view="right")
        generated[name] = right
        rows.append({"model": name, "accuracy": classifier.score(right, test.labels),
                     "mse": float(np.mean((right - test["right"]) ** 2)),
                     "grey": grey_share(right), "fit_s": seconds, "params": gan.get_params()})
        console.print(f"  {name}: {rows[-1]['accuracy']:.3f} in {seconds:.0f} s")
    vae = Path("benchmarks/results/bench_vae.json")
    if vae.is_file():
        for r in json.loads(vae.read_text()).get("rows", []):
            rows.append({"model": f"{r['model']} (bench_vae.json)", "accuracy": r["accuracy"],
                         "mse": None, "grey": None, "fit_s": r.get("fit_s")})
    return rows, ceiling, generated


def fills(quick: bool) -> dict[str, ViewImputer]:
    """The fills compared on uci-mfeat."""
    training = {"progress": False, "threads": 1, **({"epochs": 3} if quick else {})}
    return {"mean": ViewImputer("mean"), "ridge": ViewImputer("model", generator="ridge"),
            "VAE": ViewImputer("model", generator="vae",
                               generator_options={"training": training}),
            "cGAN": ViewImputer("model", generator="gan",
                                generator_options={"training": training})}


def mfeat_rows(fills: dict[str, ViewImputer], console: Console) -> list[dict]:
    train, test = train_test_split(load_dataset("uci-mfeat"), 0.2, random_state=0)
    names, n = train.view_names, test.n_samples
    means = [train[v].mean(axis=0) for v in names]
    scales = [np.where(train[v].std(axis=0) > 1e-12, train[v].std(axis=0), 1.0) for v in names]
    rng = np.random.default_rng(1)
    masks = {}
    for j in range(len(names)):
        full = np.ones((n, len(names)), dtype=bool)
        full[:, j] = False
        one = np.zeros_like(full)
        one[np.arange(n), [rng.choice([i for i in range(len(names)) if i != j])
                           for _ in range(n)]] = True
        masks[j] = {"all others": full, "one other": one}
    rows = []
    for name, imputer in fills.items():
        start = time.perf_counter()
        imputer.fit(train)
        seconds = time.perf_counter() - start
        row = {"fill": name, "fit_s": seconds}
        for setting in ("all others", "one other"):
            errors = []
            for j, view in enumerate(names):
                mv = MultiView({v: test[v] for v in names}, mask=masks[j][setting])
                truth = (test[view] - means[j]) / scales[j]
                filled = (imputer.transform(mv)[view] - means[j]) / scales[j]
                errors.append(float(np.mean((filled - truth) ** 2) / np.mean(truth ** 2)))
            row[setting] = float(np.mean(errors))
            row[f"{setting} per view"] = dict(zip(names, errors))
        rows.append(row)
        console.print(f"  {name}: {row['all others']:.3f} / {row['one other']:.3f} "
                      f"in {seconds:.0f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs each (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_gan.json"))
    args = parser.parse_args()
    console = Console()
    torch.set_num_threads(1)  # the shared 2-core machine
    mnist, ceiling, _ = mnist_rows(args.quick, console)
    table = Table(title="mnist-halves: right halves generated from left halves (digit class "
                        "named by an SVC trained on real right halves)")
    for col in ("model", "accuracy", "squared error", "grey share", "fit s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    show = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for r in mnist:
        table.add_row(r["model"], f"{r['accuracy']:.3f}", show(r["mse"], ".4f"),
                      show(r["grey"], ".3f"), show(r["fit_s"], ".0f"))
    console.print(table)
    mfeat = mfeat_rows(fills(args.quick), console)
    table = Table(title="uci-mfeat: a view removed from every test digit, filled; squared "
                        "error relative to the mean fill's (mean over the six views)")
    for col in ("fill", "from all others", "from one other", "fit s"):
        table.add_column(col, justify="left" if col == "fill" else "right")
    for r in mfeat:
        table.add_row(r["fill"], f"{r['all others']:.3f}", f"{r['one other']:.3f}",
                      f"{r['fit_s']:.0f}")
    console.print(table)
    gan = next(r for r in mnist if r["model"] == "cGAN (defaults)")
    gan_fill = next(r for r in mfeat if r["fill"] == "cGAN")
    targets = [Target("cGAN: accuracy on generated right halves", gan["accuracy"],
                      f"≥ {TARGET}", gan["accuracy"] >= TARGET),
               Target("cGAN fill error / mean fill's (all others)", gan_fill["all others"],
                      "< 1", gan_fill["all others"] < 1)]
    console.print(targets_table(targets))
    write_json(args.out, {"machine": machine_info(["torch", "scikit-learn"]),
                          "ceiling": ceiling, "mnist": mnist, "mfeat": mfeat,
                          "targets": [t.__dict__ for t in targets], "quick": args.quick})
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
