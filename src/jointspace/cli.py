"""The ``jointspace`` command: datasets, fit, eval, bench.

Heavy modules are imported inside the commands, so ``jointspace --help`` starts fast.
Errors in the user's input print one line (``error: …``) and exit with status 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Learn joint spaces for paired multi-view data, evaluate and compare them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
datasets_app = typer.Typer(help="Built-in real datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
console = Console()
RETRIEVAL_KEYS = ("R@1", "R@5", "R@10", "MedR", "mAP")

# training options of the deep models (dcca, dccae, dgcca); linear models ignore them
EPOCHS = typer.Option(None, help="Deep models: training epochs.")
BATCH_SIZE = typer.Option(None, help="Deep models: minibatch size.")
LR = typer.Option(None, help="Deep models: learning rate.")
HIDDEN = typer.Option(None, help="Deep models: hidden widths, e.g. 1024,1024.")
ACTIVATION = typer.Option(None, help="Deep models: relu, gelu, tanh, sigmoid, …")
INPUT_NOISE = typer.Option(None, help="Deep models: std of Gaussian input noise in training.")
WEIGHT_DECAY = typer.Option(None, help="Deep models: AdamW weight decay.")
DEVICE = typer.Option(None, help="Deep models: cpu, cuda or auto.")


def _model_params(
    epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device
) -> dict[str, Any]:  # noqa: ANN001 - typer values
    widths = None if hidden is None else tuple(int(h) for h in _split_names(hidden) or [])
    return {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "hidden": widths,
        "activation": activation,
        "input_noise": input_noise,
        "weight_decay": weight_decay,
        "device": device,
    }


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn input errors into one clear line and exit status 2, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, KeyError, FileNotFoundError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            Console(stderr=True).print(
                f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None

    return wrapper


def _split_names(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=float) + "\n")


# --------------------------------------------------------------------------- datasets
@datasets_app.command("list")
@user_errors
def datasets_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """List the built-in datasets."""
    from jointspace.data.datasets import list_datasets

    infos = list_datasets()
    if as_json:
        _print_json(
            [
                {
                    "name": i.name,
                    "views": list(i.views),
                    "description": i.description,
                    "citation": i.citation,
                }
                for i in infos
            ]
        )
        return
    table = Table(title="jointspace datasets")
    for col in ("name", "views", "description"):
        table.add_column(col)
    for i in infos:
        table.add_row(i.name, ", ".join(i.views), i.description)
    console.print(table)


@datasets_app.command("show")
@user_errors
def datasets_show(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Load a dataset and describe its views, labels and source."""
    import numpy as np

    from jointspace.data.datasets import load_dataset

    data = load_dataset(name)
    info = {
        "name": name,
        "n_samples": data.n_samples,
        "views": {
            v: (list(data[v].shape[1:]) if data.is_numeric(v) else "raw") for v in data.view_names
        },
        "n_classes": None if data.labels is None else int(len(np.unique(data.labels))),
        "description": data.meta.get("description"),
        "citation": data.meta.get("citation"),
    }
    if as_json:
        _print_json(info)
        return
    table = Table(title=f"{name}: {info['n_samples']} paired samples", show_header=False)
    table.add_row(
        "views",
        ", ".join(
            f"{v} ({d[0]}-d)" if isinstance(d, list) else v for v, d in info["views"].items()
        ),
    )
    table.add_row("classes", str(info["n_classes"] or "none"))
    table.add_row("description", str(info["description"]))
    table.add_row("citation", str(info["citation"]))
    console.print(table)


@datasets_app.command("prepare")
@user_errors
def datasets_prepare(
    name: str,
    size: int = typer.Option(64, help="Rendered image side in pixels (image datasets)."),
    cache_dir: str = typer.Option(
        None, help="Cache folder (default: $JOINTSPACE_CACHE or ~/.cache/jointspace)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Download-free preparation: parse, render and cache a dataset, then summarize it."""
    import inspect

    import numpy as np

    from jointspace.data.datasets import dataset_info, load_dataset

    accepted = inspect.signature(dataset_info(name).loader).parameters
    options = {
        k: v
        for k, v in {"size": size, "cache_dir": cache_dir}.items()
        if k in accepted and v is not None
    }
    data = load_dataset(name, **options)
    splits = data.meta.get("split")
    summary = {
        "name": name,
        "n_samples": data.n_samples,
        "splits": {}
        if splits is None
        else {str(k): int(v) for k, v in zip(*np.unique(splits, return_counts=True))},
        "n_classes": None if data.labels is None else int(len(np.unique(data.labels))),
        "skipped": {k: len(v) for k, v in data.meta.get("skipped", {}).items()},
    }
    if as_json:
        _print_json(summary)
        return
    console.print(
        f"{name}: {summary['n_samples']} samples ready"
        + (f", splits {summary['splits']}" if summary["splits"] else "")
        + (f", skipped {summary['skipped']}" if summary["skipped"] else ""),
        highlight=False,
    )


# --------------------------------------------------------------------------- fit / eval
@app.command()
@user_errors
def fit(
    dataset: str = typer.Option(..., help="Built-in dataset name (see `datasets list`)."),
    model: str = typer.Option("cca", help="cca, pls, mcca, gcca or kcca."),
    n_components: int = typer.Option(10, help="Dimension k of the joint space."),
    reg: float = typer.Option(None, help="Ridge ε per view on the covariance scale."),
    views: str = typer.Option(None, help="Comma-separated views (default: all / first two)."),
    test_size: float = typer.Option(0.2, help="Held-out fraction (stratified, group-aware)."),
    seed: int = typer.Option(0, help="Seed of the split."),
    out: str = typer.Option(..., help="Directory to save the fitted model to."),
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    hidden: str = HIDDEN,
    activation: str = ACTIVATION,
    input_noise: float = INPUT_NOISE,
    weight_decay: float = WEIGHT_DECAY,
    device: str = DEVICE,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Fit a joint model on a dataset's training split and save it to OUT."""
    import time

    from jointspace.bench.harness import choose_views
    from jointspace.data import train_test_split
    from jointspace.data.datasets import load_dataset
    from jointspace.models.factory import make_model

    params = _model_params(
        epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device
    )
    estimator = make_model(
        model, n_components=n_components, reg=reg, random_state=seed, progress=not as_json, **params
    )
    data = load_dataset(dataset)
    names = choose_views(data, _split_names(views), estimator)
    train, _ = train_test_split(data, test_size, random_state=seed)
    if not as_json:
        console.print(f"fitting {model} on {dataset} ({len(train)} samples)", highlight=False)
    start = time.perf_counter()
    estimator.fit(train.select(names))
    seconds = time.perf_counter() - start
    metadata = {
        "dataset": dataset,
        "views": names,
        "test_size": test_size,
        "seed": seed,
        "model": model,
        "fit_seconds": seconds,
    }
    estimator.save(out, metadata=metadata)
    summary = {
        **metadata,
        "out": out,
        "train_correlation_sum": float(estimator.canonical_correlations_.sum()),
    }
    if as_json:
        _print_json(summary)
    else:
        console.print(
            f"fitted [bold]{model}[/] (k={n_components}) on {dataset} "
            f"views {', '.join(names)} in {seconds:.2f} s; "
            f"training correlation sum {summary['train_correlation_sum']:.3f}; "
            f"saved to {out}"
        )


@app.command("eval")
@user_errors
def evaluate_cmd(
    model_dir: str = typer.Argument(..., help="Directory written by `jointspace fit`."),
    dataset: str = typer.Option(None, help="Dataset (default: the one the model was fit on)."),
    test_size: float = typer.Option(None, help="Held-out fraction (default: as at fit)."),
    seed: int = typer.Option(None, help="Seed of the split (default: as at fit)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Evaluate a saved model on the test split: correlations, retrieval, linear probe."""
    from jointspace.bench.harness import evaluate
    from jointspace.data import train_test_split
    from jointspace.data.datasets import load_dataset
    from jointspace.models import JointModel
    from jointspace.models.persistence import read_metadata

    meta = read_metadata(model_dir)
    estimator = JointModel.load(model_dir)
    name = dataset or meta.get("dataset")
    if not name:
        raise ValueError(f"{model_dir!r} does not record its dataset; pass --dataset")
    data = load_dataset(name)
    _, test = train_test_split(
        data,
        test_size if test_size is not None else meta.get("test_size", 0.2),
        random_state=seed if seed is not None else meta.get("seed", 0),
    )
    result = evaluate(estimator, test)
    if as_json:
        _print_json({"model_dir": model_dir, "dataset": name, **result})
        return
    console.print(
        f"{type(estimator).__name__} on {name} test split ({len(test)} samples): "
        f"correlation sum {result['corr_sum']:.3f}"
        + (f", linear probe {result['probe_acc']:.3f}" if "probe_acc" in result else "")
    )
    table = Table(title="cross-view retrieval")
    table.add_column("direction")
    for key in RETRIEVAL_KEYS:
        table.add_column(key, justify="right")
    for direction, scores in result["retrieval"].items():
        table.add_row(direction, *(f"{scores[k]:.3g}" for k in RETRIEVAL_KEYS))
    console.print(table)


# --------------------------------------------------------------------------- encode
@app.command()
@user_errors
def encode(
    encoder: str = typer.Option(
        ...,
        help="Encoder: tfidf, minilm, hf:<path>, pixels, hog, "
        "color-hist, torch:<path>, mfcc, standardize.",
    ),
    input_path: str = typer.Option(
        ...,
        "--input",
        help="A .txt (one item per line), .csv or .jsonl file; paths are relative to it.",
    ),
    out: str = typer.Option(..., help="Output .npy file, (n, d) float32."),
    column: str = typer.Option(
        None,
        help="Column of a .csv/.jsonl input (default: the only "
        "one, or 'caption' / 'image' / 'audio').",
    ),
    cache_dir: str = typer.Option(None, help="Feature cache folder (default: no cache)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Encode the items of a file into a feature matrix saved as .npy."""
    import os
    import tempfile
    from pathlib import Path

    import numpy as np

    from jointspace.encoders import CachedEncoder, make_encoder

    model = make_encoder(encoder)
    items = _read_items(Path(input_path), column, model.input_kind)
    if cache_dir is not None:
        model = CachedEncoder(model, cache_dir)
    features = model.fit(items).transform(items)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=target.parent)
    with os.fdopen(fd, "wb") as handle:
        np.save(handle, features, allow_pickle=False)
    os.replace(tmp, target)
    summary = {
        "encoder": encoder,
        "input": input_path,
        "out": out,
        "n": int(features.shape[0]),
        "dim": int(features.shape[1]),
    }
    if as_json:
        _print_json(summary)
    else:
        console.print(
            f"encoded {summary['n']} items with {encoder} → {out} "
            f"({summary['n']} × {summary['dim']})",
            highlight=False,
        )


def _read_items(path: Any, column: str | None, kind: str) -> list[str]:
    """Items of a .txt / .csv / .jsonl file; media paths resolved against its folder."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"input file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        items = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    elif suffix in (".csv", ".jsonl"):
        table = pd.read_csv(path) if suffix == ".csv" else pd.read_json(path, lines=True)
        if column is None:
            known = [c for c in ("caption", "text", "image", "audio") if c in table.columns]
            if len(table.columns) == 1:
                column = str(table.columns[0])
            elif known:
                column = known[0]
            else:
                raise ValueError(
                    f"{str(path)!r} has columns {list(table.columns)}; name one with --column"
                )
        if column not in table.columns:
            raise ValueError(
                f"column {column!r} is not in {str(path)!r}; columns: {list(table.columns)}"
            )
        items = [str(v) for v in table[column].tolist()]
    else:
        raise ValueError(
            f"input {str(path)!r} has extension {suffix!r}; expected .txt, .csv or .jsonl"
        )
    if kind == "media":
        items = [str((path.parent / item).resolve()) for item in items]
    if not items:
        raise ValueError(f"input {str(path)!r} holds no items")
    return items


# --------------------------------------------------------------------------- bench
@app.command()
@user_errors
def bench(
    dataset: str = typer.Option(..., help="Built-in dataset name."),
    models: str = typer.Option("cca,pls,kcca", help="Comma-separated model names."),
    n_components: int = typer.Option(10, help="Dimension k of the joint space."),
    reg: float = typer.Option(1e-3, help="Ridge ε for the models that take one."),
    views: str = typer.Option(None, help="Comma-separated views (default: all / first two)."),
    test_size: float = typer.Option(0.2, help="Held-out fraction."),
    seed: int = typer.Option(0, help="Seed of the split."),
    encoders: str = typer.Option(
        None, help="Features for raw views, e.g. text=tfidf,image=pixels (see `encode`)."
    ),
    cache_dir: str = typer.Option(None, help="Feature cache folder (default: no cache)."),
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    hidden: str = HIDDEN,
    activation: str = ACTIVATION,
    input_noise: float = INPUT_NOISE,
    weight_decay: float = WEIGHT_DECAY,
    device: str = DEVICE,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Fit several models on one split and print a comparison table (both directions).

    Datasets with an official split (openclipart) are trained on "train" and tested on
    "test"; the others are split here (--test-size, --seed).
    """
    from jointspace.bench.harness import run_bench
    from jointspace.data.datasets import dataset_info, load_dataset

    names = _split_names(models) or []
    info = dataset_info(dataset)
    test = None
    if "test" in info.splits:
        data, test = load_dataset(dataset, split="train"), load_dataset(dataset, split="test")
    else:
        data = load_dataset(dataset)
    params = _model_params(
        epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device
    )
    results = run_bench(
        data,
        names,
        n_components=n_components,
        reg=reg,
        views=_split_names(views),
        test_size=test_size,
        random_state=seed,
        test=test,
        encoders=_parse_pairs(encoders, "encoders"),
        cache_dir=cache_dir,
        progress=not as_json,
        announce=None if as_json else lambda msg: console.print(msg, highlight=False),
        **params,
    )
    if as_json:
        _print_json([r.as_dict() for r in results])
        return
    split = "official test split" if test is not None else f"test split {test_size}"
    table = Table(
        title=f"{dataset}: k={n_components}, ε={reg}, {split}",
        caption="corr: sum of test correlations; R@K in %; mAP by label",
    )
    for col in ("model", "fit s", "corr", "probe", "direction", *RETRIEVAL_KEYS):
        table.add_column(col, justify="left" if col in ("model", "direction") else "right")
    for r in results:
        m = r.metrics
        for i, (direction, scores) in enumerate(m["retrieval"].items()):
            first = (
                (
                    r.model,
                    f"{r.fit_seconds:.2f}",
                    f"{m['corr_sum']:.2f}",
                    f"{m['probe_acc']:.3f}" if "probe_acc" in m else "–",
                )
                if i == 0
                else ("", "", "", "")
            )
            table.add_row(*first, direction, *(f"{scores[k]:.3g}" for k in RETRIEVAL_KEYS))
    console.print(table)


def _parse_pairs(text: str | None, what: str) -> dict[str, str] | None:
    """ "a=x,b=y" → {"a": "x", "b": "y"}."""
    if not text:
        return None
    pairs = {}
    for item in _split_names(text) or []:
        if "=" not in item:
            raise ValueError(f"--{what} item {item!r}; expected view=name, e.g. text=tfidf")
        view, _, value = item.partition("=")
        pairs[view.strip()] = value.strip()
    return pairs


def main() -> None:  # pragma: no cover - console entry point
    """Entry point of the ``jointspace`` console script."""
    app()
