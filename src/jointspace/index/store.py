"""An index directory: one or more collections (LanceDB tables searched through FAISS) and a
manifest saying which pipeline made their vectors.

Layout::

    INDEX/
      index.json      format, pipeline fingerprint, collections (view, dim, engine), source
      tables/         the LanceDB database: one versioned table per collection
      engines/        saved ANN structures and read snapshots (Arrow files), each stamped
                      with the table version it reflects
      pipeline/       the pipeline that made the vectors (written by the index builder)

``index.json`` is written last when an index is created and atomically whenever it changes,
so a directory without it is not an index and a crash never leaves a half-written manifest.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from jointspace.atomic import atomic_write
from jointspace.index.collection import Collection, schema
from jointspace.index.engine import check_params, resolve_kind

MANIFEST = "index.json"
FORMAT = "jointspace-index"
FORMAT_VERSION = 1


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    atomic_write(path / MANIFEST, lambda fh: fh.write(text.encode()))


def read_index_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of the index at ``path``.

    Raises:
        FileNotFoundError: ``path`` is not an index (no ``index.json``).
        ValueError: a broken manifest or one from a newer jointspace.
    """
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a jointspace index (no {MANIFEST} in it)")
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"index manifest {file} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{file} is not a jointspace index manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"index {path} has format version {version!r}; this jointspace reads up to "
            f"{FORMAT_VERSION} (upgrade jointspace)"
        )
    return manifest


class Index:
    """An index directory opened for reading and writing (or only reading). Use
    :meth:`create` or :meth:`open`.

    Attributes:
        path: the directory; manifest: its ``index.json`` as a dict; read_only: whether
        writes are refused (collections then come from their read snapshots when valid).
    """

    def __init__(self, path: Path, manifest: dict[str, Any], read_only: bool = False) -> None:
        self.path, self.manifest, self.read_only = path, manifest, read_only
        self._connection: Any = None
        self._collections: dict[str, Collection] = {}

    @property
    def _db(self) -> Any:
        """The LanceDB connection (made on first use: a read-only search from snapshots
        never imports LanceDB)."""
        if self._connection is None:
            import lancedb

            self._connection = lancedb.connect(str(self.path / "tables"))
        return self._connection

    @classmethod
    def create(cls, path: str | os.PathLike, collections: dict[str, dict[str, Any]], *,
               fingerprint: str | None = None, engine: str = "auto",
               engine_params: dict[str, Any] | None = None,
               source: dict[str, Any] | None = None) -> Index:
        """A new, empty index at ``path`` (which must not hold an index yet).

        Args:
            collections: name → ``{"view": pipeline view, "dim": vector dimension}``.
            fingerprint: the fingerprint of the pipeline whose vectors will be stored.
            engine: ``auto``, ``exact``, ``hnsw`` or ``ivf``; engine_params: its parameters.
            source: where the items come from (e.g. ``{"images": "/abs/dir"}``), kept as is.
        """
        import lancedb

        path = Path(path)
        if (path / MANIFEST).exists():
            raise FileExistsError(f"{path} already holds an index; open it instead")
        resolve_kind(engine, 0)
        if engine not in ("auto", "exact"):
            check_params(engine, engine_params or {})
        if not collections:
            raise ValueError("an index needs at least one collection")
        path.mkdir(parents=True, exist_ok=True)
        db = lancedb.connect(str(path / "tables"))
        entries = {}
        for name, spec in collections.items():
            if not name.isidentifier():
                raise ValueError(f"collection name {name!r}; expected letters, digits and _")
            dim = int(spec["dim"])
            if name not in _table_names(db):
                db.create_table(name, schema=schema(dim))
            entries[name] = {"view": str(spec["view"]), "dim": dim}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "pipeline_fingerprint": fingerprint,
            "engine": {"kind": engine, "params": dict(engine_params or {})},
            "collections": entries,
            "source": source or {},
        }
        _write_manifest(path, manifest)
        return cls(path, manifest)

    @classmethod
    def open(cls, path: str | os.PathLike, read_only: bool = False) -> Index:
        """The index at ``path`` (see :func:`read_index_manifest` for the errors).

        Args:
            read_only: refuse writes, and serve each collection from its read snapshot
                (:mod:`jointspace.index.snapshot`: the state of the last completed build)
                when it has one, without importing LanceDB.
        """
        path = Path(path)
        return cls(path, read_index_manifest(path), read_only=read_only)

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the pipeline that made the vectors."""
        return self.manifest.get("pipeline_fingerprint")

    @property
    def names(self) -> list[str]:
        """The collections' names, in the order they were created."""
        return list(self.manifest["collections"])

    def collection(self, name: str | None = None) -> Collection:
        """A collection by name (the first one when ``name`` is None)."""
        name = name or self.names[0]
        if name not in self.manifest["collections"]:
            raise KeyError(f"index {self.path} has no collection {name!r}; "
                           f"it has {', '.join(self.names)}")
        if name not in self._collections:
            spec = self.manifest["collections"][name]
            engine = self.manifest.get("engine", {})
            self._collections[name] = Collection(
                lambda: self._db.open_table(name), name, spec["view"], spec["dim"],
                self.path / "engines", engine.get("kind", "auto"), engine.get("params"),
                read_only=self.read_only,
            )
        return self._collections[name]

    def add_collection(self, name: str, view: str, dim: int) -> Collection:
        """A new, empty collection in this index (e.g. captions indexed later)."""
        if self.read_only:
            raise ValueError(f"index {self.path} is opened read-only; open it for writing")
        if name in self.manifest["collections"]:
            raise ValueError(f"index {self.path} already has a collection {name!r}")
        if not name.isidentifier():
            raise ValueError(f"collection name {name!r}; expected letters, digits and _")
        if name not in _table_names(self._db):
            self._db.create_table(name, schema=schema(int(dim)))
        collections = {**self.manifest["collections"], name: {"view": view, "dim": int(dim)}}
        self.update_manifest(collections=collections)
        return self.collection(name)

    def update_manifest(self, **fields: Any) -> None:
        """Change top-level manifest fields (e.g. ``source``), atomically."""
        if self.read_only:
            raise ValueError(f"index {self.path} is opened read-only; open it for writing")
        self.manifest.update(fields)
        _write_manifest(self.path, self.manifest)

    def save_engines(self) -> None:
        """Save every opened collection's ANN structure (after writes)."""
        for collection in self._collections.values():
            collection.save_engine()

    def compact(self, keep_versions: bool = False) -> None:
        """Merge the small files many writes leave behind and, unless ``keep_versions``,
        delete the files of every version but the latest (a build's many commits would
        otherwise keep every intermediate state on disk)."""
        import warnings
        from datetime import timedelta

        if self.read_only:
            raise ValueError(f"index {self.path} is opened read-only; open it for writing")
        for name in self.names:
            table = self._db.open_table(name)
            with warnings.catch_warnings():  # that other readers of old versions fail: known
                warnings.simplefilter("ignore", UserWarning)
                table.optimize(cleanup_older_than=None if keep_versions else timedelta(0),
                               delete_unverified=not keep_versions)
            if name in self._collections:
                self._collections[name].table.checkout_latest()

    def info(self) -> dict[str, Any]:
        """What ``jointspace index info`` shows: manifest fields, then per collection its
        view, size, dimension, engine and table version."""
        out = {k: self.manifest.get(k) for k in ("created", "pipeline_fingerprint", "source")}
        out["path"] = str(self.path)
        out["collections"] = {}
        for name in self.names:
            c = self.collection(name)
            out["collections"][name] = {
                "view": c.view, "items": len(c), "dim": c.dim,
                "engine": c.engine.active_kind, "version": c.version,
            }
        out["size_bytes"] = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return out


def _table_names(db: Any) -> list[str]:
    names = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    return list(getattr(names, "tables", names))
