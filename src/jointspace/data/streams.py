"""Chunks of rows from data bigger than memory: Parquet shards and LanceDB tables (columns
grouped into views, as :func:`~jointspace.data.tables.from_parquet` groups them; a column
may also hold vectors) and aligned .npy shards, read a few thousand rows at a time. Each
chunk is a MultiView, ready for a model's ``partial_fit``::

    model = CCA(10)
    for chunk in parquet_chunks(sorted(Path("shards").glob("*.parquet")),
                                {"gene": ["gene_*"], "lipid": ["lip_*"]}):
        model.partial_fit(chunk)

Memory holds one chunk at a time (and the model's O(D²) statistics), whatever the rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from jointspace.data.multiview import MultiView
from jointspace.data.readers import PathLike, _existing
from jointspace.data.tables import _masked, view_columns

#: rows per chunk unless told otherwise
CHUNK_ROWS = 65_536


def _check_chunk_rows(chunk_rows: int) -> int:
    if int(chunk_rows) < 1:
        raise ValueError(f"chunk_rows is {chunk_rows}; expected at least 1")
    return int(chunk_rows)


def _numeric_view(name: str, X: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as float64 with its NaN rows masked; an infinity is an error naming ``where``."""
    X = np.asarray(X, dtype=np.float64)
    if np.isinf(X).any():
        raise ValueError(f"view {name!r} is infinite in {where}; expected finite values "
                         "(NaN marks a missing row)")
    return _masked(X)


def parquet_chunks(paths: Sequence[PathLike], views: Mapping[str, Sequence[str]],
                   chunk_rows: int = CHUNK_ROWS) -> Iterator[MultiView]:
    """The rows of Parquet files (shards of one table, read in order) as MultiViews of at
    most ``chunk_rows`` rows, only the views' columns read.

    Args:
        paths: the shards; each must have every view's columns.
        views: view name → column names or patterns (``"gene_*"``), matched in each shard.
        chunk_rows: rows per chunk (a shard's last chunk may be shorter).
    Raises:
        FileNotFoundError: a shard that does not exist.
        ValueError: no shards, an unreadable shard, a view whose columns a shard lacks or
            holds as non-numbers, an infinite value (each naming the shard).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunk_rows = _check_chunk_rows(chunk_rows)
    if not paths:
        raise ValueError("no Parquet shards given")
    for path in paths:
        file = _existing(path, "Parquet shard")
        try:
            reader = pq.ParquetFile(file)
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"Parquet shard {str(file)!r} is unreadable ({exc})") from None
        cols = _columns_of(views, reader.schema_arrow, file)
        for start, batch in _batches(reader, _needed(cols), chunk_rows, file):
            yield _chunk(batch, cols, start, str(file))


def lance_chunks(uri: str, table: str, views: Mapping[str, Sequence[str]],
                 chunk_rows: int = CHUNK_ROWS) -> Iterator[MultiView]:
    """The rows of a LanceDB table (a local path or an object-storage URI) as MultiViews of
    at most ``chunk_rows`` rows, only the views' columns read (see :func:`parquet_chunks`
    for ``views``; a column may hold vectors).

    Raises:
        ValueError: a table that cannot be opened, or a view's columns missing or not
            numeric (naming the table).
    """
    import lancedb

    chunk_rows = _check_chunk_rows(chunk_rows)
    where = f"{uri}::{table}"
    try:
        handle = lancedb.connect(uri).open_table(table)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"LanceDB table {where!r} cannot be opened ({exc})") from None
    cols = _columns_of(views, handle.schema, Path(where))
    reader = handle.search().select(_needed(cols)).limit(None).to_batches(chunk_rows)
    start = 0
    for batch in reader:
        if batch.num_rows:
            yield _chunk(batch, cols, start, where)
            start += batch.num_rows


def _columns_of(views: Mapping[str, Sequence[str]], schema, where: Path  # noqa: ANN001
                ) -> dict[str, list[str]]:
    """View name → its columns in ``schema``, each checked to hold numbers (or vectors of
    them)."""
    cols = view_columns(views, [str(c) for c in schema.names], where)
    for name, names in cols.items():
        bad = [c for c in names if not _numeric_type(schema.field(c).type)]
        if bad:
            raise ValueError(f"view {name!r}: column {bad[0]!r} of {str(where)!r} is not "
                             f"numeric ({schema.field(bad[0]).type})")
    return cols


def _needed(cols: Mapping[str, Sequence[str]]) -> list[str]:
    """Every column the views read, once, in order."""
    return list(dict.fromkeys(c for names in cols.values() for c in names))


def _chunk(batch, cols: Mapping[str, Sequence[str]], start: int,  # noqa: ANN001
           where: str) -> MultiView:
    """One record batch as a MultiView of the views ``cols`` (view → columns); rows with a
    NaN in a view mask it."""
    arrays, mask = {}, np.ones((batch.num_rows, len(cols)), dtype=bool)
    for j, (name, names) in enumerate(cols.items()):
        parts = [_column_array(batch.column(c)) for c in names]
        arrays[name], mask[:, j] = _numeric_view(
            name, np.concatenate(parts, axis=1),
            f"rows {start + 1}–{start + batch.num_rows} of {where}")
    return MultiView(arrays, mask=mask, meta={"source": where, "first_row": start})


def _column_array(column) -> np.ndarray:  # noqa: ANN001 - a pyarrow array
    """(m, 1) for a column of numbers, (m, d) for a column of fixed-size vectors."""
    import pyarrow as pa

    if pa.types.is_fixed_size_list(column.type):
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(column), column.type.list_size)
    return column.to_numpy(zero_copy_only=False).reshape(-1, 1)


def _numeric_type(kind) -> bool:  # noqa: ANN001 - a pyarrow DataType
    import pyarrow as pa

    if pa.types.is_fixed_size_list(kind):
        kind = kind.value_type
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _batches(reader, columns: list[str], chunk_rows: int, file: Path):  # noqa: ANN001, ANN202
    """(first row, record batch) of a Parquet file, ``chunk_rows`` rows at a time."""
    import pyarrow as pa

    start = 0
    try:
        for batch in reader.iter_batches(batch_size=chunk_rows, columns=columns):
            if batch.num_rows:
                yield start, batch
                start += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"Parquet shard {str(file)!r} is damaged after row {start} "
                         f"({exc})") from None


def npy_chunks(views: Mapping[str, Sequence[PathLike]],
               chunk_rows: int = CHUNK_ROWS) -> Iterator[MultiView]:
    """Rows of aligned .npy shards: ``views`` maps each view to its shard files, shard k of
    every view holding the same rows; each shard is memory-mapped and read ``chunk_rows``
    rows at a time.

    Raises:
        ValueError: views with different shard counts, a shard that is not a plain 2-D
            numeric .npy array, shards k of two views with different row counts.
    """
    chunk_rows = _check_chunk_rows(chunk_rows)
    if not views:
        raise ValueError("no views given; expected e.g. {'gene': ['g0.npy', 'g1.npy'], …}")
    counts = {name: len(files) for name, files in views.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(f"shards per view {counts}; expected the same number (≥ 1) for each")
    for k in range(next(iter(counts.values()))):
        shards = {name: _open_npy(name, files[k]) for name, files in views.items()}
        rows = {name: len(a) for name, a in shards.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"shard {k} has {rows} rows per view; expected the same rows")
        n = next(iter(rows.values()))
        for start in range(0, n, chunk_rows):
            arrays, observed = {}, []
            for name, a in shards.items():
                where = f"rows {start + 1}–{min(n, start + chunk_rows)} of {views[name][k]}"
                arrays[name], obs = _numeric_view(name, a[start : start + chunk_rows], where)
                observed.append(obs)
            yield MultiView(arrays, mask=np.column_stack(observed),
                            meta={"shard": k, "first_row": start})


def _open_npy(name: str, path: PathLike) -> np.ndarray:
    file = _existing(path, f"view {name!r} shard")
    try:
        arr = np.load(file, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - a damaged header raises many types in numpy
        raise ValueError(f"view {name!r}: {file} is not a plain .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise ValueError(f"view {name!r}: {file} holds {getattr(arr, 'shape', '?')} "
                         f"{getattr(arr, 'dtype', '?')}; expected a 2-D numeric array")
    return arr
