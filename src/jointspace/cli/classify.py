"""`jointspace classify` (fit a fusion classifier or regressor on your views and labels) and
`jointspace predict` (its predictions on new data)."""

from __future__ import annotations

import typer
from rich.table import Table

from jointspace.cli.common import (
    BATCH_SIZE,
    CACHE_DIR,
    DEVICE,
    EPOCHS,
    LR,
    WEIGHT_DECAY,
    app,
    check_out_dir,
    console,
    parse_pairs,
    print_json,
    split_names,
    user_errors,
)
from jointspace.cli.data_source import DataSource, data_source_options

TASKS = ("classify", "regress")


@app.command()
@user_errors
@data_source_options
def classify(
    *,
    source: DataSource,
    task: str = typer.Option("classify", help="classify (labels are classes) or regress "
                             "(labels are numbers)."),
    fusion: str = typer.Option(None, help="Fusion module: early, late, hierarchical, hybrid, "
                               "gated, self-attention, cross-attention, co-attention (default: "
                               "early to classify, late to regress: the measured best)."),
    missing: str = typer.Option(None, help="Views samples lack: mask (default), drop, zero, "
                                "mean or model."),
    encoders: str = typer.Option(None, help="Encoders of raw views, e.g. "
                                 "text=minilm,image=efficientnet (default: the usual ones)."),
    views: str = typer.Option(None, help="Comma-separated views (default: all)."),
    test_size: float = typer.Option(0.2, help="Held-out fraction (stratified to classify)."),
    seed: int = typer.Option(0, help="Seed of the split and of the model."),
    out: str = typer.Option(..., help="Directory to save the fitted pipeline to."),
    cache_dir: str = CACHE_DIR,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    weight_decay: float = WEIGHT_DECAY,
    device: str = DEVICE,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Fit encoders + a fusion classifier (or regressor) on the training split of your views
    and labels, report its held-out accuracy (or R²), and save the pipeline to OUT.

    A sample may lack views (empty table cells, a missing caption): the fusion masks them.
    """
    import time

    from jointspace.data import train_test_split
    from jointspace.models.fusion_heads import FusionClassifier, FusionRegressor
    from jointspace.pipeline import Pipeline, default_encoders

    if task not in TASKS:
        raise ValueError(f"--task is {task!r}; expected one of {', '.join(TASKS)}")
    check_out_dir(out)
    data, test = source.load()
    head_cls = FusionClassifier if task == "classify" else FusionRegressor
    training = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr,
                                  "weight_decay": weight_decay, "device": device,
                                  "progress": not as_json}.items() if v is not None}
    options = {"fusion": fusion, "missing": missing}
    head = head_cls(**{k: v for k, v in options.items() if v is not None},
                    training=training, random_state=seed)
    names = split_names(views) or data.view_names
    train = data.select(names)
    if test is None:
        train, test = train_test_split(train, test_size, stratify=task == "classify",
                                       random_state=seed)
    chains = default_encoders(train, names, parse_pairs(encoders, "encoders"))
    pipe = Pipeline(chains, head, cache_dir=cache_dir)
    start = time.perf_counter()
    pipe.fit(train)
    seconds = time.perf_counter() - start
    result = pipe.evaluate(test)
    metadata = {"data": source.describe(), "task": task, "fit_seconds": seconds,
                "split": {"test_size": test_size, "seed": seed, "stratify": task == "classify",
                          "official": source.official_split}}
    pipe.save(out, metadata=metadata)
    summary = {"out": out, "views": names, "model": type(head).__name__,
               "fusion": head.fusion, **metadata, "test": result}
    if as_json:
        print_json(summary)
        return
    measure = "accuracy" if "accuracy" in result else "r2"
    console.print(f"fitted {type(head).__name__}({head.fusion!r}) on {source.name} "
                  f"({', '.join(names)}; {len(train)} samples) in {seconds:.1f} s; held-out "
                  f"{measure} {result[measure]:.3f} on {result['n_samples']} samples; saved "
                  f"the pipeline to {out}", highlight=False)


@app.command()
@user_errors
@data_source_options
def predict(
    pipeline_dir: str = typer.Argument(..., help="Pipeline directory written by `classify`."),
    *,
    source: DataSource,
    cache_dir: str = CACHE_DIR,
    limit: int = typer.Option(20, help="Rows shown in the table (--json gives all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Predict with a saved fusion pipeline on new data: one class (or value) per sample, from
    the views it has."""
    from jointspace.pipeline import Pipeline

    pipe = Pipeline.load(pipeline_dir)
    pipe.cache_dir = cache_dir
    if not source.given:
        raise ValueError("name the data to predict on (--table, --images/--captions or "
                         "--dataset)")
    data, test = source.load()
    rows = data if test is None else test
    predictions = pipe.predict(rows.select(pipe.view_names))
    ids = rows.ids if rows.ids is not None else list(range(rows.n_samples))
    out = [{"id": str(i), "prediction": p.item() if hasattr(p, "item") else p}
           for i, p in zip(ids, predictions)]
    if as_json:
        print_json({"pipeline": pipeline_dir, "data": source.name, "predictions": out})
        return
    shown = Table(title=f"{type(pipe.model).__name__} on {source.name} ({len(out)} samples)")
    shown.add_column("id")
    shown.add_column("prediction", justify="right")
    for row in out[:limit]:
        shown.add_row(row["id"], str(row["prediction"]))
    console.print(shown)
