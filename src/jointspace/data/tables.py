"""Readers for your own numeric tables and arrays: CSV / Parquet columns grouped into views,
and .npy files. A view is masked in the rows where it has missing values."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.data.multiview import MultiView
from jointspace.data.readers import PathLike, _existing


def _masked(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X with its NaN-holding rows all NaN, (n,) bool observed = rows without NaN)."""
    if X.dtype.kind != "f":
        return X, np.ones(len(X), dtype=bool)
    miss = np.isnan(X.reshape(len(X), -1)).any(axis=1)
    if miss.any():
        X = X.copy()
        X[miss] = np.nan
    return X, ~miss


def _read_table(file: Path, kind: str, sep: str, columns: list[str]) -> Any:
    """The ``columns`` of a CSV or Parquet table as a DataFrame; any decoding or parsing
    failure becomes one ValueError naming the file."""
    import pandas as pd

    try:
        if kind == "CSV":
            return pd.read_csv(file, sep=sep, usecols=columns, low_memory=False,
                               encoding="utf-8-sig")
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(file, columns=columns).to_pandas()
        except pa.ArrowException as e:
            raise ValueError(str(e)) from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{kind} file {str(file)!r} is not UTF-8 text ({e})") from None
    except (ValueError, OSError) as e:  # pandas ParserError, corrupt Parquet pages
        raise ValueError(f"{kind} file {str(file)!r} is unreadable ({e})") from None


def view_columns(views: Mapping, header: list[str], file: Path) -> dict[str, list[str]]:
    """View name → the columns of ``header`` its names or patterns (``"gene_*"``) match, in
    header order per pattern.

    Raises:
        ValueError: no views, or a name or pattern that matches no column (names the file).
    """
    if not views:
        raise ValueError("views is empty; expected e.g. {'gene': ['gene_*'], 'lipid': ['l1']}")
    cols: dict[str, list[str]] = {}
    for name, spec in views.items():
        cols[name] = []
        for pat in [spec] if isinstance(spec, str) else spec:
            glob = any(ch in pat for ch in "*?[")
            hits = [c for c in header if fnmatchcase(c, pat)] if glob else [pat] * (pat in header)
            if not hits:
                what = "no column matches" if glob else "no column"
                short = header[:30] + ["…"] * (len(header) > 30)
                raise ValueError(f"view {name!r}: {what} {pat!r} in {file}; columns: {short}")
            cols[name] += [c for c in hits if c not in cols[name]]
        if not cols[name]:
            raise ValueError(f"view {name!r} has no columns; expected a list of column names "
                             f"of {str(file)!r}")
    return cols


def _from_table(path: PathLike, kind: str, views: Mapping, label: Any, id_: Any) -> MultiView:
    """Body of `from_csv` / `from_parquet`: match ``views`` to the header, build masked views."""
    import pandas as pd
    from pandas.api.types import is_complex_dtype, is_numeric_dtype

    file = _existing(path, f"{kind} file")
    if not isinstance(views, Mapping):
        raise ValueError(f"views is a {type(views).__name__}; expected a mapping of view name to "
                         "columns, e.g. {'gene': ['gene_*'], 'lipid': ['l1']}")
    sep = "\t" if file.suffix.lower() == ".tsv" else ","
    try:
        if kind == "CSV":
            with file.open(encoding="utf-8-sig", newline="") as fh:
                header = [h.strip() for h in next(csv.reader(fh, delimiter=sep), [])]
            if not header:
                raise pd.errors.EmptyDataError
        else:
            import pyarrow.parquet as pq

            header = [str(c) for c in pq.read_schema(file).names]
    except UnicodeDecodeError as e:
        raise ValueError(f"{kind} file {str(file)!r} is not UTF-8 text ({e})") from None
    except (ValueError, OSError, csv.Error) as e:  # EmptyDataError, ArrowInvalid, a huge field
        why = "is empty" if isinstance(e, pd.errors.EmptyDataError) else f"is unreadable ({e})"
        raise ValueError(f"{kind} file {str(file)!r} {why}") from None
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValueError(f"{kind} file {str(file)!r} names column {repeated[0]!r} twice in its "
                         "header; expected each column once")
    cols = view_columns(views, header, file)
    extra = [c for c in (label, id_) if c]
    for c in extra:
        if c not in header:
            raise ValueError(f"column {c!r} is not in {file}; columns: {header[:30]}")
    need = list(dict.fromkeys([c for v in cols.values() for c in v] + extra))
    df = _read_table(file, kind, sep, need)
    if len(df) == 0:
        raise ValueError(f"{file} has no data rows")
    arrays, mask = {}, np.ones((len(df), len(cols)), dtype=bool)
    for j, (name, names) in enumerate(cols.items()):
        for c in names:
            s = df[c]
            if not is_numeric_dtype(s.dtype) or is_complex_dtype(s.dtype):
                bad = np.flatnonzero(pd.to_numeric(s, errors="coerce").isna() & s.notna())
                value = repr(s.iloc[bad[0]]) if len(bad) else ""
                value = value if len(value) <= 60 else value[:60] + "…"  # a huge field
                eg = f", e.g. {value} in row {bad[0] + 1}" if len(bad) else ""
                raise ValueError(f"column {c!r} (view {name!r}) is not numeric ({s.dtype}{eg}) "
                                 f"in {str(file)!r}")
        X = df[names].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(X).any():
            r, k = np.argwhere(np.isinf(X))[0]
            raise ValueError(f"column {names[k]!r} (view {name!r}) is infinite in row {r + 1} "
                             f"of {str(file)!r}")
        arrays[name], mask[:, j] = _masked(X)
    for c in extra:
        if df[c].isna().any():
            raise ValueError(f"column {c!r} is empty in row {int(np.argmax(df[c].isna())) + 1} "
                             f"of {str(file)!r}")
    meta: dict[str, Any] = {"source": str(file), "columns": cols}
    labels = ids = None
    if label:
        codes, uniques = pd.factorize(df[label], sort=True)
        labels, meta["label_names"] = codes.astype(np.int64), uniques.tolist()
    if id_:
        ids, dup = df[id_].to_numpy(), df[id_].duplicated().to_numpy()
        if dup.any():
            raise ValueError(f"id column {id_!r} repeats {ids[np.argmax(dup)]!r}; expected "
                             f"unique ids in {str(file)!r}")
    return MultiView(arrays, mask=mask, labels=labels, ids=ids, meta=meta)


def from_csv(
    path: PathLike,
    views: Mapping[str, Sequence[str]],
    *,
    label_column: str | None = None,
    id_column: str | None = None,
) -> MultiView:
    """Numeric views from the columns of a CSV table (``.tsv``: tab-separated).

    Args:
        path: table with a header row and n data rows.
        views: view name → column names or patterns (``"gene_*"``: every column starting
            with ``gene_``, in table order), e.g. ``{"gene": ["gene_*"], "lipid": ["l1"]}``.
        label_column: optional column of class labels → ``labels`` (n,) int codes into
            ``meta["label_names"]`` (sorted).
        id_column: optional column of unique sample ids → ``ids`` (n,).

    Returns:
        MultiView of n samples, each view a float64 (n, d_view) array. Where a row has a
        missing value (empty, NaN) in any column of a view, that view is masked for the row
        (``mask[i, j]`` False, the row all NaN): not dropped, not zero-filled.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a column or pattern not in the table; a non-numeric or infinite value in a
            view; a missing label or id; repeated ids (rows numbered from 1, header excluded).
    """
    return _from_table(path, "CSV", views, label_column, id_column)


def from_parquet(
    path: PathLike,
    views: Mapping[str, Sequence[str]],
    *,
    label_column: str | None = None,
    id_column: str | None = None,
) -> MultiView:
    """Numeric views from the columns of a Parquet table (only those columns are read).

    Same arguments, result (float64 (n, d_view) views, masked where values are missing) and
    errors as `from_csv`.
    """
    return _from_table(path, "Parquet", views, label_column, id_column)


def from_npy(**views: PathLike) -> MultiView:
    """Views from .npy files: ``from_npy(image="img.npy", text="txt.npy")``.

    Each file holds an (n, d) or (n,) array, loaded with ``allow_pickle=False``; a numeric
    array is a numeric view (rows holding NaN are masked, as in `from_csv`), a 1-D string
    array a raw view. Returns a MultiView with one view per keyword, in order.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: no views; a file that is not one plain .npy array (pickled objects, .npz,
            a damaged header), not of shape (n, d) / (n,), not numbers (or 1-D strings), or
            holding an infinity; views with different row counts — each naming the file.
    """
    if not views:
        raise ValueError("no views given; expected e.g. from_npy(image='img.npy', text='t.npy')")
    arrays, observed = {}, []
    for name, p in views.items():
        file = _existing(p, f"view {name!r} file")
        try:
            arr = np.load(file, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - a damaged header raises many types in numpy
            raise ValueError(f"view {name!r}: {file} is not a plain .npy array "
                             f"({type(e).__name__}: {e})") from None
        if not isinstance(arr, np.ndarray):
            arr.close()
            raise ValueError(f"view {name!r}: {file} is an .npz archive; expected one .npy array")
        if arr.ndim not in (1, 2) or 0 in arr.shape:
            raise ValueError(f"view {name!r}: {file} has shape {arr.shape}; expected (n, d) or "
                             "(n,) with n ≥ 1 and d ≥ 1")
        if arr.dtype.kind not in "biuf" and not (arr.ndim == 1 and arr.dtype.kind in "US"):
            raise ValueError(f"view {name!r}: {file} holds {arr.dtype}; expected numbers "
                             "(or a 1-D array of strings)")
        if arr.dtype.kind == "f" and np.isinf(arr).any():
            row = int(np.argwhere(np.isinf(arr))[0][0])
            raise ValueError(f"view {name!r}: {file} is infinite in row {row + 1}; expected "
                             "finite values (NaN marks a missing row)")
        if observed and len(arr) != len(observed[0]):
            first = next(iter(views))
            raise ValueError(f"view {name!r}: {file} has {len(arr)} rows; view {first!r} "
                             f"({views[first]}) has {len(observed[0])}")
        arrays[name], obs = _masked(arr)
        observed.append(obs)
    mask = np.column_stack(observed)
    meta = {"source": {k: str(v) for k, v in views.items()}}
    return MultiView(arrays, mask=mask, meta=meta)
