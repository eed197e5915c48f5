"""`jointspace encode`: a file of items → a feature matrix (.npy)."""

from __future__ import annotations

from typing import Any

import typer

from jointspace.atomic import atomic_write
from jointspace.cli.common import (
    app,
    console,
    print_json,
    user_errors,
)


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
        help="A .txt (one item per line), .csv, .tsv, .jsonl or .parquet file, or a folder "
        "of images (all, recursively, in sorted order).",
    ),
    out: str = typer.Option(..., help="Output .npy file, (n, d) float32."),
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
    cache_dir: str = typer.Option(None, help="Feature cache folder (default: no cache)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Encode the items of a file into a feature matrix saved as .npy."""
    from pathlib import Path

    import numpy as np

    from jointspace.encoders import encode_cached, make_encoder

    model = make_encoder(encoder)
    source = Path(input_path).expanduser()
    if source.is_dir():
        items = _folder_items(source, model.input_kind)
    else:
        base = Path(images).expanduser() if images else source.parent
        items = _read_items(source, column, model.input_kind, base)
    _check_media_paths(items, model.input_kind, input_path)
    features = encode_cached(model.fit(items), items, cache_dir)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda fh: np.save(fh, features, allow_pickle=False))
    if source.is_dir():  # which file each row is
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


def _read_items(path: Any, column: str | None, kind: str, base: Any) -> list[str]:
    """Items of a .txt / table file; media paths resolved against ``base``."""
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
    if suffix == ".txt":
        items = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    elif suffix in readers:
        table = readers[suffix]()
        if column is None:
            known = [c for c in _DEFAULT_COLUMNS[kind if kind == "text" else "media"] if c in table]
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
            f"input {str(path)!r} has extension {suffix!r}; expected .txt, .csv, .tsv, .jsonl "
            "or .parquet, or a folder"
        )
    if kind == "media":
        items = [str((base / item).resolve()) for item in items]
    if not items:
        raise ValueError(f"input {str(path)!r} holds no items")
    return items
