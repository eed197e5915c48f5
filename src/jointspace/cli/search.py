"""`jointspace index build | info` and `jointspace search`: a search engine over your images."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from jointspace.cli.common import (
    CACHE_DIR,
    app,
    check_out_dir,
    console,
    parse_pairs,
    print_json,
    user_errors,
)
from jointspace.cli.data_source import (
    CAPTIONS,
    DATASET,
    IMAGE_COLUMN,
    LABEL_COLUMN,
    SEPARATOR,
    TEXT_COLUMNS,
    DataSource,
)

index_app = typer.Typer(help="Build and inspect search indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")


def collection_items(source: DataSource) -> tuple[list[Any], Path]:
    """The images to index and their root folder: a folder (with its captions file, if
    given) or a built-in dataset (all its splits)."""
    from jointspace.retrieval.scan import items_from_multiview, scan_folder

    if source.dataset:
        from jointspace.data.datasets import load_dataset

        name, options = source._dataset_spec()
        options.pop("split", None)
        return items_from_multiview(load_dataset(name, **options))
    if not source.images:
        raise ValueError("name the images: --images DIR [--captions FILE], or --dataset NAME")
    root = Path(source.images).expanduser().resolve()
    if not source.captions:
        items = scan_folder(root)
        if not items:
            raise ValueError(f"images folder {source.images!r} holds no image files")
        return items, root
    data, _ = source.load()
    return items_from_multiview(data, root)


@index_app.command("build")
@user_errors
def index_build(
    pipeline: str = typer.Argument(..., help="A saved pipeline (from `jointspace fit`)."),
    out: str = typer.Option(..., help="The index folder (created, or brought up to date)."),
    images: str = typer.Option(None, help="Your images folder (all images in it, recursively)."),
    captions: str = CAPTIONS,
    dataset: str = DATASET,
    image_column: str = IMAGE_COLUMN,
    text_columns: str = TEXT_COLUMNS,
    label_column: str = LABEL_COLUMN,
    separator: str = SEPARATOR,
    engine: str = typer.Option(
        "auto", help="Search engine: auto (exact up to 200,000 items, then ivf), exact, "
        "hnsw, ivf, or ivfpq (compressed codes in memory, candidates re-ranked with their "
        "vectors read from the table: for collections whose vectors do not fit in memory)."),
    engine_params: str = typer.Option(
        None, help="Engine parameters, e.g. 'm=32,ef_search=128' (hnsw), 'nprobe=32' (ivf) "
        "or 'nprobe=32,rerank=10' (ivfpq)."),
    batch_size: int = typer.Option(256, help="Images embedded and committed together."),
    cache_dir: str = CACHE_DIR,
    ray: str = typer.Option(
        None, "--ray",
        help="Embed on Ray actors, each loading the pipeline once: auto (the cluster running "
        "on this machine; a local one is started when none is), local (start one here) or "
        "a cluster's HOST:PORT / ray://HOST:PORT. The images must be readable by the actors."),
    workers: int = typer.Option(None, help="With --ray: actors (default 2)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Build an index over a folder of images (and captions), or update it: a second run
    embeds only new and changed files and removes the rows of deleted ones."""
    from dataclasses import asdict

    from jointspace.retrieval import build_index
    from jointspace.specs import parse_value

    check_out_dir(out)
    source = DataSource(dataset=dataset, images=images, captions=captions,
                        image_column=image_column, text_columns=text_columns,
                        label_column=label_column, separator=separator)
    items, root = collection_items(source)
    params = {k: parse_value(v) for k, v in (parse_pairs(engine_params, "engine-params")
                                             or {}).items()}
    described = {**source.describe(), "root": str(root)}
    embedder = None
    if workers is not None and workers < 1:
        raise ValueError(f"--workers is {workers}; expected at least 1")
    if ray is not None:
        from jointspace.scale.ray_embed import RayEmbedder
        from jointspace.scale.ray_io import quiet_logs

        embedder = RayEmbedder(pipeline, ray_address=ray, workers=2 if workers is None
                               else workers, cache_dir=cache_dir, option="--ray")
        quiet_logs()
    elif workers is not None:
        raise ValueError("--workers is given without --ray; expected --ray auto, --ray local "
                         "or --ray ADDRESS with it")
    report = build_index(pipeline, items, out, source=described, batch_size=batch_size,
                         engine=engine, engine_params=params, cache_dir=cache_dir,
                         progress=not as_json, embedder=embedder)
    if as_json:
        print_json({"index": out, **asdict(report)})
        return
    console.print(
        f"index {out}: {report.embedded} images embedded, {report.touched} updated, "
        f"{report.unchanged} unchanged, {report.removed} removed; captions: "
        f"{report.captions_embedded} embedded, {report.captions_removed} removed "
        f"({report.seconds:.1f} s)", highlight=False)
    for item_id, reason in report.skipped[:5]:
        console.print(f"  skipped {item_id}: {reason}", highlight=False, soft_wrap=True)
    if len(report.skipped) > 5:
        console.print(f"  … and {len(report.skipped) - 5} more skipped", highlight=False)


@index_app.command("info")
@user_errors
def index_info(
    index: str = typer.Argument(..., help="An index folder."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """What an index holds: its collections, sizes, engines and the pipeline that made it."""
    from rich.table import Table

    from jointspace.index import Index

    info = Index.open(index).info()
    if as_json:
        print_json(info)
        return
    console.print(f"index {info['path']} (created {info['created']}, "
                  f"{info['size_bytes'] / 1e6:.1f} MB)", highlight=False)
    console.print(f"pipeline fingerprint {info['pipeline_fingerprint']}", highlight=False)
    if info["source"].get("root"):
        console.print(f"images under {info['source']['root']}", highlight=False)
    table = Table("collection", "view", "items", "dim", "engine", "version")
    for name, c in info["collections"].items():
        table.add_row(name, c["view"], str(c["items"]), str(c["dim"]), c["engine"],
                      str(c["version"]))
    console.print(table)


def parse_weights(text: str | None) -> dict[str, float] | None:
    """'text=1,image=0.5' → {"text": 1.0, "image": 0.5}."""
    pairs = parse_pairs(text, "weights")
    if pairs is None:
        return None
    try:
        return {k: float(v) for k, v in pairs.items()}
    except ValueError:
        raise ValueError(f"--weights {text!r}; expected numbers, e.g. text=1,image=0.5") from None


QUERY = typer.Argument(None, help="Text query terms (several are added).")
IMAGE_QUERY = typer.Option(None, "--image", help="Search by an image file (repeatable).")
NEGATIVE = typer.Option(
    None, "--not", help="Text to steer away from, e.g. --not water (repeatable).")


@app.command()
@user_errors
def search(
    index: str = typer.Argument(..., help="An index folder (from `jointspace index build`)."),
    query: list[str] = QUERY,
    k: int = typer.Option(10, "-k", help="How many results."),
    image: list[str] = IMAGE_QUERY,
    negative: list[str] = NEGATIVE,
    weights: str = typer.Option(None, help="Weights of the query parts, e.g. text=1,image=0.5."),
    collection: str = typer.Option(
        None, help="Collection to search: images (the default) or captions."),
    where: str = typer.Option(
        None, "--filter", help="Only items passing a SQL filter, e.g. \"label = 'cat'\"."),
    paths: bool = typer.Option(False, "--paths", help="Print only file paths, one a line."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    pipeline: str = typer.Option(
        None, help="Embed queries with this pipeline (the index's own, or its export from "
        "`jointspace export`) instead of the copy inside the index."),
):
    """Search an index by text, by image, or both: prints a table of results (paths, scores,
    captions), or just the paths to pipe into a viewer."""
    from jointspace.retrieval import Retriever

    text = list(query or []) + [f"-{term}" for term in negative or []]
    retriever = Retriever.load(index, pipeline)
    hits = retriever.search(text=text or None, image=list(image) if image else None,
                            weights=parse_weights(weights), k=k, filter=where,
                            collection=collection)
    if as_json:
        print_json([{k: v for k, v in hit.items() if k != "mtime_ns"} for hit in hits])
    elif paths:
        sys.stdout.write("".join(f"{hit['file']}\n" for hit in hits))
    else:
        print_hits(hits)


def print_hits(hits: list[dict[str, Any]]) -> None:
    """A table of search results: rank, score, id, caption, file."""
    from rich.table import Table

    table = Table("#", "score", "id", "caption", "file")
    for rank, hit in enumerate(hits, 1):
        caption = hit.get("caption") or ""
        table.add_row(str(rank), f"{hit['score']:.3f}", hit["id"],
                      caption if len(caption) < 80 else caption[:77] + "…", hit.get("file") or "")
    console.print(table)
