"""The HTTP API deployed as replicas on Ray Serve, on a local Ray cluster
(``ray.init(num_cpus=2)`` on this machine, Serve's proxy on 127.0.0.1): `jointspace serve
--ray ADDRESS --replicas 2` runs as its own process, and real HTTP requests get what the
in-process app answers, from both replicas; Ctrl+C removes the deployment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from jointspace.retrieval import Retriever
from jointspace.serve import create_app

ray = pytest.importorskip("ray")
pytest.importorskip("grpc")  # Ray Serve's own dependencies: ray[serve]
# Ray Serve's pydantic models use the deprecated Field(update_type=...)
pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
EXE = str(Path(sys.executable).with_name("jointspace"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local(photo_index):
    """The same index served in this process (FastAPI's TestClient): the reference."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(Retriever.load(photo_index[0]))) as client:
        yield client


@pytest.mark.parametrize("args, message", [
    (["--replicas", "2"], "--replicas is given without --ray"),
    (["--replica-cpus", "0.5"], "--replica-cpus is given without --ray"),
    (["--ray", "auto", "--replicas", "0"], "--replicas is 0; expected at least 1"),
    (["--ray", "auto", "--replica-cpus", "0"], "--replica-cpus is 0.0; expected a number"),
    (["--ray", "local"], "is not an index folder (no index.json)"),
])
def test_ray_options_are_checked_before_any_work(tmp_path, args, message):
    """Each is an error line and exit status 2, given before Ray is started or reached."""
    from typer.testing import CliRunner

    from jointspace.cli import app

    before = ray.is_initialized()  # False when run first, as in this file's order
    result = CliRunner().invoke(app, ["serve", str(tmp_path), *args])
    assert ray.is_initialized() == before
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


class Deployed:
    """`jointspace serve INDEX --ray ADDRESS --replicas 2` running in its own process."""

    def __init__(self, index: Path, address: str, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [EXE, "serve", str(index), "--ray", address, "--replicas", "2",
                 "--replica-cpus", "0.5", "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 180
        while "serving" not in log.read_text():  # printed once every replica runs
            assert self.proc.poll() is None, f"the server exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"no server: {log.read_text()}"
            time.sleep(0.5)

    def stop(self) -> int:
        """Ctrl+C; the exit status."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def served(cluster, photo_index, tmp_path_factory):
    server = Deployed(photo_index[0], cluster, tmp_path_factory.mktemp("log") / "serve.log")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()


@pytest.mark.slow  # a Ray cluster and a Serve deployment (~1 min with its fixtures)
def test_page_health_items_thumbnails_and_docs(served):
    health = httpx.get(f"{served.url}/health").json()
    assert health["status"] == "ok"
    assert health["collections"]["images"]["items"] == 24
    assert health["collections"]["captions"] == {"items": 48, "view": "text"}
    assert 'id="query"' in httpx.get(f"{served.url}/").text
    assert "/docs-assets/swagger-ui-bundle.js" in httpx.get(f"{served.url}/docs").text
    item = httpx.get(f"{served.url}/items/3").json()
    assert item["key"] == 3 and item["sha256"]
    thumb = httpx.get(f"{served.url}{item['thumbnail']}&size=64")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert httpx.get(f"{served.url}/items/999999").status_code == 404
    line = next(x for x in served.log.read_text().splitlines() if "serving" in x)
    assert "2 replicas" in line and f"http://127.0.0.1:{served.port}/" in line


def results(response: httpx.Response) -> list[tuple[int, str, float]]:
    assert response.status_code == 200, response.text
    return [(r["key"], r["id"], r["score"]) for r in response.json()["results"]]


def same_results(got: list, want: list) -> None:
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert [g[2] for g in got] == pytest.approx([w[2] for w in want], abs=1e-5)


@pytest.mark.slow  # a Ray cluster and a Serve deployment (~1 min with its fixtures)
@pytest.mark.parametrize("query", [
    {"text": "a ginger cat lying down", "k": 5},
    {"text": ["a rocket on the launch pad", "-galaxies in deep space"], "k": 8},
    {"text": "a pink flower", "k": 4, "collection": "captions"},
    {"text": "a cup of coffee", "k": 3, "filter": {"label": ["coffee", "china"]}},
])
def test_text_search_answers_what_the_in_process_app_answers(served, local, query):
    same_results(results(httpx.post(f"{served.url}/search", json=query)),
                 results(local.post("/search", json=query)))


@pytest.mark.slow  # a Ray cluster and a Serve deployment (~1 min with its fixtures)
def test_image_upload_search_and_a_bad_upload(served, local, photo_index):
    image = (photo_index[1] / "rocket" / "1.png").read_bytes()
    files = {"image": ("q.png", image, "image/png")}
    got = results(httpx.post(f"{served.url}/search", files=files, data={"k": "5"}))
    assert got[0][1] == "rocket/1.png" and got[0][2] == pytest.approx(1.0, abs=1e-4)
    same_results(got, results(local.post("/search", files=files, data={"k": "5"})))
    bad = httpx.post(f"{served.url}/search", data={"k": "5"},
                     files={"image": ("q.png", b"not an image", "image/png")})
    assert bad.status_code == local.post("/search", data={"k": "5"}, files={
        "image": ("q.png", b"not an image", "image/png")}).status_code
    assert bad.status_code in (400, 415, 422) and "image" in bad.json()["detail"]


@pytest.mark.slow  # a Ray cluster and a Serve deployment (~1 min with its fixtures)
def test_both_replicas_answer_and_each_batches_its_queries(served):
    from ray import serve

    status = serve.status().applications["jointspace"]
    deployment = status.deployments["search"]
    assert status.status == "RUNNING" and deployment.replica_states == {"RUNNING": 2}

    def ask(i: int) -> str:
        response = httpx.post(f"{served.url}/search", json={"text": f"photo {i % 3}", "k": 3},
                              timeout=60)
        assert response.status_code == 200
        return response.headers["x-jointspace-replica"]

    with ThreadPoolExecutor(8) as pool:
        answered = list(pool.map(ask, range(48)))
    assert len(set(answered)) == 2
    for _ in range(20):  # /health is answered by either replica: both must report batches
        health = httpx.get(f"{served.url}/health")
        assert health.json()["batches"]["recent"] >= 1


@pytest.mark.slow  # a Ray cluster and a Serve deployment (~1 min with its fixtures)
def test_ctrl_c_removes_the_deployment(served):
    assert served.stop() == 0, served.log.read_text()
    assert "stopped" in served.log.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.url}/health", timeout=5)
    # the command started Serve on this cluster, so it stopped it again: no Serve actor left
    named = ray.util.list_named_actors(all_namespaces=True)
    assert not [a for a in named if a["namespace"] == "serve"], named


@pytest.mark.slow  # a Ray cluster and a Serve deployment (~1 min with its fixtures)
def test_the_app_lifespan_runs_in_a_replica(cluster, photo_index, tmp_path):
    """The micro-batcher's task runs in the replica's event loop, and removing the
    deployment runs the app's lifespan shutdown there (which stops that task)."""
    from ray import serve

    from jointspace.scale.ray_serve import SearchReplica

    class Probe(SearchReplica):
        """A replica that reports its batcher's task and records the lifespan's end."""

        def __serve_build_asgi_app__(self):
            app = super().__serve_build_asgi_app__()
            batcher, close, replica = app.state.batcher, app.state.batcher.close, self.replica

            def closed() -> None:
                close()
                (tmp_path / f"closed-{replica}").write_text("")

            batcher.close = closed

            @app.get("/probe")
            def probe() -> dict:
                task = batcher._worker
                return {"running": task is not None and not task.done()}

            return app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        deployment = serve.deployment(serve.ingress()(Probe), num_replicas=1,
                                      ray_actor_options={"num_cpus": 0.5})
        serve.run(deployment.bind(str(photo_index[0])), name="probe", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/probe").json() == {"running": False}
        assert httpx.post(f"{url}/search", json={"text": "a cat"}).status_code == 200
        assert httpx.get(f"{url}/probe").json() == {"running": True}
        assert not list(tmp_path.glob("closed-*"))
        serve.delete("probe")
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("closed-*")):
            assert time.monotonic() < deadline, "the lifespan shutdown did not run"
            time.sleep(0.2)
    finally:
        serve.shutdown()
