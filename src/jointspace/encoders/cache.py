"""On-disk feature cache: each item's features computed once per encoder config and state.

Layout (a folder; a URI such as ``s3://bucket/features`` instead keeps the rows in LanceDB
tables, :mod:`jointspace.encoders.cache_table`)::

    <cache_dir>/<encoder name>-<first 16 hex of the encoder's cache key>/
        encoder.json          the encoder's config and state fingerprint (for people)
        <sha256 of the item>.npy   one float32 (d,) row per distinct item

The item key is the sha256 of the file's bytes for a path (so a changed file is
recomputed and a renamed one is not), of the UTF-8 bytes for a text, and of the dtype,
shape and bytes for an array item or a table row. Files are written to a temporary name
and moved into place with ``os.replace``: readers never see a partial file, and
concurrent writers of the same item write the same bytes. No pickle: ``np.save`` /
``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.atomic import atomic_write
from jointspace.encoders.base import Encoder, check_media, check_texts


def _sha256_file(path: str | os.PathLike, index: int) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        raise FileNotFoundError(f"file {os.fspath(path)!r} (item {index}) does not exist") from None
    return h.hexdigest()


def _sha256_array(arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def item_keys(encoder: Encoder, X: Any) -> tuple[list[str], Any]:
    """The cache key of each of the n items of ``X``, and ``X`` as the encoder takes it.

    Returns:
        (keys, items): n hex digests, and the items as a list (text, media) or a 2-D
        array (table), so that a subset can be passed to the encoder.
    """
    if encoder.input_kind == "text":
        texts = check_texts(X, encoder.name)
        return [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts], texts
    if encoder.input_kind == "table":
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(
                f"encoder {encoder.name!r} got an array of shape {arr.shape}; expected (n, d)"
            )
        return [_sha256_array(row) for row in arr], arr
    items = check_media(X, encoder.name, (2, 3, 4), "media")
    keys = [
        _sha256_file(item, i) if isinstance(item, str | os.PathLike) else _sha256_array(item)
        for i, item in enumerate(items)
    ]
    return keys, items


def _subset(items: Any, idx: list[int]) -> Any:
    return items[idx] if isinstance(items, np.ndarray) else [items[i] for i in idx]


def _save_atomic(path: Path, row: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, row, allow_pickle=False))


def _load(path: Path) -> np.ndarray | None:
    """A cached row, or None when absent or unreadable (then it is recomputed)."""
    try:
        row = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return row if row.ndim == 1 and row.dtype == np.float32 else None


class FolderFeatures:
    """One encoder's cached features as one .npy file per item in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The cached (d,) float32 rows of those of the distinct ``keys`` that are cached."""
        rows = {key: _load(self.folder / f"{key}.npy") for key in keys}
        return {key: row for key, row in rows.items() if row is not None}

    def write(self, rows: dict[str, np.ndarray]) -> None:
        """Store each (d,) float32 row under its item key (atomically, file by file)."""
        for key, row in rows.items():
            _save_atomic(self.folder / f"{key}.npy", row)


class CachedEncoder(Encoder):
    """Wrap an encoder so that ``transform`` reads each item's features from disk when it
    has seen the item before, and computes (and stores) only the others.

    Args:
        encoder: any jointspace encoder; its ``config()`` (without speed-only parameters
            such as ``batch_size``) and ``state_fingerprint()`` name the cache folder.
        cache_dir: the cache root; one sub-folder per encoder config + state.

    ``fit`` fits the wrapped encoder (not cached). ``transform`` returns what the wrapped
    encoder would, (n, d) float32; after it, ``n_hits_`` and ``n_computed_`` tell how many
    of the n items came from disk and how many distinct items were encoded.
    """

    name = "cached"

    def __init__(self, encoder: Encoder, cache_dir: str | os.PathLike) -> None:
        self.encoder = encoder
        self.cache_dir = cache_dir

    @property
    def input_kind(self) -> str:  # type: ignore[override]
        return self.encoder.input_kind

    def fit(self, X: Any, y: Any = None) -> CachedEncoder:
        """Fit the wrapped encoder on ``X``."""
        self.encoder.fit(X, y)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return self.encoder.__sklearn_is_fitted__()

    def config(self) -> dict[str, Any]:
        """The wrapped encoder's config plus ``"cache_dir"``."""
        return {**self.encoder.config(), "cache_dir": os.fspath(self.cache_dir)}

    def state_fingerprint(self) -> str:
        """The wrapped encoder's fingerprint."""
        return self.encoder.state_fingerprint()

    def cache_key(self) -> str:
        """The wrapped encoder's cache key."""
        return self.encoder.cache_key()

    def _store(self) -> Any:
        """Where the rows live: this config's folder, or its table under a URI."""
        from jointspace.encoders.cache_table import TableFeatures, is_uri

        if is_uri(self.cache_dir):
            name = f"{self.encoder.name}_{self.cache_key()[:16]}".replace("-", "_")
            return TableFeatures(self.cache_dir, name, self.encoder.config())
        return FolderFeatures(self._ensure_folder())

    @property
    def folder(self) -> Path:
        """The folder of this encoder config + state inside ``cache_dir``."""
        return Path(self.cache_dir).expanduser() / f"{self.encoder.name}-{self.cache_key()[:16]}"

    def _ensure_folder(self) -> Path:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "encoder.json"
        if not meta.exists():
            payload = {
                **self.encoder.config(),
                "state_fingerprint": self.state_fingerprint(),
                "cache_key": self.cache_key(),
            }
            text = json.dumps(payload, indent=2).encode()
            atomic_write(meta, lambda fh: fh.write(text))
        return folder

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) float32 features of the n items of ``X``, from disk where cached."""
        self.encoder._check_fitted()
        keys, items = item_keys(self.encoder, X)
        if not keys:
            raise ValueError(f"encoder {self.encoder.name!r} got 0 items; expected at least 1")
        store = self._store()
        rows = store.read(list(dict.fromkeys(keys)))
        from_disk = set(rows)
        first_missing: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in rows and key not in first_missing:
                first_missing[key] = i
        if first_missing:
            computed = np.asarray(
                self.encoder.transform(_subset(items, list(first_missing.values()))),
                dtype=np.float32,
            )
            dims = {r.shape[0] for r in rows.values()}
            if dims and dims != {computed.shape[1]}:
                raise ValueError(
                    f"feature cache {str(self.cache_dir)!r} holds {sorted(dims)}-d rows but "
                    f"encoder {self.encoder.name!r} now gives {computed.shape[1]}-d; remove "
                    f"its folder ({self.encoder.name}-…) or table"
                )
            fresh = {key: np.ascontiguousarray(row) for key, row in zip(first_missing, computed)}
            store.write(fresh)
            rows.update(fresh)
        self.n_hits_ = sum(k in from_disk for k in keys)
        self.n_computed_ = len(first_missing)
        return np.stack([rows[k] for k in keys])


def encode_cached(encoder: Encoder, X: Any, cache_dir: str | os.PathLike | None) -> np.ndarray:
    """``encoder.transform(X)``, (n, d) float32, with each item's features read from and
    written to the cache under ``cache_dir`` (None: no cache). A concatenation is cached part
    by part, so ``hog+color-hist`` reuses what ``hog`` alone computed."""
    from jointspace.encoders.concat import ConcatEncoder

    if cache_dir is None:
        return np.asarray(encoder.transform(X), dtype=np.float32)
    if isinstance(encoder, ConcatEncoder):
        encoder._check_fitted()
        parts = [encode_cached(part, X, cache_dir) for part in encoder._parts()]
        encoder.dims_ = [p.shape[1] for p in parts]
        return np.concatenate(parts, axis=1)
    return CachedEncoder(encoder, cache_dir).transform(X)
