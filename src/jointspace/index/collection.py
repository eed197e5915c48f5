"""One collection: a LanceDB table of items (key, id, vector, metadata) and the FAISS engine
that searches its vectors.

Every write (add, upsert, delete) is one LanceDB commit: a new table version that appears
whole or not at all, so a crash mid-write leaves the previous version intact and openable.
The engine follows each write in memory; its ANN structure is saved beside the table with the
table version it reflects, and rebuilt when that no longer matches. A read-only collection
may come from its read snapshot (:mod:`jointspace.index.snapshot`) without LanceDB.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.index.compressed import TableVectors, trainable
from jointspace.index.engine import make_engine
from jointspace.index.snapshot import invalidate_snapshot, read_snapshot, write_snapshot

# metadata columns every collection has (all optional per item), with their Arrow types
METADATA: dict[str, str] = {
    "path": "string",
    "caption": "string",
    "label": "string",
    "size": "int64",
    "mtime_ns": "int64",
    "sha256": "string",
}
Filter = str | Mapping[str, Any] | None


def schema(dim: int) -> Any:
    """The Arrow schema of a collection of ``dim``-dimensional vectors."""
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64()}
    return pa.schema(
        [("key", pa.int64()), ("id", pa.string()), ("vector", pa.list_(pa.float32(), dim))]
        + [(name, types[kind]) for name, kind in METADATA.items()]
    )


def sql_literal(value: Any, column: str) -> str:
    """``value`` as a SQL literal for a filter on ``column`` (strings quoted and escaped)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"filter on {column!r}: {value!r} is not a string or a number")
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"filter on {column!r}: {value!r} is not a string or a number")


def filter_sql(where: Filter) -> str | None:
    """A filter as a LanceDB ``where`` clause: a SQL string as it is, or a mapping of column →
    value (or list of values), all of which must hold."""
    if where is None or isinstance(where, str):
        return where or None
    clauses = []
    for column, value in where.items():
        if column not in METADATA and column not in ("id", "key"):
            raise ValueError(
                f"filter column {column!r} is unknown; expected one of "
                f"id, key, {', '.join(METADATA)}"
            )
        if isinstance(value, list | tuple | set):
            values = ", ".join(sql_literal(v, column) for v in value)
            clauses.append(f"{column} IN ({values})" if values else "false")
        else:
            clauses.append(f"{column} = {sql_literal(value, column)}")
    return " AND ".join(clauses) or None


class Collection:
    """Items of one view in the joint space. Made by :class:`jointspace.index.Index`.

    Args:
        open_table: () → the LanceDB table (called at once, or, for a read-only collection
            served from its snapshot, only when the table is needed).
        read_only: refuse writes; serve from the read snapshot when there is a valid one.

    Attributes:
        name: the collection's name; view: the pipeline view its vectors come from;
        dim: vector dimension; engine: the engine searching it (a :class:`VectorEngine`
        holding the vectors, or for ``ivfpq`` a :class:`CompressedEngine` holding codes and
        reading vectors back from the table).
    """

    def __init__(self, open_table: Callable[[], Any], name: str, view: str, dim: int,
                 engine_dir: Path, kind: str = "auto", params: dict[str, Any] | None = None,
                 *, read_only: bool = False) -> None:
        self.name, self.view, self.dim = name, view, int(dim)
        self.read_only = read_only
        self._open_table, self._table = open_table, None
        self._engine_dir = engine_dir
        self.engine = make_engine(dim, kind, params, TableVectors(lambda: self.table, dim))
        self._meta: Any = None
        self._snapshot = (read_snapshot(engine_dir, name, schema(self.dim))
                          if read_only and self.engine.in_memory else None)
        self._load()

    @property
    def table(self) -> Any:
        """The LanceDB table (opened on first use; at the snapshot's version when served
        from one)."""
        if self._table is None:
            self._table = self._open_table()
            if self._snapshot is not None:
                self._table.checkout(self._snapshot[1])
        return self._table

    def _check_writable(self) -> None:
        if self.read_only:
            raise ValueError(f"collection {self.name!r} is opened read-only (Index.open("
                             "path, read_only=True)); open the index for writing to change it")
        invalidate_snapshot(self._engine_dir, self.name)

    # --- state -----------------------------------------------------------------------------
    def _read(self, columns: list[str], where: str | None = None) -> Any:
        if self._snapshot is not None and where is None:
            return self._snapshot[0].select(columns)
        query = self.table.search().select(columns).limit(None)
        if where:
            try:
                query = query.where(where)
                return query.to_arrow()
            except Exception as exc:  # LanceDB raises its own parse errors
                raise ValueError(f"filter {where!r} is not valid: {exc}") from exc
        return query.to_arrow()

    def _load(self) -> None:
        stamp = self._engine_stamp()
        ann = self._ann_path if stamp.get("table_version") == self.version else None
        if self.engine.in_memory:
            keys, vectors = self._key_vectors(self._read(["key", "vector"]))
            self.engine.reset(keys, vectors, ann_path=ann)
        else:  # compressed: the saved codes, or codes made from the table in batches
            keys = self._read(["key"]).column("key").to_numpy()
            if ann is None or not self.engine.load_ann(ann, len(keys)):
                if trainable(self.engine.params, len(keys)):
                    self.engine.train(len(keys))
                else:
                    self.engine.reset(*self._key_vectors(self._read(["key", "vector"])))
        self._next_key = int(keys.max()) + 1 if len(keys) else 0
        self._meta = None

    def _key_vectors(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        keys = data.column("key").to_numpy()
        vectors = np.zeros((0, self.dim), np.float32)
        if len(keys):
            flat = data.column("vector").combine_chunks().values.to_numpy()
            vectors = flat.reshape(len(keys), self.dim)
        return keys, vectors

    @property
    def _ann_path(self) -> Path:
        return self._engine_dir / f"{self.name}.faiss"

    def _engine_stamp(self) -> dict[str, Any]:
        try:
            return json.loads((self._engine_dir / f"{self.name}.json").read_text())
        except (OSError, ValueError):
            return {}

    def save_engine(self) -> None:
        """Save the ANN structure (if any) with the table version it reflects, and the read
        snapshot of the table."""
        from jointspace.atomic import atomic_write

        self._engine_dir.mkdir(parents=True, exist_ok=True)
        if not self.read_only and self.engine.in_memory:
            write_snapshot(self._engine_dir, self.name,
                           self._read(["key", "id", "vector", *METADATA]), self.version)
        if self.engine.save_ann(self._ann_path):
            stamp = {"table_version": self.version, "kind": self.engine.active_kind,
                     "n": len(self.engine)}
            atomic_write(self._engine_dir / f"{self.name}.json",
                         lambda fh: fh.write(json.dumps(stamp).encode()))

    @property
    def version(self) -> int:
        """The table version: one more with every write."""
        if self._snapshot is not None:
            return self._snapshot[1]
        return int(self.table.version)

    def versions(self) -> list[int]:
        """Every table version still on disk, oldest first."""
        return [int(v["version"]) for v in self.table.list_versions()]

    def restore(self, version: int) -> None:
        """Make ``version`` the current contents again (as a new version)."""
        self._check_writable()
        if version not in self.versions():
            raise ValueError(f"collection {self.name!r} has no version {version}")
        self.table.checkout(version)
        self.table.restore()
        self._load()

    def __len__(self) -> int:
        return len(self.engine)

    # --- writing ---------------------------------------------------------------------------
    def _rows(self, ids: Sequence[str], keys: np.ndarray, vectors: Any,
              metadata: Sequence[Mapping[str, Any]] | None) -> Any:
        import pyarrow as pa

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError(
                f"vectors for collection {self.name!r} have shape {vectors.shape}; "
                f"expected ({len(ids)}, {self.dim})"
            )
        if not np.isfinite(vectors).all():
            raise ValueError(f"vectors for collection {self.name!r} contain NaN or inf")
        metadata = list(metadata) if metadata is not None else [{}] * len(ids)
        if len(metadata) != len(ids):
            raise ValueError(f"{len(metadata)} metadata rows for {len(ids)} ids")
        for row in metadata:
            unknown = set(row) - set(METADATA)
            if unknown:
                raise ValueError(
                    f"metadata field(s) {', '.join(sorted(unknown))} unknown; "
                    f"expected {', '.join(METADATA)}"
                )
        columns = {"key": keys, "id": list(ids),
                   "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), self.dim)}
        for name in METADATA:
            columns[name] = [row.get(name) for row in metadata]
        return pa.Table.from_pydict(columns, schema=schema(self.dim))

    @staticmethod
    def _check_ids(ids: Sequence[str]) -> list[str]:
        ids = [ids] if isinstance(ids, str) else list(ids)
        if not all(isinstance(i, str) and i for i in ids):
            raise ValueError("ids must be non-empty strings")
        if len(set(ids)) != len(ids):
            raise ValueError("ids repeat within one write; expected each id once")
        return ids

    def add(self, ids: Sequence[str], vectors: Any,
            metadata: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Add new items: (n,) string ids, (n, d) vectors, optional metadata dicts.

        Raises:
            ValueError: an id already in the collection, or a bad shape or field.
        """
        self.upsert(ids, vectors, metadata, replace=False)

    def upsert(self, ids: Sequence[str], vectors: Any,
               metadata: Sequence[Mapping[str, Any]] | None = None, *,
               replace: bool = True) -> None:
        """Insert new items and replace existing ones (same id: same key) in one commit."""
        self._check_writable()
        ids = self._check_ids(ids)
        existing = self.keys_of(ids)
        if not replace and existing:
            taken = ", ".join(sorted(existing)[:3])
            raise ValueError(f"collection {self.name!r} already holds id(s) {taken}; use upsert")
        keys = np.array([existing.get(i, -1) for i in ids], dtype=np.int64)
        fresh = keys < 0
        keys[fresh] = np.arange(self._next_key, self._next_key + int(fresh.sum()))
        rows = self._rows(ids, keys, vectors, metadata)
        if len(ids) == 0:
            return
        if existing:
            (self.table.merge_insert("id").when_matched_update_all()
             .when_not_matched_insert_all().execute(rows))
        else:
            self.table.add(rows)
        self._next_key += int(fresh.sum())
        self.engine.remove(keys[~fresh])
        self.engine.add(keys, rows.column("vector").combine_chunks().values.to_numpy()
                        .reshape(len(ids), self.dim))
        self._meta = None

    def delete(self, ids: Sequence[str] | None = None, *, where: Filter = None) -> int:
        """Delete items by id, or those matching a filter; returns how many went."""
        if (ids is None) == (where is None):
            raise ValueError("delete needs ids or a filter (where=), not both")
        self._check_writable()
        keys = (np.array(list(self.keys_of(self._check_ids(ids)).values()), dtype=np.int64)
                if ids is not None else self.keys_where(where))
        if len(keys) == 0:
            return 0
        self.table.delete(f"key IN ({', '.join(str(int(k)) for k in keys)})")
        self.engine.remove(keys)
        self._meta = None
        return len(keys)

    # --- reading ---------------------------------------------------------------------------
    @property
    def metadata(self) -> Any:
        """Every item's key, id and metadata (no vectors), as an Arrow table sorted by key."""
        if self._meta is None:
            columns = ["key", "id", *METADATA]
            self._meta = self._read(columns).sort_by("key")
        return self._meta

    def keys_of(self, ids: Sequence[str]) -> dict[str, int]:
        """The keys of those ``ids`` that are in the collection."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(ids):
            return {}
        if self._meta is None and not self.engine.in_memory:  # a large collection: ask the table
            found = self._read(["key", "id"], filter_sql({"id": list(ids)}))
        else:
            meta = self.metadata
            found = meta.filter(pc.is_in(meta.column("id"),
                                         value_set=pa.array(list(ids), pa.string())))
        return dict(zip(found.column("id").to_pylist(), found.column("key").to_pylist()))

    def keys_where(self, where: Filter) -> np.ndarray:
        """The keys of the items that pass a filter (SQL string or column → value mapping)."""
        return self._read(["key"], filter_sql(where)).column("key").to_numpy()

    def rows(self, keys: Sequence[int]) -> list[dict[str, Any] | None]:
        """Metadata dicts (key, id, path, caption, …) for ``keys``, None for unknown keys."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if self._meta is None and not self.engine.in_memory:  # a large collection: ask the table
            meta = self._read(["key", "id", *METADATA],
                              filter_sql({"key": sorted(set(keys.tolist()))})).sort_by("key")
        else:
            meta = self.metadata
        all_keys = meta.column("key").to_numpy()
        pos = np.searchsorted(all_keys, keys)
        ok = (pos < len(all_keys)) & (all_keys[np.minimum(pos, len(all_keys) - 1)] == keys) \
            if len(all_keys) else np.zeros(len(keys), bool)
        taken = meta.take(pos[ok]).to_pylist()
        out: list[dict[str, Any] | None] = [None] * len(keys)
        for i, row in zip(np.flatnonzero(ok), taken):
            out[i] = row
        return out

    def vectors_of(self, keys: Sequence[int]) -> np.ndarray:
        """The stored (m, d) vectors of ``keys`` (which must exist)."""
        return self.engine.vectors_of(keys)

    def vector_batches(self, rows: int = 65_536) -> Any:
        """Every item as (keys (b,), vectors (b, d)) batches of at most ``rows``."""
        if not self.engine.in_memory:
            yield from TableVectors(lambda: self.table, self.dim).batches(rows)
            return
        for start in range(0, len(self.engine.keys), rows):
            yield (self.engine.keys[start : start + rows],
                   self.engine.vectors[start : start + rows])

    def search(self, queries: Any, k: int = 10,
               filter: Filter = None) -> list[list[dict[str, Any]]]:
        """The k best items for each of (q, d) queries (or one (d,) query), among the items
        that pass ``filter`` if given: per query, a list of metadata dicts with ``score``,
        best first."""
        if int(k) < 1:
            raise ValueError(f"k is {k}; expected at least 1")
        allowed = self.keys_where(filter) if filter is not None else None
        scores, keys = self.engine.search(queries, int(k), allowed=allowed)
        results = []
        for row_scores, row_keys in zip(scores, keys):
            hits = []
            for score, meta in zip(row_scores, self.rows(row_keys)):
                if meta is not None:
                    hits.append({**meta, "score": float(score)})
            results.append(hits)
        return results
