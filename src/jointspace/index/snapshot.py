"""Read snapshots: a collection's rows (key, id, vector, metadata) as one Arrow IPC file
beside its saved engine, so that a search process opens an index without LanceDB.

``Index.save_engines`` (the end of every index build) writes ``engines/<name>.arrow`` and
then ``engines/<name>.snapshot.json`` naming the table version it holds; any write to the
collection first removes that stamp, so a snapshot is only ever read while it is the
table's state as of the last completed build. ``Index.open(path, read_only=True)`` serves
a collection from its snapshot when the stamp is there (LanceDB is imported only for what
needs the table: a SQL filter, the version history); otherwise it reads the table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jointspace.atomic import atomic_write


def snapshot_paths(engine_dir: Path, name: str) -> tuple[Path, Path]:
    """(the Arrow file, its stamp) of collection ``name``."""
    return engine_dir / f"{name}.arrow", engine_dir / f"{name}.snapshot.json"


def write_snapshot(engine_dir: Path, name: str, rows: Any, version: int) -> None:
    """Write the Arrow table ``rows`` of collection ``name`` as its snapshot of table
    ``version``: the file first (atomically), then the stamp."""
    import pyarrow as pa

    data, stamp = snapshot_paths(engine_dir, name)
    engine_dir.mkdir(parents=True, exist_ok=True)

    def write(fh: Any) -> None:
        with pa.ipc.new_file(fh, rows.schema) as writer:
            writer.write_table(rows)

    atomic_write(data, write)
    text = json.dumps({"table_version": int(version), "rows": rows.num_rows})
    atomic_write(stamp, lambda fh: fh.write(text.encode()))


def invalidate_snapshot(engine_dir: Path, name: str) -> None:
    """Remove the stamp of ``name``'s snapshot (before a write makes it stale)."""
    try:
        os.unlink(snapshot_paths(engine_dir, name)[1])
    except FileNotFoundError:
        pass


def read_snapshot(engine_dir: Path, name: str, schema: Any) -> tuple[Any, int] | None:
    """``(rows, table version)`` of ``name``'s snapshot, or None when it has no valid stamp
    or the file does not hold ``schema``'s columns with the stamped row count (then the
    caller reads the table)."""
    import pyarrow as pa

    data, stamp = snapshot_paths(engine_dir, name)
    try:
        info = json.loads(stamp.read_text())
        version, n_rows = int(info["table_version"]), int(info["rows"])
        with pa.OSFile(str(data)) as source:  # read into memory: never a live file map
            rows = pa.ipc.open_file(source).read_all()
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        return None
    if not rows.schema.equals(schema) or rows.num_rows != n_rows:
        return None
    return rows, version
