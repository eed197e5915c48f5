"""`jointspace bench`: several models on one split, in one table."""

from __future__ import annotations

import typer
from rich import box
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
    console,
    model_params,
    parse_pairs,
    print_json,
    split_names,
    user_errors,
)
from jointspace.cli.data_source import TRAIN_GROUPS, DataSource, data_source_options


# --------------------------------------------------------------------------- bench
@app.command()
@user_errors
@data_source_options
def bench(
    *,
    source: DataSource,
    models: str = typer.Option(
        "cca,pls,kcca",
        help="Comma-separated model names, each with optional options: "
        "dual-encoder:loss=siglip:hard_negatives=topk",
    ),
    n_components: int = typer.Option(10, help="Dimension k of the joint space."),
    reg: float = typer.Option(1e-3, help="Ridge ε for the models that take one."),
    views: str = typer.Option(None, help="Comma-separated views (default: all / first two)."),
    test_size: float = typer.Option(0.2, help="Held-out fraction."),
    seed: int = typer.Option(0, help="Seed of the split."),
    encoders: str = typer.Option(
        None, help="Features for raw views, e.g. text=tfidf,image=pixels (see `encode`)."
    ),
    cache_dir: str = CACHE_DIR,
    train_groups: str = TRAIN_GROUPS,
    relevance: str = typer.Option(
        None,
        help="Retrieval positives: caption (same normalized caption or same image), instance "
        "(same item) or label (same class). Default: caption for image–caption sets, "
        "else instance.",
    ),
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    hidden: str = HIDDEN,
    activation: str = ACTIVATION,
    input_noise: float = INPUT_NOISE,
    weight_decay: float = WEIGHT_DECAY,
    device: str = DEVICE,
    missing: str = MISSING,
    examples: int = typer.Option(
        0, help="Print this many example searches (first view's queries) with the last model."
    ),
    report: str = typer.Option(
        None, help="Write a Markdown report with plots (R@K, training, maps) to this folder."
    ),
    maps: str = typer.Option(
        "pca,tsne,umap",
        help="Maps of the joint space in the --report, one panel per model: comma-separated "
        "from pca, tsne, umap ('' for none).",
    ),
    map_points: int = typer.Option(
        1000, min=2, help="Test rows (of each view) in the report's maps, a seeded subsample."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Fit several models on one split and print a comparison table (both directions).

    Datasets with an official split (openclipart) are trained on "train" and tested on
    "test"; the others are split here (--test-size, --seed). On image–caption sets a second
    table shows the instance protocol (the true image only) beside the best figures any model
    can reach under it when identical captions cannot be told apart.
    """
    from jointspace.bench.harness import run_bench
    from jointspace.bench.plots import check_maps
    from jointspace.metrics import RELEVANCE

    map_names = check_maps(maps)  # a bad name fails now, not after the fits
    names = split_names(models) or []
    data, test = source.load()
    dataset = source.name
    params = model_params(
        epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device, missing
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
        relevance=relevance,
        train_groups=train_groups,
        progress=not as_json,
        announce=None if as_json else lambda msg: console.print(msg, highlight=False),
        **params,
    )
    if report is not None:
        path = _write_report(report, dataset, results, map_names, map_points, seed)
        if not as_json:
            console.print(f"report: {path}", highlight=False)
    if as_json:
        print_json([r.as_dict() for r in results])
        return
    split = "official test split" if test is not None else f"test split {test_size}"
    used = results[0].metrics["relevance"]
    by_label = results[0].test_rows.labels is not None
    table = Table(
        box=box.SIMPLE_HEAD,  # no vertical rules: the ten columns fit 80 characters
        pad_edge=False,
        collapse_padding=True,
        title=f"{dataset}: k={n_components}, ε={reg}, {split}",
        caption=f"corr: sum of test correlations; R@K in %, {used} relevance "
        f"({RELEVANCE[used]}); mAP by {'label' if by_label else used}",
    )
    for col in ("model", "fit s", "corr", "probe", "direction", *RETRIEVAL_KEYS):
        if col == "model":  # a spec shows one option per line; long parts fold, never "…"
            table.add_column(col, overflow="fold", min_width=10)
        else:
            table.add_column(col, justify="left" if col == "direction" else "right", no_wrap=True)
    for r in results:
        m = r.metrics
        for i, (direction, scores) in enumerate(m["retrieval"].items()):
            first = (
                (
                    "\n".join(r.model.split(":")),
                    f"{r.fit_seconds:.2f}",
                    f"{m['corr_sum']:.2f}",
                    f"{m['probe_acc']:.3f}" if "probe_acc" in m else "–",
                )
                if i == 0
                else ("", "", "", "")
            )
            table.add_row(*first, direction, *(f"{scores[k]:.3g}" for k in RETRIEVAL_KEYS))
    console.print(table)
    if any("instance_ceiling" in r.metrics for r in results):
        console.print(instance_table([(r.model, r.metrics) for r in results]))
    if examples > 0:
        _print_examples(results[-1], examples, seed)


def instance_table(rows: list[tuple[str, dict]]) -> Table:
    """Instance-relevance R@K and MedR of each (model name, metrics) on a caption set, and
    the ceiling identical captions impose."""
    keys = ("R@1", "R@5", "R@10", "MedR")
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title="instance relevance (the true image only)",
        caption="ceiling: the best any model can reach when identical captions are "
        "indistinguishable (ties count against the query)",
    )
    for col in ("model", "direction", *keys):
        justify = "right" if col in keys else "left"
        table.add_column(col, justify=justify, overflow="fold" if col == "model" else "ellipsis")
    for model, m in rows:
        scores = m.get("retrieval_instance") or m["retrieval"]
        for i, (direction, s) in enumerate(scores.items()):
            name = "\n".join(model.split(":")) if i == 0 else ""
            table.add_row(name, direction, *(f"{s[k]:.3g}" for k in keys))
    ceiling = next(m["instance_ceiling"] for _, m in rows if "instance_ceiling" in m)
    for i, (direction, s) in enumerate(ceiling.items()):
        table.add_row("ceiling" if i == 0 else "", direction, *(f"{s[k]:.3g}" for k in keys))
    return table


def _write_report(  # noqa: ANN001
    folder: str, dataset: str, results, maps: tuple[str, ...], map_points: int, seed: int
) -> str:
    """The bench's Markdown report with plots and ``maps`` of ``map_points`` test rows
    (subsample seeded by ``seed``); returns the report's path."""
    import shlex
    import sys

    from jointspace.bench.report import MethodRun, write_report
    from jointspace.metrics.evaluation import relevance_ids

    names = results[0].views[:2]
    rows = results[0].test_rows
    if any(r.views[:2] != names or r.test_rows.n_samples != rows.n_samples for r in results):
        raise ValueError("--report needs every model evaluated on the same two views")
    runs = [
        MethodRun(
            name=r.model,
            metrics=r.metrics,
            embeddings=(r.embeddings[0], r.embeddings[1]),
            fit_seconds=r.fit_seconds,
            history=r.history,
            correlation_model=r.correlation_model,
        )
        for r in results
    ]
    from_shell = sys.argv and sys.argv[0].endswith("jointspace")
    command = "jointspace " + shlex.join(sys.argv[1:]) if from_shell else None
    return str(
        write_report(
            folder,
            runs,
            dataset=dataset,
            view_names=(names[0], names[1]),
            labels=_named_labels(rows),
            groups=relevance_ids(rows, results[0].metrics["relevance"], names),
            relevance=results[0].metrics["relevance"],
            command=command,
            max_map_points=map_points,
            random_state=seed,
            maps=maps,
        )
    )


def _print_examples(result, count: int, seed: int, top: int = 5) -> None:  # noqa: ANN001
    """A few searches from the second view (e.g. captions) into the first (e.g. images):
    each query, then its top results shown by their own second-view item (the image's
    caption) and id (its file), the positives (under the bench's relevance) marked."""
    import numpy as np

    from jointspace.metrics.evaluation import relevance_ids

    a, b = result.views[:2]
    rows = result.test_rows
    Za, Zb = result.embeddings[0], result.embeddings[1]
    groups = relevance_ids(rows, result.metrics["relevance"], (a, b))
    rng = np.random.default_rng(seed)
    console.print(f"[bold]{result.model}: example searches {b} → {a}[/]", highlight=False)
    for q in rng.choice(rows.n_samples, size=min(count, rows.n_samples), replace=False):
        scores = Za @ Zb[q]
        best = np.argsort(-scores, kind="stable")[:top]
        console.print(f"  query: {_show(rows, b, q)}", highlight=False)
        for rank, j in enumerate(best, 1):
            mark = "[green]✓[/]" if groups[j] == groups[q] else " "
            console.print(f"    {rank}. {mark} {_show(rows, b, j)}", highlight=False)
            console.print(f"         [dim]{rows.ids[j]}[/]", highlight=False)


def _show(rows, view: str, i: int, width: int = 90) -> str:  # noqa: ANN001
    """Row i of a view as short text: the item itself for raw views, else the row's id."""
    text = str(rows[view][i] if not rows.is_numeric(view) else f"row {rows.ids[i]}")
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _named_labels(rows):  # noqa: ANN001, ANN202
    """The rows' labels as names when the dataset has them (``meta["label_names"]``)."""
    names = rows.meta.get("label_names")
    if rows.labels is None or not names:
        return rows.labels
    import numpy as np

    return np.asarray(names, dtype=object)[rows.labels].astype(str)
