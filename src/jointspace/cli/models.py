"""`jointspace fit` and `jointspace eval`."""

from __future__ import annotations

import typer
from rich.table import Table

from jointspace.cli.common import (
    ACTIVATION,
    BATCH_SIZE,
    CACHE_DIR,
    DEVICE,
    EPOCHS,
    HIDDEN,
    INPUT_NOISE,
    LR,
    MISSING,
    RETRIEVAL_KEYS,
    WEIGHT_DECAY,
    app,
    check_out_dir,
    console,
    model_params,
    parse_pairs,
    print_json,
    split_names,
    user_errors,
)
from jointspace.cli.data_source import TRAIN_GROUPS, DataSource, data_source_options

RELEVANCE_OPTION = typer.Option(
    None,
    help="Retrieval positives: caption (same normalized caption or same image), instance "
    "(same item) or label (same class). Default: caption for image–caption data, else instance.",
)


# --------------------------------------------------------------------------- fit / eval
@app.command()
@user_errors
@data_source_options
def fit(
    *,
    source: DataSource,
    model: str = typer.Option(
        None,
        help="Model spec, e.g. cca, dcca, dual-encoder:loss=siglip (default: the measured best "
        "for the data: the dual encoder for images and captions, else cca).",
    ),
    encoders: str = typer.Option(
        None,
        help="Encoders of raw views, e.g. text=minilm,image=efficientnet+color-hist "
        "(default: text=minilm, image=efficientnet, audio=mfcc).",
    ),
    n_components: int = typer.Option(None, help="Dimension k of the joint space."),
    reg: float = typer.Option(None, help="Ridge ε per view on the covariance scale."),
    views: str = typer.Option(None, help="Comma-separated views (default: all / first two)."),
    test_size: float = typer.Option(0.2, help="Held-out fraction (stratified, group-aware)."),
    seed: int = typer.Option(0, help="Seed of the split and of the model."),
    out: str = typer.Option(..., help="Directory to save the fitted pipeline to."),
    cache_dir: str = CACHE_DIR,
    relevance: str = RELEVANCE_OPTION,
    train_groups: str = TRAIN_GROUPS,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    hidden: str = HIDDEN,
    activation: str = ACTIVATION,
    input_noise: float = INPUT_NOISE,
    weight_decay: float = WEIGHT_DECAY,
    device: str = DEVICE,
    missing: str = MISSING,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    several: bool = typer.Option(
        False, "--distributed",
        help="Train as one of several processes launched by torchrun (gloo on CPU, NCCL on "
        "GPU): each takes its share of every batch; rank 0 saves and reports. "
        "torchrun --nproc_per_node 2 $(which jointspace) fit … --distributed"),
):
    """Fit a pipeline (encoders + joint model) on the training split, evaluate it on the
    held-out split, and save it to OUT.

    Data: a built-in --dataset, or your own --images DIR --captions FILE (image paths in the
    file are relative to DIR), or your own numeric --table FILE --columns view=pattern,….
    """
    import time

    from jointspace.bench.harness import choose_views
    from jointspace.data import train_test_split
    from jointspace.metrics.evaluation import regrouped
    from jointspace.models.factory import make_model
    from jointspace.pipeline import Pipeline, default_encoders, default_model

    check_out_dir(out)
    lead = True  # the process that saves and reports
    if several:
        from jointspace.train import distributed

        if not distributed.init_from_env():
            raise ValueError("--distributed: this process was not launched by torchrun with "
                             "several processes (no RANK / WORLD_SIZE); run torchrun "
                             "--nproc_per_node N $(which jointspace) fit … --distributed")
        lead = distributed.rank() == 0
    data, test = source.load()
    chosen = data.select(split_names(views)) if views else data  # the defaults of these
    spec, defaults = (model, {}) if model else default_model(chosen)
    given = model_params(
        epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device, missing
    )
    given.update(n_components=n_components, reg=reg)
    params = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    estimator = make_model(spec, random_state=seed, progress=lead and not as_json, **params)
    names = choose_views(data, split_names(views), estimator)
    train = data
    if test is None:
        train, test = train_test_split(data, test_size, random_state=seed)
    chains = default_encoders(train, names, parse_pairs(encoders, "encoders"))
    pipe = Pipeline(chains, estimator, cache_dir=cache_dir)
    if lead and not as_json:
        shown = ", ".join(f"{v}={c or 'as is'}" for v, c in chains.items())
        console.print(
            f"fitting {spec} on {source.name} ({len(train)} samples; {shown})", highlight=False
        )
    start = time.perf_counter()
    pipe.fit(regrouped(train.select(names), train_groups))
    seconds = time.perf_counter() - start
    if not lead:
        return
    result = pipe.evaluate(test, relevance)
    metadata = {
        "data": source.describe(),
        "split": {"test_size": test_size, "seed": seed, "official": source.official_split},
        "train_groups": train_groups or "instance",
        "model": spec,
        "model_params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "fit_seconds": seconds,
    }
    pipe.save(out, metadata=metadata)
    summary = {"out": out, "views": names, "encoders": chains, **metadata, "test": result}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"fitted [bold]{spec}[/] on {source.name} ({', '.join(names)}) in {seconds:.1f} s; "
        f"saved the pipeline to {out}",
        highlight=False,
    )
    _print_result(result, f"held-out split ({len(test)} samples)")


@app.command("eval")
@user_errors
@data_source_options
def evaluate_cmd(
    pipeline_dir: str = typer.Argument(..., help="Pipeline directory written by `fit`."),
    *,
    source: DataSource,
    relevance: str = RELEVANCE_OPTION,
    cache_dir: str = CACHE_DIR,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Evaluate a saved pipeline: on new data (all of it) when a data source is given, else
    on the held-out split it was fitted with. Correlations, retrieval, linear probe."""
    from jointspace.data import train_test_split
    from jointspace.pipeline import Pipeline

    pipe = Pipeline.load(pipeline_dir)
    pipe.cache_dir = cache_dir
    recorded = pipe.manifest_.get("metadata", {})
    if source.given:
        data, test = source.load()
        rows, what = (test if test is not None else data), "new data"
    else:
        if "data" not in recorded:
            raise ValueError(f"{pipeline_dir!r} does not record its data; pass a data source")
        source = DataSource(**recorded["data"])
        data, test = source.load()
        split = recorded.get("split", {})
        if test is None:
            _, test = train_test_split(
                data, split.get("test_size", 0.2), random_state=split.get("seed", 0),
                stratify=split.get("stratify", True),
            )
        rows, what = test, "held-out split"
    result = pipe.evaluate(rows, relevance)
    if as_json:
        print_json({"pipeline": pipeline_dir, "data": source.name, **result})
        return
    console.print(
        f"{pipe!r} on {source.name}, {what} ({result['n_samples']} samples)", highlight=False
    )
    _print_result(result, what)


def _print_result(result: dict, what: str) -> None:
    """One evaluation as text: correlations and probe, the retrieval table (and, on
    image–caption data, the instance protocol beside its ceiling); a fusion head's accuracy
    or R²."""
    from jointspace.cli.bench import instance_table

    for measure in ("accuracy", "r2"):
        if measure in result:
            console.print(f"{what}: {measure} {result[measure]:.3f}", highlight=False)
            return

    console.print(
        f"{what}: correlation sum {result['corr_sum']:.3f}"
        + (f", linear probe {result['probe_acc']:.3f}" if "probe_acc" in result else ""),
        highlight=False,
    )
    table = Table(title=f"cross-view retrieval, {result['relevance']} relevance")
    table.add_column("direction")
    for key in RETRIEVAL_KEYS:
        table.add_column(key, justify="right")
    for direction, scores in result["retrieval"].items():
        table.add_row(direction, *(f"{scores[k]:.3g}" for k in RETRIEVAL_KEYS))
    console.print(table)
    if "instance_ceiling" in result:
        console.print(instance_table([("pipeline", result)]))
