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
    atomic_write(target, lambda fh: np.save(fh, features, allow_pickle=False))
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
