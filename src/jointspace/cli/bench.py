"""`jointspace bench`: several models on one split, in one table."""

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
    parse_pairs,
    print_json,
    split_names,
    user_errors,
)


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

    names = split_names(models) or []
    info = dataset_info(dataset)
    test = None
    if "test" in info.splits:
        data, test = load_dataset(dataset, split="train"), load_dataset(dataset, split="test")
    else:
        data = load_dataset(dataset)
    params = model_params(
        epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device
    )
    results = run_bench(
        data,
        names,
        n_components=n_components,
        reg=reg,
        views=split_names(views),
        test_size=test_size,
        random_state=seed,
        test=test,
        encoders=parse_pairs(encoders, "encoders"),
        cache_dir=cache_dir,
        progress=not as_json,
        announce=None if as_json else lambda msg: console.print(msg, highlight=False),
        **params,
    )
    if as_json:
        print_json([r.as_dict() for r in results])
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
