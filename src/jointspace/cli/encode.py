"""`jointspace encode`: a file of items → a feature matrix (.npy), or with --ray → a LanceDB
table embedded on Ray Data."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from jointspace.atomic import atomic_write
from jointspace.cli.common import (
    CACHE_DIR,
    app,
    console,
    print_json,
    user_errors,
)

# --------------------------------------------------------------------------- encode
RAY = typer.Option(
    None, "--ray",
    help="Embed on Ray Data: auto (the cluster running on this machine; a local one is "
    "started when none is), local (start one here) or a cluster's HOST:PORT / "
    "ray://HOST:PORT. --out is then a LanceDB database (a folder, or an s3:// / gs:// URI).")


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
        help="A .txt (one item per line), .csv, .tsv, .jsonl or .parquet file, a folder "
        "of images (all, recursively, in sorted order), or a LanceDB database with "
        "--input-table.",
    ),
    out: str = typer.Option(
        ..., help="Output .npy file, (n, d) float32; with --ray, a LanceDB database."),
    column: str = typer.Option(
        None,
        help="Column of a table input (default: the only one, else 'caption' / 'text' for "
        "text encoders, 'image' / 'audio' / 'path' for image and audio encoders).",
    ),
    images: str = typer.Option(
        None,
        help="Folder that image/audio paths in --input are relative to (default: the "
        "input file's folder).",
    ),
    cache_dir: str = CACHE_DIR,
    input_table: str = typer.Option(
        None, help="The table of a LanceDB --input (a folder or a URI)."),
    ray: str = RAY,
    table: str = typer.Option(
        None, help="With --ray: the LanceDB table written (id, the item, vector; default "
        "'embeddings'). A re-run embeds only the ids it lacks."),
    id_column: str = typer.Option(
        None, help="With --ray: the column of ids of a table input (default 'id' if there "
        "is one, else the row number); a folder's ids are the files' paths under it."),
    workers: int = typer.Option(None, help="With --ray: actors, each holding the encoder "
                                "(default 2)."),
    batch_rows: int = typer.Option(
        None, help="With --ray: items an actor embeds at once, one commit each (default 256)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Encode the items of a file into a feature matrix saved as .npy, or, with --ray, into
    a LanceDB table on a Ray cluster (resumable: every id is written once)."""
    from pathlib import Path

    import numpy as np

    from jointspace.encoders import encode_cached, make_encoder

    if ray is None:
        given = [name for name, value in (("--table", table), ("--id-column", id_column),
                                          ("--workers", workers), ("--batch-rows", batch_rows))
                 if value is not None]
        if given:
            raise ValueError(f"{given[0]} is given without --ray; expected --ray auto, "
                             "--ray local or --ray ADDRESS with it")
    model = make_encoder(encoder)
    ids, items, item_column = read_input(input_path, input_table, column, id_column,
                                         images, model.input_kind)
    if ray is not None:
        _encode_on_ray(model.fit(items), ids, items, item_column, ray, out, table, workers,
                       batch_rows, cache_dir, as_json, encoder, input_path)
        return
    features = encode_cached(model.fit(items), items, cache_dir)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda fh: np.save(fh, features, allow_pickle=False))
    if Path(input_path).expanduser().is_dir() and input_table is None:  # which file a row is
        listing = "".join(f"{item}\n" for item in items).encode()
        atomic_write(target.with_suffix(".txt"), lambda fh: fh.write(listing))
    summary = {
        "encoder": encoder,
        "input": input_path,
        "out": out,
        "n": int(features.shape[0]),
        "dim": int(features.shape[1]),
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"encoded {summary['n']} items with {encoder} → {out} "
            f"({summary['n']} × {summary['dim']})",
            highlight=False,
        )


def _encode_on_ray(fitted: Any, ids: list[str], items: list[str], item_column: str,
                   address: str, out: str, table: str | None, workers: int | None,
                   batch_rows: int | None, cache_dir: str | None, as_json: bool,
                   encoder: str, input_path: str) -> None:
    """`encode --ray`: the fitted encoder on Ray actors → the LanceDB table ``out::table``."""
    from jointspace.scale.ray_embed import EmbedModel, embed_to_lance
    from jointspace.scale.ray_io import check_workers, connect, quiet_logs

    workers = 2 if workers is None else workers
    batch_rows = 256 if batch_rows is None else batch_rows
    table = table or "embeddings"
    if item_column in ("id", "vector"):
        item_column = "item"
    try:
        check_workers(workers, batch_rows)
    except ValueError as exc:
        raise ValueError("--" + str(exc).replace("batch_rows", "batch-rows")) from None
    connect(address, "--ray")
    quiet_logs()
    report = embed_to_lance({"id": ids, item_column: items}, EmbedModel.from_encoder(fitted),
                            out, table, item_column=item_column, workers=workers,
                            batch_rows=batch_rows, cache_dir=cache_dir, progress=not as_json)
    summary = {"encoder": encoder, "input": input_path, "out": out, "table": table,
               "n": report.rows, "dim": report.dim, "embedded": report.embedded,
               "existing": report.existing, "failed": len(report.failed),
               "seconds": round(report.seconds, 2)}
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"embedded {report.embedded} items with {encoder} on Ray → {out}::{table} "
            f"({report.existing} were there already; {report.rows} × {report.dim})",
            highlight=False)
    if report.failed:
        err = Console(stderr=True)
        for item_id, reason in report.failed[:5]:
            err.print(f"failed {item_id}: {reason}", highlight=False, soft_wrap=True)
        err.print(f"{len(report.failed)} items failed and were not written; a re-run "
                  "tries them again", highlight=False)
        raise typer.Exit(1)


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".svg")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
_DEFAULT_COLUMNS = {
    "text": ("caption", "text"),
    "media": ("image", "audio", "path", "file"),
}


def _folder_items(folder: Any, kind: str) -> list[str]:
    """Every image (or audio) file under ``folder``, recursively, sorted by relative path."""
    if kind != "media":
        raise ValueError(f"--input {str(folder)!r} is a folder; a {kind} encoder needs a file")
    exts = IMAGE_EXTENSIONS + AUDIO_EXTENSIONS
    items = sorted(str(p.resolve()) for p in folder.rglob("*") if p.suffix.lower() in exts)
    if not items:
        raise ValueError(
            f"folder {str(folder)!r} holds no image or audio files ({', '.join(exts)})"
        )
    return items


def _check_media_paths(items: list[str], kind: str, source: str) -> None:
    """Media paths must exist; the error shows the paths that were tried."""
    if kind != "media":
        return
    import os

    missing = [item for item in items if not os.path.isfile(item)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(items)} files named in {source!r} do not exist; tried "
            f"e.g. {missing[0]!r} (paths are relative to --images, default the input's folder)"
        )


def read_input(input_path: str, input_table: str | None, column: str | None,
               id_column: str | None, images: str | None,
               kind: str) -> tuple[list[str], list[str], str]:
    """The items of ``--input`` (media paths resolved against ``images``, default the input's
    folder), their ids and a name for them (the column's, or "text" / "path").

    Ids: a folder's files' paths under it; a table's ``id_column`` (default its "id" column
    if it has one); else the row number, which is the row of the .npy without --ray.
    """
    from pathlib import Path

    source = Path(input_path).expanduser()
    if input_table is None and source.is_dir():
        items = _folder_items(source, kind)
        root = source.resolve()
        ids = [Path(item).relative_to(root).as_posix() if Path(item).is_relative_to(root)
               else item for item in items]
        return ids, items, "path"
    base = Path(images).expanduser() if images else source.parent
    if input_table is not None:
        ids, items, column = _read_lance(input_path, input_table, column, id_column, kind)
    elif source.suffix.lower() == ".txt" and source.is_file():
        items = [line.strip() for line in source.read_text().splitlines() if line.strip()]
        ids, column = [str(i) for i in range(len(items))], "text" if kind == "text" else "path"
    else:
        ids, items, column = _read_table_file(source, column, id_column, kind)
    if kind == "media":
        items = [str((base / item).resolve()) for item in items]
    if not items:
        raise ValueError(f"input {input_path!r} holds no items")
    _check_media_paths(items, kind, input_path)
    return ids, items, column


def _pick_column(names: list[str], column: str | None, kind: str, where: str) -> str:
    """The items' column: ``column``, else the only one, else a usual name for ``kind``."""
    if column is None:
        usual = [c for c in _DEFAULT_COLUMNS[kind if kind == "text" else "media"] if c in names]
        if len(names) == 1:
            return names[0]
        if usual:
            return usual[0]
        raise ValueError(f"{where} has columns {names}; name one with --column")
    if column not in names:
        raise ValueError(f"column {column!r} is not in {where}; columns: {names}")
    return column


def _ids(frame: Any, id_column: str | None, where: str) -> list[str]:
    """The ids of a table's rows (see :func:`read_input`)."""
    if id_column is not None and id_column not in frame.columns:
        raise ValueError(f"--id-column {id_column!r} is not in {where}; columns: "
                         f"{list(frame.columns)}")
    if id_column is None and "id" in frame.columns:
        id_column = "id"
    if id_column is None:
        return [str(i) for i in range(len(frame))]
    return [str(v) for v in frame[id_column].tolist()]


def _read_table_file(path: Any, column: str | None, id_column: str | None,
                     kind: str) -> tuple[list[str], list[str], str]:
    """Ids, items and their column of a .csv / .tsv / .jsonl / .parquet file."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"input file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    readers = {
        ".csv": lambda: pd.read_csv(path, keep_default_na=False),
        ".tsv": lambda: pd.read_csv(path, sep="\t", keep_default_na=False),
        ".jsonl": lambda: pd.read_json(path, lines=True),
        ".parquet": lambda: pd.read_parquet(path),
    }
    if suffix not in readers:
        raise ValueError(
            f"input {str(path)!r} has extension {suffix!r}; expected .txt, .csv, .tsv, .jsonl "
            "or .parquet, a folder, or a LanceDB database with --input-table"
        )
    table = readers[suffix]()
    where = repr(str(path))
    column = _pick_column([str(c) for c in table.columns], column, kind, where)
    return _ids(table, id_column, where), [str(v) for v in table[column].tolist()], column


def _read_lance(uri: str, name: str, column: str | None, id_column: str | None,
                kind: str) -> tuple[list[str], list[str], str]:
    """Ids, items and their column of a LanceDB table (only those columns read)."""
    import lancedb

    where = f"LanceDB table {uri}::{name}"
    try:
        handle = lancedb.connect(uri).open_table(name)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"--input {uri!r} --input-table {name!r} cannot be opened "
                         f"({exc})") from None
    names = [n for n in handle.schema.names if n != "vector"]
    column = _pick_column(names, column, kind, where)
    wanted = [column] + [c for c in (id_column or "id",) if c in handle.schema.names
                         and c != column]
    frame = handle.search().select(wanted).limit(None).to_pandas()
    return _ids(frame, id_column, where), [str(v) for v in frame[column].tolist()], column
