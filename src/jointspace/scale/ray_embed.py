"""Batch embedding on Ray Data: items (captions, image paths) read in blocks, embedded by a
pool of actors that each load the encoder or pipeline once, and written on the driver to a
LanceDB table (a local path or an object-storage URI), every id exactly once::

    from jointspace.scale.ray_embed import EmbedModel, embed_to_lance
    model = EmbedModel.from_pipeline("runs/p", "text")        # or EmbedModel.from_encoder(enc)
    report = embed_to_lance({"id": ids, "caption": captions}, model, "s3://bucket/emb",
                            item_column="caption", workers=8, ray_address="auto")

Exactly once, whatever dies: the driver reads the ids already in the table and drops them
from the input (so a re-run embeds only what is missing), keeps the ids it wrote, drops a row
delivered twice (a task retried after its actor died), and writes each batch with one
``add``: one LanceDB commit, so a killed driver leaves whole batches (one driver writes a
table at a time; that is what makes a plain ``add`` enough, with no per-batch
``merge_insert`` whose cost grows with the table). Dead actors are
restarted and their batches retried by Ray Data's defaults for actor pools (``max_restarts``
and ``max_task_retries`` -1: without limit; setting them would also keep Ray from fusing the
reads into the actors, which on a cluster whose CPUs all hold actors starves the reads). So
a batch that kills its worker every time (a crashing decoder) is retried until the job is
stopped; an exception in the encoder (ValueError, OSError) is reported per row instead.

The model travels as the bytes of its saved directory (through Ray's object store), so a
worker on another machine needs no shared disk for it; image paths must be readable where
the actors run. Ray is imported inside the functions: importing this module needs no Ray.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.scale.ray_io import LanceOutput, check_workers, connect, input_dataset

__all__ = ["EmbedActor", "EmbedModel", "EmbedReport", "RayEmbedder", "embed_batches",
           "embed_to_lance"]


def _pack(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (symbolic links followed) as relative path → bytes."""
    root = directory.expanduser().resolve()
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


@dataclass(frozen=True)
class EmbedModel:
    """What the actors embed with: a saved pipeline's view, or a saved encoder, as the files
    of its directory.

    Attributes:
        kind: "pipeline" or "encoder".
        files: relative path → bytes of the saved directory.
        view: the pipeline view whose raw items are embedded (pipelines only).
        fingerprint: names the model's state (a pipeline's fingerprint; an encoder's cache
            key): a table written by one model refuses another.
    """

    kind: str
    files: dict[str, bytes] = field(repr=False)
    view: str | None = None
    fingerprint: str = ""

    @classmethod
    def from_pipeline(cls, path: str | os.PathLike, view: str) -> EmbedModel:
        """A saved pipeline's ``view`` (raw items → (m, k) joint-space rows).

        Raises:
            FileNotFoundError / ValueError: not a pipeline, or no such view.
        """
        from jointspace.pipeline import Pipeline

        pipe = Pipeline.load(path)
        if view not in pipe.encoders_:
            raise ValueError(f"pipeline {os.fspath(path)!r} has no view {view!r}; views: "
                             f"{', '.join(pipe.encoders_)}")
        return cls("pipeline", _pack(Path(path)), view, str(pipe.fingerprint))

    @classmethod
    def from_encoder(cls, encoder: Any) -> EmbedModel:
        """A fitted encoder (raw items → (m, d) features), or the path of one saved by
        :func:`~jointspace.encoders.base.save_encoder`."""
        import tempfile

        from jointspace.encoders.base import load_encoder, save_encoder

        if isinstance(encoder, str | os.PathLike):
            encoder = load_encoder(encoder)
        with tempfile.TemporaryDirectory() as tmp:
            save_encoder(encoder, Path(tmp) / "encoder")
            files = _pack(Path(tmp) / "encoder")
        return cls("encoder", files, None, encoder.cache_key())

    def load(self, cache_dir: str | os.PathLike | None = None) -> Callable[[list], np.ndarray]:
        """Write the files to a temporary folder (kept while the returned function lives)
        and load them: returns items → (m, d) float32 rows. Called once per actor."""
        import tempfile

        tmp = tempfile.TemporaryDirectory(prefix="jointspace-embed-")
        root = Path(tmp.name) / "model"
        for rel, data in self.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        if self.kind == "pipeline":
            from jointspace.pipeline import Pipeline

            pipe = Pipeline.load(root)
            pipe.cache_dir = cache_dir

            def embed(items: list, _keep: Any = tmp) -> np.ndarray:
                return pipe.transform_view(self.view, items)
            return embed
        from jointspace.encoders import encode_cached
        from jointspace.encoders.base import load_encoder

        encoder = load_encoder(root)

        def encode(items: list, _keep: Any = tmp) -> np.ndarray:
            return encode_cached(encoder, items, cache_dir)
        return encode


class EmbedActor:
    """A Ray Data callable class: loads the model once (:meth:`EmbedModel.load`), then maps a
    pyarrow batch with ``id`` and ``item_column`` (m rows) to a batch of ``id``, the item,
    ``vector`` (list<float32>, null for a failed row) and ``error`` ("" or why the row
    failed).

    Args:
        model: an :class:`EmbedModel` (or any object whose ``load(cache_dir)`` returns
            items → (m, d) rows), or a Ray object reference to one.
        item_column: the column of raw items.
        skip_failures: embed a failing batch row by row and report the rows that raise
            ValueError or OSError (a broken image) instead of failing the job.
        known: ids already written (dropped before embedding).
    """

    def __init__(self, model: Any, item_column: str, cache_dir: str | None = None,
                 skip_failures: bool = True, known: Any = None) -> None:
        import ray

        if isinstance(model, ray.ObjectRef):
            model = ray.get(model)
        if isinstance(known, ray.ObjectRef):
            known = ray.get(known)
        self.embed = model.load(cache_dir)
        self.item_column, self.skip_failures, self.known = item_column, skip_failures, known

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if batch.schema.field("id").type != pa.string():
            batch = batch.set_column(batch.schema.get_field_index("id"), "id",
                                     pc.cast(batch.column("id"), pa.string()))
        if self.known is not None and len(self.known):
            batch = batch.filter(pc.invert(pc.is_in(batch.column("id"),
                                                    value_set=self.known)))
        items = batch.column(self.item_column).to_pylist()
        vectors: list[Any] = [None] * len(items)
        errors = [""] * len(items)
        if items:
            try:
                rows = np.asarray(self.embed(items), dtype=np.float32)
                vectors = list(rows)
            except (ValueError, OSError) as exc:
                if not self.skip_failures:
                    raise
                if len(items) == 1:
                    errors[0] = str(exc)
                else:
                    for i, item in enumerate(items):
                        try:
                            vectors[i] = np.asarray(self.embed([item]), np.float32)[0]
                        except (ValueError, OSError) as one:
                            errors[i] = str(one)
        column = pa.array([None if v is None else v.tolist() for v in vectors],
                          pa.list_(pa.float32()))
        return pa.table({"id": batch.column("id"), self.item_column: batch.column(
            self.item_column), "vector": column, "error": pa.array(errors, pa.string())})


def embed_batches(dataset: Any, model: Any, *, item_column: str, workers: int = 2,
                  batch_rows: int = 256, cache_dir: str | os.PathLike | None = None,
                  skip_failures: bool = True, known: Any = None) -> Iterator[Any]:
    """Embed a Ray dataset's ``item_column`` on a pool of ``workers`` actors, ``batch_rows``
    rows a call: yields pyarrow tables (``id``, the item, ``vector``, ``error``; see
    :class:`EmbedActor`) as they complete, in any order. A row may come twice if a task was
    retried; :func:`embed_to_lance` drops the second copy.

    Args:
        dataset: a ``ray.data.Dataset`` with a string ``id`` column and ``item_column``.
        known: a pyarrow string array of ids to drop before embedding.
    """
    import ray

    workers = check_workers(workers, batch_rows)
    model_ref = ray.put(model)
    known_ref = ray.put(known) if known is not None else None
    mapped = dataset.map_batches(
        EmbedActor, batch_size=batch_rows, batch_format="pyarrow",
        fn_constructor_kwargs={"model": model_ref, "item_column": item_column,
                               "cache_dir": _absolute(cache_dir),
                               "skip_failures": skip_failures, "known": known_ref},
        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
    mapped.context.enable_progress_bars = False  # the dataset's own copy: ours, not Ray's
    yield from mapped.iter_batches(batch_size=None, batch_format="pyarrow")


def _absolute(cache_dir: str | os.PathLike | None) -> str | None:
    """A local cache folder as an absolute path (the actors' working folder is not ours); a
    URI as it is."""
    if cache_dir is None or "://" in str(cache_dir):
        return None if cache_dir is None else str(cache_dir)
    return os.path.abspath(os.path.expanduser(cache_dir))


@dataclass
class EmbedReport:
    """What :func:`embed_to_lance` did.

    Attributes:
        existing: rows already in the table when the run began (not embedded again).
        embedded: rows embedded and written by this run.
        duplicates: rows delivered again by a retried task, dropped.
        failed: (id, reason) of rows that could not be embedded (not written: a re-run
            tries them again).
        commits: LanceDB commits (one per written batch).
        rows: rows in the table at the end; dim: the vectors' dimension.
    """

    existing: int = 0
    embedded: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    commits: int = 0
    rows: int = 0
    dim: int = 0
    seconds: float = 0.0


def embed_to_lance(source: Any, model: Any, uri: str, table: str = "embeddings", *,
                   id_column: str = "id", item_column: str = "item", workers: int = 2,
                   batch_rows: int = 256, ray_address: str | None = None,
                   cache_dir: str | os.PathLike | None = None, progress: bool = True,
                   on_commit: Callable[[int], None] | None = None) -> EmbedReport:
    """Embed every row of ``source`` on Ray actors into the LanceDB table ``uri::table``
    (columns ``id``, ``item_column``, ``vector`` (d,) float32), resuming a table that holds
    some of them (see the module docstring).

    Args:
        source: a ``ray.data.Dataset`` (e.g. ``read_parquet``, or
            :func:`~jointspace.scale.ray_io.lance_dataset`), a pyarrow table, or a mapping of
            columns; ``id_column`` holds the ids (made strings; each once) and
            ``item_column`` the raw items.
        model: an :class:`EmbedModel`.
        uri: a LanceDB database: a local folder or an object-storage URI (s3://, gs://, az://).
        workers: actors, each holding the model; batch_rows: rows an actor embeds per call.
        ray_address: "auto", "local", a cluster address, or None (Ray as initialized, else
            a local start); see :func:`~jointspace.scale.ray_io.connect`.
        on_commit: called with the rows this run has written after each commit.
    Returns:
        an :class:`EmbedReport`.
    Raises:
        ValueError: a bad address or input, or a table written by another model.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    start = time.perf_counter()
    check_workers(workers, batch_rows)
    connect(ray_address)
    out = LanceOutput(uri, table, item_column, getattr(model, "fingerprint", ""))
    known = out.ids()
    dataset, todo = input_dataset(source, id_column, item_column, batch_rows, known)
    report = EmbedReport(existing=len(known))
    if todo == 0:  # every row is in the table already
        report.rows, report.dim = out.count(), out.dim or 0
        report.seconds = time.perf_counter() - start
        return report
    written = set(known.to_pylist())
    with _Progress(progress, todo) as advance:
        blocks = None if todo is None else -(-todo // batch_rows)
        for batch in embed_batches(dataset, model, item_column=item_column,
                                   workers=min(workers, blocks or workers),
                                   batch_rows=batch_rows, cache_dir=cache_dir,
                                   known=None if todo is not None else known):
            failed = pc.not_equal(batch.column("error"), "")
            report.failed += [(r["id"], r["error"]) for r in
                              batch.filter(failed).select(["id", "error"]).to_pylist()]
            ok = batch.filter(pc.invert(failed))
            keep = []
            for i in ok.column("id").to_pylist():
                keep.append(i not in written)
                written.add(i)
            report.duplicates += len(keep) - sum(keep)
            ok = ok.filter(pa.array(keep, pa.bool_()))
            if ok.num_rows:
                out.add(ok.select(["id", item_column, "vector"]))
                report.embedded += ok.num_rows
                report.commits += 1
                if on_commit is not None:
                    on_commit(report.embedded)
            advance(batch.num_rows)
    report.rows, report.dim = out.count(), out.dim or 0
    report.seconds = time.perf_counter() - start
    return report


class _Progress:
    """A rich progress bar of rows embedded (or nothing when ``enabled`` is False)."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self.enabled, self.total, self.bar = enabled, total, None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self.bar = Progress(transient=False)
        self.bar.start()
        task = self.bar.add_task("embedding", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


#: (positions in the items, (m, k) rows, [(position, reason)] of the rows that failed)
Embedded = tuple[list[int], np.ndarray, list[tuple[int, str]]]


class RayEmbedder:
    """The ``embedder`` hook of :func:`~jointspace.retrieval.build.build_index`, on Ray:
    ``embedder(view, items, batch_size)`` yields :data:`Embedded` batches as the actors
    finish them (each actor loads the pipeline once per view; image rows that fail to
    decode are reported, not fatal).

    Attributes:
        fingerprint: the pipeline's (the build checks it is the index's pipeline).
    """

    def __init__(self, pipeline_dir: str | os.PathLike, *, ray_address: str | None = None,
                 workers: int = 2, cache_dir: str | os.PathLike | None = None,
                 option: str = "ray_address") -> None:
        from jointspace.pipeline.manifest import read_manifest

        self.pipeline_dir, self.workers = pipeline_dir, check_workers(workers, 1)
        self.cache_dir = cache_dir
        self.fingerprint = str(read_manifest(Path(pipeline_dir).expanduser())["fingerprint"])
        connect(ray_address, option)
        self._models: dict[str, EmbedModel] = {}

    def __call__(self, view: str, items: Sequence[Any], batch_size: int) -> Iterator[Embedded]:
        if not len(items):
            return
        if view not in self._models:
            self._models[view] = EmbedModel.from_pipeline(self.pipeline_dir, view)
        columns = {"id": [str(i) for i in range(len(items))], "item": [str(x) for x in items]}
        dataset, _ = input_dataset(columns, "id", "item", batch_size)
        blocks, seen = -(-len(items) // batch_size), set()
        for batch in embed_batches(dataset, self._models[view], item_column="item",
                                   workers=min(self.workers, blocks), batch_rows=batch_size,
                                   cache_dir=self.cache_dir, skip_failures=view == "image"):
            rows = batch.select(["id", "vector", "error"]).to_pydict()
            fresh = [k for k, i in enumerate(rows["id"]) if i not in seen]  # not a retry's copy
            seen.update(rows["id"])
            ok = [k for k in fresh if not rows["error"][k]]
            vectors = (np.asarray([rows["vector"][k] for k in ok], np.float32) if ok
                       else np.zeros((0, 0), np.float32))
            yield ([int(rows["id"][k]) for k in ok], vectors,
                   [(int(rows["id"][k]), rows["error"][k]) for k in fresh if rows["error"][k]])
