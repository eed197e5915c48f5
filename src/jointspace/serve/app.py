"""The HTTP API and web page of an index: FastAPI over a :class:`Retriever`.

    POST /search              a query as JSON (text, vector, item, weights, k, filter,
                              collection) or as a form with an uploaded image
    GET  /items/{key}         an item's metadata (key: the integer in search results)
    GET  /items/{key}/thumbnail   a small JPEG of the item's image
    GET  /health              status, collections and their sizes
    GET  /                    the search page;  GET /docs, /openapi.json: the API's docs

Requests name items by integer key only: no path from a request reaches the file system.
Files are read only from the paths stored in the index, under the index's image folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from jointspace.retrieval.retriever import Retriever, combine, signed_sum, split_terms
from jointspace.serve.batching import MicroBatcher
from jointspace.serve.uploads import UploadError, UploadLimits, decode_image

PAGE = Path(__file__).with_name("static") / "index.html"
FilterValue = str | int | float | list[str | int | float]


class SearchQuery(BaseModel):
    """A search request. Any mix of text, vector and item (and, in a form, an image)."""

    text: str | list[str] | None = Field(
        None, description="Query text; several terms are added, a term starting with '-' "
        "is subtracted.")
    vector: list[float] | None = Field(None, description="A query vector in the joint space.")
    item: int | None = Field(None, description="Search by a stored item: its key.")
    item_collection: str | None = Field(None, description="Collection of `item` (default: "
                                        "`collection`).")
    weights: dict[str, float] | None = Field(
        None, description="Weight of each query part: text, image, vector, item.")
    k: int = Field(10, ge=1, le=1000, description="How many results.")
    filter: dict[str, FilterValue] | None = Field(
        None, description="Metadata filter: column → value or list of values "
        "(columns id, key, path, caption, label, size, mtime_ns, sha256).")
    collection: str | None = Field(None, description="Collection to search (default: the "
                                   "first, images).")


@dataclass
class SearchJob:
    """One query on its way through the batch: text terms still to embed, the other parts
    already vectors, and where and how to search."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    parts: dict[str, np.ndarray]
    weights: dict[str, float] | None
    k: int
    collection: str
    filter: dict[str, Any] | None


def _query_form() -> dict[str, Any]:
    """The OpenAPI description of /search's two body types."""
    schema = SearchQuery.model_json_schema()
    form = {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"},
        "text": {"type": "array", "items": {"type": "string"}},
        "k": {"type": "integer"}, "collection": {"type": "string"},
        "weights": {"type": "string", "description": "JSON object"},
        "filter": {"type": "string", "description": "JSON object"}}}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": schema}, "multipart/form-data": {"schema": form}}}}


def create_app(retriever: Retriever, limits: UploadLimits | None = None,
               max_batch: int = 32, thumbnail_cache: int = 1024) -> FastAPI:
    """The FastAPI app serving ``retriever``'s index.

    Args:
        limits: upload limits for query images.
        max_batch: most queries answered together (1: one at a time).
        thumbnail_cache: thumbnails kept in memory.
    """
    limits = limits or UploadLimits()
    collections = retriever.index.names
    for name in collections:
        retriever.index.collection(name)  # load every collection before the first request
    warm_up(retriever)

    def answer(jobs: list[SearchJob]) -> list[Any]:
        """Many queries at once: every text term embedded in one call, then one search per
        collection for the unfiltered queries (the matrix is read once for all of them)."""
        terms = [t for job in jobs for t in job.positive + job.negative]
        embedded = retriever.embed("text", terms) if terms else None
        results: list[Any] = [None] * len(jobs)
        vectors: dict[int, np.ndarray] = {}
        start = 0
        for i, job in enumerate(jobs):
            n = len(job.positive) + len(job.negative)
            parts = dict(job.parts)
            if n:
                parts["text"] = signed_sum(embedded[start : start + n], len(job.positive))
            start += n
            try:
                vectors[i] = combine(parts, job.weights)
            except ValueError as exc:
                results[i] = exc
        for name in {job.collection for job in jobs}:
            target = retriever.index.collection(name)
            plain = [i for i in vectors if jobs[i].collection == name and jobs[i].filter is None]
            if plain:
                k = max(jobs[i].k for i in plain)
                hits = target.search(np.stack([vectors[i] for i in plain]), k=k)
                for i, found in zip(plain, hits):
                    results[i] = found[: jobs[i].k]
            for i in vectors:
                if jobs[i].collection == name and jobs[i].filter is not None:
                    try:
                        results[i] = target.search(vectors[i], jobs[i].k, jobs[i].filter)[0]
                    except ValueError as exc:
                        results[i] = exc
        return results

    batcher = MicroBatcher(answer, max_batch=max_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(title="jointspace search", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None, description=(__doc__ or "").split("\n\n")[1])
    app.state.retriever, app.state.batcher = retriever, batcher
    add_offline_docs(app)

    def collection(name: str | None) -> Any:
        if name is not None and name not in collections:
            raise HTTPException(404, f"no collection {name!r}; this index has "
                                     f"{', '.join(collections)}")
        return retriever.index.collection(name)

    def hit_json(hit: dict[str, Any], coll: str) -> dict[str, Any]:
        out = {k: hit.get(k) for k in ("key", "id", "score", "caption", "label", "path")}
        out["collection"] = coll
        out["thumbnail"] = f"/items/{hit['key']}/thumbnail?collection={coll}"
        return out

    async def make_job(q: SearchQuery, image: np.ndarray | None) -> SearchJob:
        """The query's parts that are not text are computed here (an image is embedded in a
        worker thread, a stored item's vector looked up); its text goes to the batch."""
        positive, negative = split_terms(q.text) if q.text is not None else ([], [])
        parts: dict[str, np.ndarray] = {}
        if image is not None:
            parts["image"] = (await run_in_threadpool(retriever.embed, "image", [image]))[0]
        if q.vector is not None:
            parts["vector"] = retriever.check_vector(q.vector)[0]
        if q.item is not None:
            source = collection(q.item_collection or q.collection)
            if not source.rows([q.item])[0]:
                raise HTTPException(404, f"no item {q.item} in collection {source.name!r}")
            parts["item"] = source.vectors_of([q.item])[0]
        if not parts and not positive and not negative:
            raise ValueError("empty query: give text, an image, a vector or an item")
        return SearchJob(tuple(positive), tuple(negative), parts, q.weights, q.k,
                         collection(q.collection).name, q.filter)

    async def read_query(request: Request) -> tuple[SearchQuery, np.ndarray | None]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        length = int(request.headers.get("content-length") or 0)
        if length > limits.max_bytes + 1_000_000:
            raise UploadError(413, f"request has {length:,} bytes; the limit is "
                                   f"{limits.max_bytes:,} for an image")
        if kind == "application/json":
            try:
                return SearchQuery.model_validate_json(await request.body()), None
            except ValidationError as exc:
                raise HTTPException(422, json.loads(exc.json(include_url=False))) from None
        if kind != "multipart/form-data":
            raise UploadError(415, f"content type {kind or 'none'!r}; send application/json, "
                                   "or multipart/form-data with an image")
        form = await request.form(max_files=1, max_fields=50)
        upload = form.get("image")
        image = None
        if upload is not None and hasattr(upload, "read"):
            data = await upload.read(limits.max_bytes + 1)
            image = await run_in_threadpool(decode_image, data, limits,
                                            f"uploaded image {upload.filename or ''}".strip())
        fields: dict[str, Any] = {}
        texts = [t for t in form.getlist("text") if isinstance(t, str) and t.strip()]
        if texts:
            fields["text"] = texts
        for name in ("k", "collection", "item", "item_collection"):
            if isinstance(form.get(name), str) and form.get(name):
                fields[name] = form.get(name)
        for name in ("weights", "filter"):
            if isinstance(form.get(name), str) and form.get(name):
                try:
                    fields[name] = json.loads(form.get(name))
                except ValueError:
                    raise HTTPException(400, f"form field {name} is not JSON") from None
        try:
            return SearchQuery.model_validate(fields), image
        except ValidationError as exc:
            raise HTTPException(422, json.loads(exc.json(include_url=False))) from None

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.post("/search", openapi_extra=_query_form(),
              summary="Search by text, image, vector or item, or a weighted mix")
    async def search(request: Request) -> dict[str, Any]:
        start = time.perf_counter()
        q, image = await read_query(request)
        job = await make_job(q, image)
        hits = await batcher(job)
        return {"collection": job.collection, "took_ms": 1e3 * (time.perf_counter() - start),
                "results": [hit_json(h, job.collection) for h in hits]}

    def item_row(key: int, coll: str | None) -> tuple[Any, dict[str, Any]]:
        target = collection(coll)
        row = target.rows([key])[0]
        if row is None:
            raise HTTPException(404, f"no item {key} in collection {target.name!r}")
        return target, row

    @app.get("/items/{key}", summary="An item's metadata")
    def item(key: int, collection: str | None = None) -> dict[str, Any]:
        target, row = item_row(key, collection)
        return {**row, "collection": target.name,
                "thumbnail": f"/items/{key}/thumbnail?collection={target.name}"}

    @lru_cache(maxsize=thumbnail_cache)
    def thumbnail_bytes(file: str, mtime_ns: int, size: int) -> bytes:
        return make_thumbnail(Path(file), size)

    @app.get("/items/{key}/thumbnail", summary="A JPEG thumbnail of an item's image",
             response_class=Response)
    def thumbnail(key: int, collection: str | None = None,
                  size: int = Query(192, ge=16, le=512)) -> Response:
        _, row = item_row(key, collection)
        file = checked_file(retriever, row)
        data = thumbnail_bytes(str(file), file.stat().st_mtime_ns, size)
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/health", summary="Status, collections and sizes")
    def health() -> dict[str, Any]:
        sizes = batcher.batches
        return {"status": "ok", "pipeline": retriever.index.fingerprint,
                "batches": {"recent": len(sizes),
                            "mean_size": float(np.mean(sizes)) if sizes else None},
                "collections": {name: {"items": len(retriever.index.collection(name)),
                                       "view": retriever.index.collection(name).view}
                                for name in collections}}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text())

    return app


def warm_up(retriever: Retriever) -> None:
    """Load the query encoders now (the first request would otherwise wait seconds)."""
    views = retriever.pipeline.view_names
    if "text" in views:
        retriever.embed("text", ["warm up"])
    if "image" in views:
        retriever.embed("image", [np.full((64, 64, 3), 255, np.uint8)])


def add_offline_docs(app: FastAPI) -> None:
    """Serve the API's Swagger UI at /docs from the installed swagger-ui-bundle, so that the
    docs work without internet (FastAPI's default loads them from a CDN)."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="jointspace search API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png")


def checked_file(retriever: Retriever, row: dict[str, Any]) -> Path:
    """The image file of a stored row, resolved (symlinks followed) and checked to lie under
    the index's image folder. Raises HTTP 404 otherwise."""
    root = retriever.root
    path = row.get("path")
    if root is None or not path:
        raise HTTPException(404, "this item has no image file")
    file = (root / path).resolve()
    if not file.is_relative_to(root.resolve()) or not file.is_file():
        raise HTTPException(404, f"the image of item {row.get('key')} is not available")
    return file


def make_thumbnail(file: Path, size: int) -> bytes:
    """A JPEG of ``file`` fitted into ``size`` × ``size`` (transparent pixels on white)."""
    import io

    from jointspace.data.image_files import open_image
    from jointspace.encoders.image import to_rgb

    try:
        img = open_image(file)
    except ValueError:
        raise HTTPException(404, "the item's image is too large to show") from None
    with img:
        img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
        rgb = to_rgb(img)
    rgb.thumbnail((size, size))
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
