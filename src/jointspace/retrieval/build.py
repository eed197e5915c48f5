"""Build an index from a pipeline and a collection of images, and keep it current.

A first run embeds every image (and every caption, when there are captions) and copies the
pipeline into the index; later runs embed only new and changed files, rewrite the metadata of
files that changed on disk but not in content, and delete the rows of files that are gone.
Items are embedded and committed in batches, so a run that is stopped resumes where it
stopped: what was committed is unchanged on the next scan.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.retrieval.scan import Item, plan_images

IMAGES, CAPTIONS = "images", "captions"


@dataclass
class BuildReport:
    """What a build did: counts per collection, the skipped images and the time taken."""

    embedded: int = 0
    touched: int = 0
    unchanged: int = 0
    removed: int = 0
    captions_embedded: int = 0
    captions_removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def copy_pipeline(pipeline_dir: Path, out: Path) -> None:
    """Copy the pipeline directory into ``out/pipeline`` (replacing a previous copy)."""
    target = out / "pipeline"
    tmp = out / ".pipeline.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(pipeline_dir, tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def open_or_create(out: Path, pipeline: Any, pipeline_dir: Path, has_captions: bool,
                   engine: str, engine_params: dict[str, Any] | None,
                   source: dict[str, Any]) -> Any:
    """The index at ``out``, made for ``pipeline`` if it does not exist yet.

    Raises:
        ValueError: the index was built by another pipeline (different fingerprint).
    """
    from jointspace.index import Index
    from jointspace.index.store import MANIFEST

    if (out / MANIFEST).exists():
        index = Index.open(out)
        if index.fingerprint != pipeline.fingerprint:
            raise ValueError(
                f"index {out} was built by another pipeline (fingerprint "
                f"{str(index.fingerprint)[:12]}…, this one {str(pipeline.fingerprint)[:12]}…); "
                "build into a new --out"
            )
        index.update_manifest(source=source)
        if has_captions and CAPTIONS not in index.names:  # captions given for the first time
            index.add_collection(CAPTIONS, "text", index.collection(IMAGES).dim)
        return index
    model = pipeline.model
    dim = int(getattr(model, "n_components_", model.n_components))
    collections = {IMAGES: {"view": "image", "dim": dim}}
    if has_captions:
        collections[CAPTIONS] = {"view": "text", "dim": dim}
    out.mkdir(parents=True, exist_ok=True)
    copy_pipeline(pipeline_dir, out)
    return Index.create(out, collections, fingerprint=pipeline.fingerprint, engine=engine,
                        engine_params=engine_params, source=source)


#: (positions in the items, their (m, k) rows, [(position, reason)] of items that failed)
Embedded = tuple[list[int], np.ndarray, list[tuple[int, str]]]
#: (view, raw items, batch size) → :data:`Embedded` batches, in any order: how a build
#: embeds (in this process by default; on Ray with ``jointspace.scale.ray_embed``)
Embedder = Callable[[str, Sequence[Any], int], Iterator[Embedded]]


def local_embedder(pipeline: Any) -> Embedder:
    """The pipeline embedding batches in this process. Images that fail to decode are
    reported instead of failing their batch (the batch is then embedded one by one)."""

    def embed(view: str, items: Sequence[Any], batch_size: int) -> Iterator[Embedded]:
        for start in range(0, len(items), batch_size):
            batch = list(items[start : start + batch_size])
            positions = list(range(start, start + len(batch)))
            if view != "image":
                yield positions, pipeline.transform_view(view, batch), []
                continue
            try:
                vectors = pipeline.transform_view(view, batch)
            except (ValueError, OSError):
                vectors = None
            if vectors is not None:
                yield positions, vectors, []
                continue
            kept, rows, failed = [], [], []
            for position, item in zip(positions, batch):
                try:
                    rows.append(pipeline.transform_view(view, [item]))
                    kept.append(position)
                except (ValueError, OSError) as exc:
                    failed.append((position, str(exc)))
            yield kept, (np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)), failed

    return embed


def _image_row(item: Item) -> dict[str, Any]:
    return {"path": item.path, "caption": item.caption, "label": item.label,
            "sha256": item.sha256, **item.stat()}


Track = Callable[[str, int], Callable[[int], None]]


def update_images(index: Any, embed: Embedder, items: list[Item], report: BuildReport,
                  batch_size: int, track: Track) -> None:
    """Bring the image collection in step with ``items`` (see the module docstring)."""
    images = index.collection(IMAGES)
    stored = {row["id"]: row for row in images.metadata.to_pylist()}
    plan = plan_images(items, stored)
    report.unchanged, report.removed = plan.unchanged, len(plan.remove)
    if plan.remove:
        images.delete(plan.remove)
    if plan.touch:
        ids = [item.id for item, _ in plan.touch]
        vectors = images.vectors_of([key for _, key in plan.touch])
        images.upsert(ids, vectors, [_image_row(item) for item, _ in plan.touch])
        report.touched = len(plan.touch)
    advance = track("images", len(plan.embed))
    files = [str(item.file) for item in plan.embed]
    for positions, vectors, failed in embed("image", files, batch_size):
        report.skipped += [(plan.embed[p].id, reason) for p, reason in failed]
        kept = [plan.embed[p] for p in positions]
        if kept:
            images.upsert([it.id for it in kept], normalized(vectors),
                          [_image_row(it) for it in kept])
            report.embedded += len(kept)
        advance(len(positions) + len(failed))


def caption_rows(items: list[Item]) -> dict[str, dict[str, Any]]:
    """The captions collection's rows: id ``<image id>#<k>`` → caption, path, label."""
    return {f"{item.id}#{k}": {"caption": text, "path": item.path, "label": item.label}
            for item in items for k, text in enumerate(item.captions)}


def update_captions(index: Any, embed: Embedder, items: list[Item], report: BuildReport,
                    batch_size: int, track: Track) -> None:
    """Bring the captions collection in step: embed new or edited captions, drop gone ones."""
    captions = index.collection(CAPTIONS)
    stored = dict(zip(captions.metadata.column("id").to_pylist(),
                      captions.metadata.column("caption").to_pylist()))
    rows = caption_rows(items)
    gone = sorted(set(stored) - set(rows))
    if gone:
        captions.delete(gone)
    report.captions_removed = len(gone)
    todo = [cid for cid, row in rows.items() if stored.get(cid) != row["caption"]
            or cid not in stored]
    advance = track("captions", len(todo))
    texts = [rows[cid]["caption"] for cid in todo]
    for positions, vectors, _ in embed("text", texts, batch_size * 4):
        batch = [todo[p] for p in positions]
        captions.upsert(batch, normalized(vectors), [rows[cid] for cid in batch])
        report.captions_embedded += len(batch)
        advance(len(batch))


def build_index(pipeline_dir: str | os.PathLike, items: list[Item], out: str | os.PathLike, *,
                source: dict[str, Any] | None = None, batch_size: int = 256,
                engine: str = "auto", engine_params: dict[str, Any] | None = None,
                cache_dir: str | os.PathLike | None = None, progress: bool = True,
                embedder: Embedder | None = None) -> BuildReport:
    """Build or update the index at ``out`` over ``items`` with the pipeline saved at
    ``pipeline_dir``.

    Args:
        items: the collection's images (see :mod:`jointspace.retrieval.scan`).
        source: where the items come from (``{"root": folder, …}``), kept in the manifest.
        batch_size: images embedded and committed together.
        engine, engine_params: the search engine (see :mod:`jointspace.index.engine`).
        cache_dir: the feature cache the pipeline was fitted with, if any (features of
            files already encoded are read from it).
        embedder: how to embed (:data:`Embedder`; default :func:`local_embedder`, this
            process); it must embed with the same pipeline (a ``fingerprint`` attribute, if
            it has one, is checked). Each batch it yields is one commit.
    Returns:
        a :class:`BuildReport`.
    """
    from jointspace.pipeline import Pipeline

    if batch_size < 1:
        raise ValueError(f"batch_size is {batch_size}; expected at least 1")
    start = time.perf_counter()
    pipeline = Pipeline.load(pipeline_dir)
    pipeline.cache_dir = cache_dir
    made_by = getattr(embedder, "fingerprint", pipeline.fingerprint)
    if made_by != pipeline.fingerprint:
        raise ValueError(f"the embedder embeds with another pipeline than {str(pipeline_dir)!r}"
                         f" (fingerprint {str(made_by)[:12]}…)")
    embed = embedder or local_embedder(pipeline)
    has_captions = any(item.captions for item in items)
    index = open_or_create(Path(out), pipeline, Path(pipeline_dir), has_captions, engine,
                           engine_params, source or {})
    report = BuildReport()
    with _progress(progress) as track:
        update_images(index, embed, items, report, batch_size, track)
        if CAPTIONS in index.names:
            update_captions(index, embed, items, report, batch_size, track)
    index.compact()
    index.save_engines()
    report.seconds = time.perf_counter() - start
    return report


class _progress:
    """A rich progress bar per collection (or nothing when ``enabled`` is False)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar = enabled, None

    def __enter__(self) -> Track:
        if self.enabled:
            from rich.progress import Progress

            self.bar = Progress(transient=False)
            self.bar.start()

        def track(name: str, total: int) -> Callable[[int], None]:
            if self.bar is None or total == 0:
                return lambda n: None
            task = self.bar.add_task(f"embedding {name}", total=total)
            return lambda n: self.bar.advance(task, n)

        return track

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
