"""The HTTP API against a real uvicorn server on 127.0.0.1, over an index of a real photo
folder: every endpoint, each kind of bad upload, and concurrent queries."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from jointspace.retrieval import Retriever
from jointspace.serve import UploadLimits, create_app
from jointspace.serve.batching import MicroBatcher


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def live(photo_index):
    out, root = photo_index
    app = create_app(Retriever.load(out), UploadLimits(max_bytes=2_000_000,
                                                       max_pixels=30_000_000))
    with LiveServer(app) as server:
        server.app, server.root = app, root
        yield server


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_health_items_thumbnails_and_docs(live):
    health = httpx.get(f"{live.url}/health").json()
    assert health["status"] == "ok"
    assert health["collections"]["images"]["items"] == 24
    assert health["collections"]["captions"] == {"items": 48, "view": "text"}
    hit = httpx.post(f"{live.url}/search", json={"text": "a ginger cat lying down", "k": 1})
    key = hit.json()["results"][0]["key"]
    item = httpx.get(f"{live.url}/items/{key}").json()
    assert item["id"] == hit.json()["results"][0]["id"] and item["sha256"]
    thumb = httpx.get(f"{live.url}{item['thumbnail']}&size=64")
    assert thumb.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(thumb.content))
    assert img.format == "JPEG" and max(img.size) == 64
    cap = httpx.get(f"{live.url}/items/0/thumbnail?collection=captions")
    assert cap.status_code == 200  # a caption's thumbnail is its image's
    spec = httpx.get(f"{live.url}/openapi.json").json()
    body = spec["paths"]["/search"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    docs = httpx.get(f"{live.url}/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs
    assert httpx.get(f"{live.url}/docs-assets/swagger-ui-bundle.js").status_code == 200
    page = httpx.get(f"{live.url}/").text
    assert 'id="query"' in page and 'id="drop"' in page


def test_search_by_text_image_vector_item_and_a_mix(live):
    url = f"{live.url}/search"
    file = live.root / "rocket" / "1.png"
    by_image = httpx.post(url, files={"image": ("q.png", file.read_bytes(), "image/png")},
                          data={"k": "3"}).json()
    assert by_image["results"][0]["id"] == "rocket/1.png"
    assert by_image["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    key = by_image["results"][0]["key"]
    by_item = httpx.post(url, json={"item": key, "k": 3}).json()
    assert [h["id"] for h in by_item["results"]] == [h["id"] for h in by_image["results"]]
    vector = live.app.state.retriever.index.collection().vectors_of([key])[0].tolist()
    by_vector = httpx.post(url, json={"vector": vector, "k": 3}).json()
    assert [h["id"] for h in by_vector["results"]] == [h["id"] for h in by_image["results"]]
    mixed = httpx.post(url, files={"image": ("q.png", file.read_bytes(), "image/png")},
                       data={"text": ["a cup of coffee on a saucer"], "k": "5",
                             "weights": json.dumps({"image": 0.2}),
                             "filter": json.dumps({"label": ["coffee", "rocket"]})}).json()
    assert {h["label"] for h in mixed["results"]} <= {"coffee", "rocket"}
    captions = httpx.post(url, json={"text": "galaxies in deep space", "k": 2,
                                     "collection": "captions"}).json()
    assert captions["collection"] == "captions"
    assert captions["results"][0]["caption"] == "galaxies in deep space"


@pytest.mark.parametrize("case", ["not-an-image", "truncated", "50-megapixels", "too-many-bytes",
                                  "empty-file"])
def test_bad_uploads_get_clear_4xx(live, case):
    good = png_bytes(np.asarray(Image.open(live.root / "flower" / "0.png")))
    if case == "not-an-image":
        payload, status, words = b"hello, this is text\n" * 50, 415, "not an image"
    elif case == "truncated":
        payload, status, words = good[: len(good) // 2], 400, "could not be decoded"
    elif case == "50-megapixels":
        buffer = io.BytesIO()
        Image.new("L", (8000, 6250)).save(buffer, format="PNG")
        payload, status, words = buffer.getvalue(), 413, "50,000,000 pixels"
    elif case == "too-many-bytes":
        noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
        payload, status, words = png_bytes(noise), 413, "limit is 2,000,000"
    else:
        payload, status, words = b"", 400, "empty"
    response = httpx.post(f"{live.url}/search", data={"k": "3"},
                          files={"image": ("photo.png", payload, "image/png")})
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


@pytest.mark.parametrize("request_args, status, words", [
    ({"content": b"cat", "headers": {"content-type": "text/plain"}}, 415, "content type"),
    ({"json": {"k": 3}}, 400, "empty query"),
    ({"json": {"text": "   "}}, 400, "empty"),
    ({"json": {"text": "cat", "k": 0}}, 422, "greater than or equal to 1"),
    ({"json": {"text": "cat", "collection": "audio"}}, 404, "no collection 'audio'"),
    ({"json": {"text": "cat", "filter": {"colour": "red"}}}, 400, "filter column 'colour'"),
    ({"json": {"vector": [1.0, 2.0]}}, 400, "expected (8,)"),
    ({"json": {"item": 99999}}, 404, "no item 99999"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "json"),
])
def test_bad_queries_get_clear_4xx(live, request_args, status, words):
    response = httpx.post(f"{live.url}/search", **request_args)
    assert response.status_code == status, response.text
    assert words.lower() in json.dumps(response.json()).lower()


@pytest.mark.parametrize("path", ["/items/..%2F..%2Fetc%2Fpasswd", "/items/../../etc/passwd",
                                  "/items/%2Fetc%2Fpasswd/thumbnail", "/items/-1/thumbnail",
                                  "/items/3/thumbnail?collection=..%2Fimages"])
def test_a_path_in_an_id_never_reaches_the_file_system(live, path):
    response = httpx.get(f"{live.url}{path}")
    assert response.status_code in (404, 422)
    assert b"root:" not in response.content


def test_concurrent_queries_get_the_same_answers_as_single_ones(live):
    queries = [f"photo {i % 3} of " + c for i, c in enumerate(
        ["a ginger cat lying down", "a rocket on the launch pad", "galaxies in deep space",
         "a pink flower in close up"] * 4)]
    alone = [httpx.post(f"{live.url}/search", json={"text": q, "k": 5}).json()["results"]
             for q in queries]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: httpx.post(
            f"{live.url}/search", json={"text": q, "k": 5}).json()["results"], queries))
    assert [[h["key"] for h in r] for r in together] == [[h["key"] for h in r] for r in alone]


def test_the_micro_batcher_groups_concurrent_calls_and_keeps_their_order():
    def slow_double(items):
        time.sleep(0.05)
        return [2 * i for i in items]

    batcher = MicroBatcher(slow_double, max_batch=4)

    async def main():
        return await asyncio.gather(*(batcher(i) for i in range(10)))

    assert asyncio.run(main()) == [2 * i for i in range(10)]
    assert sum(batcher.batches) == 10 and max(batcher.batches) == 4
    assert len(batcher.batches) < 10  # calls were grouped

    picky = MicroBatcher(lambda items: [ValueError(i) if i % 2 else i for i in items])

    async def some_fail():
        return await asyncio.gather(*(picky(i) for i in range(4)), return_exceptions=True)

    answers = asyncio.run(some_fail())  # an exception as a result reaches its caller only
    assert answers[0] == 0 and answers[2] == 2
    assert isinstance(answers[1], ValueError) and isinstance(answers[3], ValueError)

    failing = MicroBatcher(lambda items: 1 / 0)

    async def fails():
        return await asyncio.gather(failing(1), failing(2), return_exceptions=True)

    assert all(isinstance(r, ZeroDivisionError) for r in asyncio.run(fails()))


def test_the_serve_command_starts_a_server(photo_index):
    import subprocess
    import sys
    from pathlib import Path

    out, _ = photo_index
    port = free_port()
    exe = str(Path(sys.executable).with_name("jointspace"))
    proc = subprocess.Popen([exe, "serve", str(out), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert health["collections"]["images"]["items"] == 24
    finally:
        proc.terminate()
        proc.wait(10)
