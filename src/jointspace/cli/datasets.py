"""`jointspace datasets list|show|prepare`."""

from __future__ import annotations

import typer
from rich.table import Table

from jointspace.cli.common import (
    console,
    datasets_app,
    print_json,
    user_errors,
)


# --------------------------------------------------------------------------- datasets
@datasets_app.command("list")
@user_errors
def datasets_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """List the built-in datasets."""
    from jointspace.data.datasets import list_datasets

    infos = list_datasets()
    if as_json:
        print_json(
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
        print_json(info)
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
        print_json(summary)
        return
    console.print(
        f"{name}: {summary['n_samples']} samples ready"
        + (f", splits {summary['splits']}" if summary["splits"] else "")
        + (f", skipped {summary['skipped']}" if summary["skipped"] else ""),
        highlight=False,
    )
