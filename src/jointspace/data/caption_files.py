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
    """Caption-file rows as (1-based line, record dict, line text), and the rows that cannot
    be used (unparsable JSON, a row with more fields than the header, a row that spans
    several lines: an unclosed quote), each reported with its line.

    Raises:
        ValueError: an unknown extension, a file that is not UTF-8 text, a header naming a
            column twice, a CSV that cannot be parsed (a field over the size limit, a quote
            left open at the end), or a named column not in the file — each naming the file
            (and line where known).
    """
    ext = path.suffix.lower()
    if ext not in _CAPTION_EXTS:
        raise ValueError(
            f"captions file {str(path)!r} has extension {ext!r}; expected {list(_CAPTION_EXTS)}"
        )
    delimiter = _CAPTION_EXTS[ext]
    if delimiter == "parquet":
        return _read_parquet_records(path, columns)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            if delimiter is None:
                records, bad = _read_jsonl(f)
                header = sorted(set().union(*(r for _, r, _ in records)))
            else:
                header, records, bad = _read_csv(f, delimiter, path)
    except UnicodeDecodeError as e:
        raise ValueError(f"captions file {str(path)!r} is not UTF-8 text ({e})") from None
    missing = [c for c in columns if c not in header]
    if missing and (records or delimiter):
        where = "header" if delimiter else "records"
        raise ValueError(f"column {missing[0]!r} is not in {str(path)!r}; {where}: {header}")
    return records, bad


def _read_jsonl(f: Any) -> tuple[list, list[dict[str, Any]]]:
    records, bad = [], []
    for line, text in enumerate(f, 1):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
            if not isinstance(rec, dict):
                raise ValueError(f"a JSON {type(rec).__name__}, not an object")
        except RecursionError:
            bad.append(skip_row(line, text.strip(), "bad JSON: nested too deeply"))
            continue
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            bad.append(skip_row(line, text.strip(), f"bad JSON: {e}"))
            continue
        records.append((line, rec, text.strip()))
    return records, bad


def _read_csv(f: Any, delimiter: str, path: Path) -> tuple[list[str], list, list]:
    """Header, records and bad rows of a CSV / TSV caption file (see `read_records`)."""
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    records, bad = [], []
    try:
        header = [h.strip() for h in next(reader, [])]
        repeated = sorted({h for h in header if header.count(h) > 1 and h})
        if repeated:
            raise ValueError(f"captions file {str(path)!r} names column {repeated[0]!r} twice "
                             "in its header; expected each column once")
        last = reader.line_num
        for row in reader:
            first, last = last + 1, reader.line_num
            text = delimiter.join(row)
            if not any(cell.strip() for cell in row):
                continue
            if last > first:
                bad.append(skip_row(first, text, f"the row spans lines {first}–{last} (a quote "
                                                 "left open?)"))
            elif len(row) > len(header):
                bad.append(skip_row(first, text, f"the row has {len(row)} fields; the header "
                                                 f"has {len(header)}"))
            else:
                records.append((first, dict(zip(header, row)), text))
    except csv.Error as e:
        raise ValueError(f"captions file {str(path)!r}, line {reader.line_num}: {e} (a quote "
                         "left open, or a field over 131,072 characters?)") from None
    return header, records, bad


def _read_parquet_records(path: Path, columns: list[str]) -> tuple[list, list[dict[str, Any]]]:
    """Parquet caption-file rows as (1-based row, record dict, row text), like `_read_records`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        header = [str(c) for c in pq.read_schema(path).names]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"column {missing[0]!r} is not in {str(path)!r}; header: {header}")
        table = pq.read_table(path, columns=list(dict.fromkeys(columns))).to_pylist()
    except (OSError, pa.ArrowException) as e:  # corrupt pages are OSError, bad ones Arrow's
        raise ValueError(f"captions file {str(path)!r} is unreadable Parquet ({e})") from None
    # a null or NaN cell is an empty value (the column exists: the schema was checked)
    records = [(i, {k: "" if _is_missing(v) else v for k, v in rec.items()},
                json.dumps(rec, default=str)) for i, rec in enumerate(table, 1)]
    return records, []


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


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
