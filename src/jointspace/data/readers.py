"""Readers for your own data: folders + caption files, CSV / Parquet tables, .npy arrays.

Folder readers check every file and skip broken rows, reported in ``meta["skipped"]`` and by a
warning; table and array readers mask a view in the rows where it has missing values.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.data.caption_files import join_text, read_records, skip_row
from jointspace.data.multiview import MultiView

PathLike = str | os.PathLike
MISSING_TEXT = ("nan", "none", "null", "n/a")  # captions that are a missing value, not words


def _existing(path: PathLike, what: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist or is not a file")
    return file


def _check_image(file: Path) -> str | None:
    """None if ``file`` decodes (Pillow open + load; SVG rendered by cairosvg), else why not."""
    try:
        if file.suffix.lower() == ".svg":
            try:
                import cairosvg
            except (ImportError, OSError):  # no cairo library: at least parse the XML
                from xml.etree import ElementTree

                if not ElementTree.parse(file).getroot().tag.endswith("svg"):
                    raise ValueError("root element is not <svg>") from None
            else:
                cairosvg.svg2png(url=str(file), output_width=8, output_height=8)
        else:
            from jointspace.data.image_files import open_image

            with open_image(file) as im:  # size first, then structure and checksums,
                im.verify()  # whatever ImageFile.LOAD_TRUNCATED_IMAGES says
            with open_image(file) as im:
                im.load()
    except Exception as e:  # any decoder failure means a broken file: reported, not raised
        return f"unreadable image: {type(e).__name__}: {e}"
    return None


def _check_audio(file: Path) -> str | None:
    """None if soundfile reads ``file``'s header and it has at least one frame, else why not."""
    import soundfile as sf

    try:
        info = sf.info(str(file))
    except Exception as e:  # libsndfile refuses the file: reported, not raised
        return f"unreadable audio: {type(e).__name__}: {e}"
    if info.samplerate < 1 or info.channels < 1:
        return f"impossible audio header: {info.samplerate} Hz, {info.channels} channels"
    return None if info.frames > 0 else "empty audio: 0 frames"


def _file_problem(file: Path, root: Path, allow_outside: bool,
                  check: Callable | None) -> str | None:
    """Why a caption file's row cannot use ``file`` (outside the folder, missing, bad name,
    undecodable), or None."""
    try:
        if not allow_outside and not file.resolve().is_relative_to(root):
            return f"outside the folder: {file} (pass allow_outside=True to allow it)"
        if not file.is_file():
            return f"missing file: {file}"
    except (OSError, RuntimeError) as e:  # a name too long, a symlink loop
        return f"bad file name: {getattr(e, 'strerror', None) or e}"
    return check(file) if check else None


def _load_pairs(
    root: PathLike,
    captions: PathLike,
    view: str,
    columns: list[str],
    check: Callable | None,
    text_columns: int = 1,
    separator: str | None = None,
    allow_outside: bool = False,
) -> MultiView:
    """Body of `from_folder` / `from_audio_folder`; ``columns`` = file, ``text_columns``
    caption columns (joined by `_join_text`)[, label]."""
    root_dir = Path(root).expanduser()
    if not root_dir.is_dir():
        raise FileNotFoundError(f"{view} folder {str(root)!r} does not exist or is not a folder")
    path = _existing(captions, "captions file")
    root_dir = root_dir.resolve()
    records, skipped = read_records(path, columns)
    verdict: dict[Path, str | None] = {}  # each file is checked once
    kept = []  # (name, path, caption, label)
    caption_name = "+".join(columns[1 : 1 + text_columns])
    for line, rec, text in records:
        values = [None if rec.get(c) is None else str(rec[c]).strip() for c in columns]
        joined = join_text(values[1 : 1 + text_columns], separator)
        values = [values[0], joined, *values[1 + text_columns :]]
        names = [columns[0], caption_name, *columns[1 + text_columns :]]
        name, file = values[0] or "", root_dir / (values[0] or "")
        reason = next((f"missing column {c!r}" for c, v in zip(names, values) if v is None), None)
        reason = reason or next((f"empty {c}" for c, v in zip(names, values) if not v), None)
        if reason is None and values[1].lower() in MISSING_TEXT:
            reason = f"missing value: {caption_name} reads {values[1]!r}"
        if reason is None:
            if file not in verdict:
                verdict[file] = _file_problem(file, root_dir, allow_outside, check)
            reason = verdict[file]
        if reason:
            skipped.append(skip_row(line, name or text, reason))
        else:
            kept.append((name, file, values[1], values[2] if len(values) > 2 else None))
    skipped.sort(key=lambda s: s["row"])
    counts = Counter(s["reason"].split(":")[0] for s in skipped)
    why = ", ".join(f"{c} {r}" for r, c in counts.most_common())
    if not kept:
        tried = [
            s["reason"].partition(": ")[2]
            for s in skipped
            if s["reason"].startswith("missing file")
        ]
        hint = f"; paths tried, relative to {str(root_dir)!r}: e.g. {tried[0]!r}" if tried else ""
        raise ValueError(f"no usable rows in {str(path)!r}: {len(skipped)} skipped ({why}){hint}")
    if skipped:
        n_rows = len(kept) + len(skipped)
        msg = f"{path.name}: skipped {len(skipped)} of {n_rows} rows ({why}); see meta['skipped']"
        warnings.warn(msg, stacklevel=3)
    group_of: dict[Path, int] = {}
    groups = [group_of.setdefault(file, len(group_of)) for _, file, _, _ in kept]
    seen: Counter = Counter()
    ids = []
    for (name, *_), g in zip(kept, groups):
        ids.append(f"{name}#{seen[g]}")
        seen[g] += 1
    meta: dict[str, Any] = {"source": str(path), "root": str(root_dir), "skipped": skipped}
    labels = None
    if len(columns) > 1 + text_columns:
        meta["label_names"] = sorted({k[3] for k in kept})
        code = {n: i for i, n in enumerate(meta["label_names"])}
        labels = np.array([code[k[3]] for k in kept], dtype=np.int64)
    views = {view: [str(k[1]) for k in kept], "text": [k[2] for k in kept]}
    return MultiView(views, labels=labels, groups=np.array(groups), ids=np.array(ids), meta=meta)


def from_folder(
    images_dir: PathLike,
    captions: PathLike,
    *,
    image_column: str = "image",
    caption_column: str | Sequence[str] = "caption",
    label_column: str | None = None,
    check_images: bool = True,
    separator: str | None = None,
    allow_outside: bool = False,
) -> MultiView:
    """Image–caption pairs from a folder of images and a caption file.

    Args:
        images_dir: folder holding the images.
        captions: ``.csv`` / ``.tsv`` file with a header, ``.jsonl`` (one JSON object a
            line) or ``.parquet``, of rows (image file relative to ``images_dir``, caption).
            An image may have several captions: every caption is one sample.
        image_column: the column of image paths, relative to ``images_dir`` (paths are
            tried as ``images_dir / value``; messages show the paths tried).
        caption_column: the caption column, or several (``["title", "keywords"]``) joined
            into one caption: "title. keywords" (a full stop added unless the part ends in
            punctuation; a missing or empty part is left out).
        label_column: optional column of class labels.
        separator: splits multi-value text cells (``"red|apple"`` with ``"|"``), whose
            values are joined by ", " in the caption.
        check_images: decode every image once (Pillow open + load; SVG rendered by cairosvg)
            and skip those that fail; with False only existence is checked.
        allow_outside: accept paths that leave ``images_dir`` (``../x.png``, absolute paths,
            symlinks pointing outside); by default such rows are skipped and reported.

    Returns:
        MultiView of the n usable rows: views ``image`` (n absolute paths) and ``text`` (n
        captions); ``groups`` (n,) int, one id per image in order of first appearance; ``ids``
        (n,) ``"<image>#<k>"``, the k-th usable caption (from 0) of that image; ``labels``
        (n,) int codes into ``meta["label_names"]`` (sorted) if ``label_column``. Skipped rows
        (missing, broken or outside file, empty caption or one reading "nan", missing column,
        bad JSON, more fields than the header, a row spanning lines) are listed in
        ``meta["skipped"]`` as ``{"row": 1-based line, "item": image name or line text,
        "reason": str}`` and counted per reason by a warning.

    Raises:
        FileNotFoundError: ``images_dir`` or ``captions`` does not exist.
        ValueError: unknown extension, a named column not in the header, no usable row.
    """
    texts = [caption_column] if isinstance(caption_column, str) else list(caption_column)
    if not texts:
        raise ValueError("caption_column is empty; expected a column name or a list of them")
    columns = [image_column, *texts] + ([label_column] if label_column else [])
    check = _check_image if check_images else None
    return _load_pairs(images_dir, captions, "image", columns, check, len(texts), separator,
                       allow_outside)


def from_audio_folder(
    audio_dir: PathLike,
    captions: PathLike,
    *,
    audio_column: str = "audio",
    caption_column: str = "caption",
    label_column: str | None = None,
    allow_outside: bool = False,
) -> MultiView:
    """Audio–caption pairs (WAV, FLAC, OGG, …) from a folder and a caption file.

    As `from_folder`, with every file checked by ``soundfile.info`` (unreadable files and
    files of 0 frames are skipped and reported). Returns a MultiView with views ``audio`` (n
    absolute paths) and ``text`` (n captions), ``groups`` (n,), ``ids`` (n,), ``meta``.
    """
    columns = [audio_column, caption_column] + ([label_column] if label_column else [])
    return _load_pairs(audio_dir, captions, "audio", columns, _check_audio,
                       allow_outside=allow_outside)


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
            import csv

            with file.open(encoding="utf-8-sig", newline="") as fh:
                header = [h.strip() for h in next(csv.reader(fh, delimiter=sep), [])]
            if not header:
                raise pd.errors.EmptyDataError
        else:
            import pyarrow.parquet as pq

            header = [str(c) for c in pq.read_schema(file).names]
    except UnicodeDecodeError as e:
        raise ValueError(f"{kind} file {str(file)!r} is not UTF-8 text ({e})") from None
    except (ValueError, OSError) as e:  # pandas EmptyDataError, pyarrow ArrowInvalid
        why = "is empty" if isinstance(e, pd.errors.EmptyDataError) else f"is unreadable ({e})"
        raise ValueError(f"{kind} file {str(file)!r} {why}") from None
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValueError(f"{kind} file {str(file)!r} names column {repeated[0]!r} twice in its "
                         "header; expected each column once")
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
            raise ValueError(f"view {name!r} has no columns; expected a list of column names")
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
                eg = f", e.g. {s.iloc[bad[0]]!r} in row {bad[0] + 1}" if len(bad) else ""
                raise ValueError(f"column {c!r} (view {name!r}) is not numeric ({s.dtype}{eg})")
        X = df[names].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(X).any():
            r, k = np.argwhere(np.isinf(X))[0]
            raise ValueError(f"column {names[k]!r} (view {name!r}) is infinite in row {r + 1}")
        arrays[name], mask[:, j] = _masked(X)
    for c in extra:
        if df[c].isna().any():
            raise ValueError(f"column {c!r} is empty in row {int(np.argmax(df[c].isna())) + 1}")
    meta: dict[str, Any] = {"source": str(file), "columns": cols}
    labels = ids = None
    if label:
        codes, uniques = pd.factorize(df[label], sort=True)
        labels, meta["label_names"] = codes.astype(np.int64), uniques.tolist()
    if id_:
        ids, dup = df[id_].to_numpy(), df[id_].duplicated().to_numpy()
        if dup.any():
            raise ValueError(f"id column {id_!r} repeats {ids[np.argmax(dup)]!r}; expected unique")
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
        ValueError: no views; a file that is not one plain .npy array (pickled objects, .npz)
            or not of shape (n, d) / (n,); views with different row counts.
    """
    if not views:
        raise ValueError("no views given; expected e.g. from_npy(image='img.npy', text='t.npy')")
    arrays, observed = {}, []
    for name, p in views.items():
        file = _existing(p, f"view {name!r} file")
        try:
            arr = np.load(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"view {name!r}: {file} is not a plain .npy array ({e})") from None
        if not isinstance(arr, np.ndarray):
            arr.close()
            raise ValueError(f"view {name!r}: {file} is an .npz archive; expected one .npy array")
        if arr.ndim not in (1, 2):
            raise ValueError(
                f"view {name!r}: {file} has shape {arr.shape}; expected (n, d) or (n,)"
            )
        arrays[name], obs = _masked(arr)
        observed.append(obs)
    mask = np.column_stack(observed) if len({len(o) for o in observed}) == 1 else None
    meta = {"source": {k: str(v) for k, v in views.items()}}
    return MultiView(arrays, mask=mask, meta=meta)
