"""The edges of a batch-embedding job on Ray (:mod:`jointspace.scale.ray_embed`): joining a
cluster, the input as a Ray dataset (rows held here, or a LanceDB table read in blocks on the
workers) and the output LanceDB table that is written on the driver. Ray and LanceDB are
imported inside the functions."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from typing import Any

#: schema metadata key of an output table: the fingerprint of the model that wrote it
MODEL_KEY = b"jointspace.model"
_ADDRESS = re.compile(r"^(ray://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def connect(address: str | None, option: str = "ray_address") -> None:
    """Join a Ray cluster, once per process (the address is checked; when Ray is initialized
    already, that cluster is used).

    Args:
        address: "auto" (the cluster running on this machine, else a local one is started),
            "local" (start a local cluster), "HOST:PORT" or "ray://HOST:PORT" (a cluster's
            head; checked to answer within 5 s first), or None (as "local").
        option: the name of the option in errors (the CLI's "--ray").
    Raises:
        ValueError: an address that is not one of those, or that nobody answers at.
    """
    import ray

    text = "local" if address is None else str(address).strip()
    match = _ADDRESS.match(text)
    if text not in ("auto", "local") and (not match or not 0 < int(match["port"]) < 65536):
        raise ValueError(f"{option} {address!r} is not a Ray address; expected auto, local, "
                         "HOST:PORT or ray://HOST:PORT")
    if ray.is_initialized():
        return
    local = {"include_dashboard": False, "logging_level": "warning"}
    if text == "local":
        ray.init(address="local", **local)
        return
    if text == "auto":
        running = _running_cluster()
        if running is None:  # none here (or a dead one's address left behind): start one
            ray.init(address="local", **local)
        else:
            ray.init(address=running, logging_level="warning")
        return
    problem = _unanswered(match["host"].strip("[]"), int(match["port"]))
    if problem:
        raise ValueError(f"{option} {address!r}: no Ray cluster answers there ({problem}); "
                         "start one with `ray start --head`, or use --ray local")
    try:
        ray.init(address=text, logging_level="warning")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{option} {address!r}: cannot join the Ray cluster there "
                         f"({exc})") from None


def _unanswered(host: str, port: int) -> str:
    """Why nothing answers at host:port within 5 s ("" when something does): ``ray.init``
    itself waits minutes for an address where no cluster runs."""
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        return str(exc) or type(exc).__name__
    return ""


def _running_cluster() -> str | None:
    """The address of the Ray cluster running on this machine (``RAY_ADDRESS``, else the one
    Ray recorded as current), or None when there is none or it does not answer."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # Ray moved its helper: let ray.init look
        return "auto"
    try:
        address = canonicalize_bootstrap_address("auto")
    except ConnectionError:
        return None
    if address is None:
        return None
    host, _, port = str(address).rpartition(":")
    if host.startswith("ray://") or not port.isdigit():
        return address
    return None if _unanswered(host, int(port)) else address


def quiet_logs() -> None:
    """Ray Data's own log lines (each execution's plan and progress) at warnings only."""
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)


def check_workers(workers: int, batch_rows: int) -> int:
    """``workers`` as an int, both checked to be at least 1."""
    if int(workers) < 1:
        raise ValueError(f"workers is {workers}; expected at least 1")
    if int(batch_rows) < 1:
        raise ValueError(f"batch_rows is {batch_rows}; expected at least 1")
    return int(workers)


def rows_table(source: Any, id_column: str, item_column: str) -> Any:
    """A pyarrow table of ``id`` (strings) and ``item_column`` from a pyarrow table or a
    mapping of columns.

    Raises:
        ValueError: a missing column, or an id given twice (named).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(source, Mapping):
        missing = [c for c in (id_column, item_column) if c not in source]
        names = list(source)
    else:
        missing = [c for c in (id_column, item_column) if c not in source.column_names]
        names = source.column_names
    if missing:
        raise ValueError(f"the input has no column {missing[0]!r}; columns: {names}")
    ids = pc.cast(pa.array(source[id_column]) if isinstance(source, Mapping)
                  else source.column(id_column), pa.string())
    items = pa.array(source[item_column]) if isinstance(source, Mapping) \
        else source.column(item_column)
    if len(ids) != len(items):
        raise ValueError(f"{len(ids)} ids for {len(items)} items")
    if ids.null_count:
        raise ValueError(f"column {id_column!r} has {ids.null_count} empty id(s)")
    counts = pc.value_counts(ids)
    twice = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(twice):
        raise ValueError(f"id {twice.field('values')[0].as_py()!r} appears "
                         f"{twice.field('counts')[0].as_py()} times in the input; "
                         "expected each id once")
    return pa.table({"id": ids, item_column: items})


def input_dataset(source: Any, id_column: str, item_column: str, batch_rows: int,
                  known: Any = None) -> tuple[Any, int | None]:
    """The rows to embed as a Ray dataset with columns ``id`` and ``item_column``, and their
    number when it is known here.

    Rows held here (a pyarrow table or a mapping of columns) are checked, the ``known`` ids
    (a pyarrow string array) dropped, and cut into blocks of ``batch_rows`` rows. A Ray
    dataset is only renamed: its known ids are dropped on the actors.
    """
    import pyarrow.compute as pc
    import ray

    if isinstance(source, ray.data.Dataset):
        columns = source.columns()
        missing = [c for c in (id_column, item_column) if c not in columns]
        if missing:
            raise ValueError(f"the dataset has no column {missing[0]!r}; columns: {columns}")
        dataset = source.select_columns([id_column, item_column])
        if id_column != "id":
            dataset = dataset.rename_columns({id_column: "id"})
        return dataset, None
    table = rows_table(source, id_column, item_column)
    if known is not None and len(known):
        table = table.filter(pc.invert(pc.is_in(table.column("id"), value_set=known)))
    blocks = [table.slice(start, batch_rows) for start in range(0, table.num_rows, batch_rows)]
    return ray.data.from_arrow(blocks or [table]), table.num_rows


def lance_dataset(uri: str, table: str, columns: list[str], rows_per_block: int = 4096,
                  option: str = "input") -> Any:
    """A LanceDB table's ``columns`` as a Ray dataset read on the workers, ``rows_per_block``
    rows a read (by row offset, at the table's current version, so a table that changes
    meanwhile is read as it was).

    Raises:
        ValueError: the table cannot be opened or lacks a column (named).
    """
    import lancedb
    import ray

    where = f"{uri}::{table}"
    try:
        handle = lancedb.connect(uri).open_table(table)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{option}: LanceDB table {where!r} cannot be opened ({exc})") from None
    missing = [c for c in columns if c not in handle.schema.names]
    if missing:
        raise ValueError(f"{option}: LanceDB table {where!r} has no column {missing[0]!r}; "
                         f"columns: {handle.schema.names}")
    n, version = handle.count_rows(), int(handle.version)
    ranges = [{"start": a, "stop": min(a + rows_per_block, n)}
              for a in range(0, n, rows_per_block)]
    if not ranges:
        raise ValueError(f"{option}: LanceDB table {where!r} is empty")
    return ray.data.from_items(ranges, override_num_blocks=len(ranges)).map_batches(
        _read_ranges, batch_size=1, batch_format="pyarrow",
        fn_kwargs={"uri": uri, "table": table, "version": version, "columns": columns})


def _read_ranges(batch: Any, uri: str, table: str, version: int, columns: list[str]) -> Any:
    """The rows [start, stop) of each range in ``batch``, from ``table`` at ``version``."""
    import lancedb
    import pyarrow as pa

    handle = lancedb.connect(uri).open_table(table, version=version)
    parts = [handle.take_offsets(list(range(start, stop))).select(columns).to_arrow()
             for start, stop in zip(batch.column("start").to_pylist(),
                                    batch.column("stop").to_pylist())]
    return pa.concat_tables(parts)


class LanceOutput:
    """The output table ``uri::name``: ``id`` (string), the item column, ``vector`` (d,)
    float32; made on the first write (when d is known), its schema metadata naming the model
    that wrote it. Every :meth:`add` is one commit."""

    def __init__(self, uri: str, name: str, item_column: str, fingerprint: str) -> None:
        import lancedb

        self.uri, self.name, self.item_column = uri, name, item_column
        self.fingerprint = fingerprint
        self.where = f"{uri}::{name}"
        try:
            self.db = lancedb.connect(uri)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ValueError(f"LanceDB database {uri!r} cannot be opened ({exc})") from None
        self.table, self.dim = None, None
        try:
            self.table = self.db.open_table(name)
        except ValueError:  # no such table yet
            return
        schema = self.table.schema
        missing = [c for c in ("id", item_column, "vector") if c not in schema.names]
        if missing:
            raise ValueError(f"table {self.where!r} exists without a {missing[0]!r} column; "
                             "expected one written by jointspace (id, item, vector)")
        made_by = (schema.metadata or {}).get(MODEL_KEY, b"").decode()
        if fingerprint and made_by != fingerprint:
            raise ValueError(f"table {self.where!r} was written by another model "
                             f"({made_by[:12] or 'unknown'}…, this one {fingerprint[:12]}…); "
                             "write to a new table")
        self.dim = schema.field("vector").type.list_size

    def ids(self) -> Any:
        """The ids in the table, as a pyarrow string array."""
        import pyarrow as pa

        if self.table is None:
            return pa.array([], pa.string())
        ids = self.table.search().select(["id"]).limit(None).to_arrow().column("id")
        return ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())

    def add(self, batch: Any) -> None:
        """Write a batch (``id``, the item column, ``vector`` as list<float32>) in one
        commit.

        Raises:
            ValueError: vectors of another length than the table's.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        column = batch.column("vector").combine_chunks()
        lengths = pc.list_value_length(column)
        dim = pc.min_max(lengths)
        low, high = dim["min"].as_py(), dim["max"].as_py()
        if low != high or (self.dim is not None and low != self.dim):
            raise ValueError(f"vectors of {low}–{high} values for table {self.where!r}; "
                             f"expected {self.dim or low}")
        vectors = pa.FixedSizeListArray.from_arrays(
            pc.list_flatten(column).cast(pa.float32()), low)
        rows = pa.table({"id": batch.column("id"), self.item_column: batch.column(
            self.item_column), "vector": vectors})
        if self.table is None:
            rows = rows.replace_schema_metadata({MODEL_KEY: self.fingerprint.encode()})
            self.table = self.db.create_table(self.name, rows)
            self.dim = low
        else:
            self.table.add(rows)

    def count(self) -> int:
        return 0 if self.table is None else int(self.table.count_rows())
