"""`jointspace fit` and `jointspace eval`."""

from __future__ import annotations

import typer
from rich.table import Table

from jointspace.cli.common import (
    ACTIVATION,
    BATCH_SIZE,
    DEVICE,
    EPOCHS,
    HIDDEN,
    INPUT_NOISE,
    LR,
    RETRIEVAL_KEYS,
    WEIGHT_DECAY,
    app,
    console,
    model_params,
    print_json,
    split_names,
    user_errors,
)


# --------------------------------------------------------------------------- fit / eval
@app.command()
@user_errors
def fit(
    dataset: str = typer.Option(..., help="Built-in dataset name (see `datasets list`)."),
    model: str = typer.Option("cca", help="cca, pls, mcca, gcca, kcca, dcca, dccae or dgcca."),
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

    params = model_params(
        epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device
    )
    estimator = make_model(
        model, n_components=n_components, reg=reg, random_state=seed, progress=not as_json, **params
    )
    data = load_dataset(dataset)
    names = choose_views(data, split_names(views), estimator)
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
        "train_correlation_sum": float(estimator.score(train.select(names))),
    }
    if as_json:
        print_json(summary)
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
    from jointspace.persistence import read_metadata

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
        print_json({"model_dir": model_dir, "dataset": name, **result})
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
