"""Caption files of your own image (or audio) folders: CSV / TSV with a header, JSON Lines, or
Parquet, read row by row into records, with unparsable rows reported rather than raised."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

_CAPTION_EXTS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None, ".parquet": "parquet"}


def skip_row(row: int, item: str, reason: str) -> dict[str, Any]:
    """A skipped row as reported in ``meta["skipped"]``: 1-based row, item (≤ 200 chars), why."""
    return {"row": row, "item": item[:200], "reason": reason}


def read_records(path: Path, columns: list[str]) -> tuple[list, list[dict[str, Any]]]:
    """Caption-file rows as (1-based line, record dict, line text), and the unparsable lines."""
    ext = path.suffix.lower()
    if ext not in _CAPTION_EXTS:
        raise ValueError(
            f"captions file {str(path)!r} has extension {ext!r}; expected {list(_CAPTION_EXTS)}"
        )
    records, bad, delimiter = [], [], _CAPTION_EXTS[ext]
    if delimiter == "parquet":
        return _read_parquet_records(path, columns)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            if delimiter is None:  # JSON Lines
                for line, text in enumerate(f, 1):
                    if not text.strip():
                        continue
                    try:
                        rec = json.loads(text)
                        if not isinstance(rec, dict):
                            raise ValueError(f"a JSON {type(rec).__name__}, not an object")
                    except ValueError as e:  # json.JSONDecodeError is a ValueError
                        bad.append(skip_row(line, text.strip(), f"bad JSON: {e}"))
                        continue
                    records.append((line, rec, text.strip()))
                header = sorted(set().union(*(r for _, r, _ in records)))
            else:
                reader = csv.reader(f, delimiter=delimiter)
                header = [h.strip() for h in next(reader, [])]
                for row in reader:
                    if any(cell.strip() for cell in row):
                        records.append((reader.line_num, dict(zip(header, row)), ",".join(row)))
    except UnicodeDecodeError as e:
        raise ValueError(f"captions file {str(path)!r} is not UTF-8 text ({e})") from None
    missing = [c for c in columns if c not in header]
    if missing and (records or delimiter):
        where = "header" if delimiter else "records"
        raise ValueError(f"column {missing[0]!r} is not in {str(path)!r}; {where}: {header}")
    return records, bad


def _read_parquet_records(path: Path, columns: list[str]) -> tuple[list, list[dict[str, Any]]]:
    """Parquet caption-file rows as (1-based row, record dict, row text), like `_read_records`."""
    import pyarrow.parquet as pq

    try:
        header = [str(c) for c in pq.read_schema(path).names]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"column {missing[0]!r} is not in {str(path)!r}; header: {header}")
        table = pq.read_table(path, columns=list(dict.fromkeys(columns))).to_pylist()
    except OSError as e:  # pyarrow's ArrowInvalid is a ValueError; corrupt pages are OSError
        raise ValueError(f"captions file {str(path)!r} is unreadable Parquet ({e})") from None
    records = [(i, rec, json.dumps(rec, default=str)) for i, rec in enumerate(table, 1)]
    return records, []


def join_text(values: list[str | None], separator: str | None) -> str | None:
    """Several text columns as one caption: each part's values split on ``separator`` (a
    multi-value column such as ``red|apple``) and joined by ", "; parts joined by " ", each
    ended with a full stop unless it ends in punctuation. None if every part is missing."""
    if all(v is None for v in values):
        return None
    parts = []
    for value in values:
        if separator and value:
            value = ", ".join(v.strip() for v in value.split(separator) if v.strip())
        value = (value or "").strip()
        if value:
            parts.append(value if value[-1] in ".!?:;" or len(values) == 1 else value + ".")
    return " ".join(parts)
