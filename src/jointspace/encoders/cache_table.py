"""The feature cache in a LanceDB table, for a cache on object storage (``s3://…``,
``gs://…``, ``az://…``) or any LanceDB URI, where one small file per item would be one
request per item.

Layout: a LanceDB database at the cache URI, one table per encoder config and state (named
as the folder of the on-disk cache, ``<encoder name>_<first 16 hex of its cache key>``) with
columns ``item`` (the item's sha256, as in :mod:`jointspace.encoders.cache`) and ``vector``
(its float32 (d,) features); the encoder's config is kept in the table's schema metadata.
Writes insert only items the table lacks (``merge_insert`` on ``item``), each write one
commit, so concurrent writers (e.g. Ray workers) of the same items leave each item once.
Credentials and endpoints come from the environment, as LanceDB reads them
(``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT``, ``GOOGLE_SERVICE_ACCOUNT``, …).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

LOOKUP_KEYS = 10_000  # items per SQL query when reading features back
WRITE_ATTEMPTS = 5  # a concurrent writer's commit can conflict: retried


def is_uri(cache_dir: Any) -> bool:
    """Whether ``cache_dir`` names a LanceDB URI (``scheme://…``) rather than a folder."""
    return isinstance(cache_dir, str) and "://" in cache_dir


class TableFeatures:
    """One encoder's cached features in a LanceDB table.

    Args:
        uri: the cache's LanceDB URI; name: the table (per encoder config and state);
        config: the encoder's config, kept with the table for people who look.
    """

    def __init__(self, uri: str, name: str, config: dict[str, Any]) -> None:
        import lancedb

        self.uri, self.name, self.config = uri, name, config
        try:
            self._db = lancedb.connect(uri)
        except Exception as exc:  # LanceDB raises its own errors for bad URIs
            raise ValueError(f"feature cache {uri!r} cannot be opened: {exc}") from exc
        self._table: Any = None

    def _open(self) -> Any:
        if self._table is None:
            names = self._db.list_tables()
            names = list(getattr(names, "tables", names))
            if self.name in names:
                self._table = self._db.open_table(self.name)
        return self._table

    def read(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The cached (d,) float32 rows of those of the distinct ``keys`` that are cached."""
        table = self._open()
        if table is None or not keys:
            return {}
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), LOOKUP_KEYS):
            part = keys[start : start + LOOKUP_KEYS]
            where = "item IN (" + ", ".join(f"'{k}'" for k in part) + ")"
            data = table.search().where(where).select(["item", "vector"]).limit(None) \
                .to_arrow()
            if not data.num_rows:
                continue
            d = data.schema.field("vector").type.list_size
            flat = data.column("vector").combine_chunks().values.to_numpy()
            for key, row in zip(data.column("item").to_pylist(),
                                flat.reshape(data.num_rows, d)):
                out[key] = row
        return out

    def write(self, rows: dict[str, np.ndarray]) -> None:
        """Add the (d,) float32 ``rows`` by item key; items already cached are left as are."""
        import pyarrow as pa

        if not rows:
            return
        vectors = np.stack(list(rows.values())).astype(np.float32)
        d = vectors.shape[1]
        schema = pa.schema([("item", pa.string()), ("vector", pa.list_(pa.float32(), d))],
                           metadata={"encoder": json.dumps(self.config)})
        data = pa.Table.from_pydict(
            {"item": list(rows), "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.ravel()), d)}, schema=schema)
        table = self._open()
        if table is None:
            try:
                self._table = self._db.create_table(self.name, data=data)
                return
            except (OSError, RuntimeError, ValueError):  # another writer created it first
                table = self._open()
                if table is None:
                    raise
        have = table.schema.field("vector").type.list_size
        if have != d:
            raise ValueError(
                f"feature cache table {self.name!r} in {self.uri!r} holds {have}-d rows but "
                f"the encoder now gives {d}-d; drop the table"
            )
        for attempt in range(WRITE_ATTEMPTS):
            try:
                table.merge_insert("item").when_not_matched_insert_all().execute(data)
                return
            except (OSError, RuntimeError, ValueError):  # a commit conflict: retried
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                table.checkout_latest()
