"""The HTTP API of an index served by replicas on Ray Serve.

Each replica opens the index read-only (``Retriever.load``: from its read snapshots) and runs
the same FastAPI app as ``jointspace serve`` (:func:`jointspace.serve.create_app`: the page,
/search, /items, thumbnails, /health, /docs), its lifespan included; Serve's HTTP proxy spreads
the requests over the replicas. Every response names the replica that answered in the
``x-jointspace-replica`` header.

    import ray
    from jointspace.scale.ray_serve import deploy

    ray.init()                                  # or ray.init(address="auto") on a cluster
    served = deploy("runs/index", replicas=2, port=8000)
    print(served.url)                           # http://127.0.0.1:8000/
    ...
    served.shutdown()

The index path must exist on every node a replica may run on (a shared file system, or the
same copy at the same path). Ray is imported only when these functions run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jointspace.serve.uploads import UploadLimits

APP_NAME = "jointspace"
DEPLOYMENT_NAME = "search"
REPLICA_HEADER = "x-jointspace-replica"


class SearchReplica:
    """One replica: the index opened read-only, then the app of ``jointspace serve`` built on
    it (Serve calls ``__serve_build_asgi_app__`` after the constructor and runs the app's
    lifespan in the replica's event loop)."""

    def __init__(self, index: str, pipeline: str | None = None,
                 limits: UploadLimits | None = None, max_batch: int = 32) -> None:
        # idle OpenMP workers sleep instead of spinning (as in `jointspace serve`); the
        # replica is a fresh process, so this is set before FAISS or torch start them
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from ray import serve

        from jointspace.retrieval import Retriever

        self.replica = serve.get_replica_context().replica_id.unique_id
        self.retriever = Retriever.load(index, pipeline)
        self.limits, self.max_batch = limits, max_batch

    def __serve_build_asgi_app__(self) -> Any:
        """The FastAPI app of ``jointspace serve``, each response stamped with this replica."""
        from jointspace.serve import create_app

        app = create_app(self.retriever, self.limits, max_batch=self.max_batch)
        app.add_middleware(ReplicaHeader, replica=self.replica)
        return app


class ReplicaHeader:
    """ASGI middleware: adds ``x-jointspace-replica: <id>`` to every HTTP response."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app, self.replica = app, replica.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (REPLICA_HEADER.encode(), self.replica)]
            await send(message)

        await self.app(scope, receive, stamped)


def check_index(index: str | os.PathLike) -> Path:
    """``index`` as an absolute path, checked to be an index folder (before Ray starts)."""
    path = Path(index).expanduser().resolve()
    if not (path / "index.json").is_file():
        raise ValueError(f"index {str(index)!r} is not an index folder (no index.json); "
                         "expected a folder made by `jointspace index build`")
    return path


def search_application(index: str | os.PathLike, pipeline: str | os.PathLike | None = None,
                       *, replicas: int = 1, replica_cpus: float = 1.0,
                       limits: UploadLimits | None = None, max_batch: int = 32) -> Any:
    """The Serve application (``Deployment.bind()``) of ``replicas`` :class:`SearchReplica`.

    Args:
        index: an index folder (made absolute: replicas do not share the caller's working
            directory).
        pipeline: embed queries with this pipeline instead of the index's copy.
        replicas: number of replicas.
        replica_cpus: CPUs Ray reserves for each replica (fractions allowed).
        limits, max_batch: as for :func:`jointspace.serve.create_app`; a replica takes up to
            ``max(16, 2 * max_batch)`` requests at once, so that its micro-batcher sees them.
    Raises:
        ValueError: no index at ``index``, or ``replicas`` / ``replica_cpus`` out of range.
    """
    from ray import serve

    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas is {replicas!r}; expected an integer of at least 1")
    if not replica_cpus > 0:
        raise ValueError(f"replica_cpus is {replica_cpus!r}; expected a number above 0")
    path = check_index(index)
    if pipeline is not None:
        pipeline = str(Path(pipeline).expanduser().resolve())
    replica = serve.deployment(
        serve.ingress()(SearchReplica), name=DEPLOYMENT_NAME, num_replicas=replicas,
        max_ongoing_requests=max(16, 2 * max_batch),
        ray_actor_options={"num_cpus": replica_cpus})
    return replica.bind(str(path), pipeline, limits, max_batch)


@dataclass
class ServedIndex:
    """An index deployed on Ray Serve by :func:`deploy`.

    Attributes:
        url: where Serve's HTTP proxy answers (``http://host:port/``).
        name: the Serve application's name.
        started_serve: whether :func:`deploy` started Serve on the cluster (then
            :meth:`shutdown` stops it too; otherwise it deletes only this application).
    """

    url: str
    name: str
    started_serve: bool

    def shutdown(self) -> None:
        """Remove the deployment (and Serve itself if :func:`deploy` started it)."""
        from ray import serve

        if self.started_serve:
            serve.shutdown()
        else:
            serve.delete(self.name)


def deploy(index: str | os.PathLike, pipeline: str | os.PathLike | None = None, *,
           replicas: int = 1, host: str = "127.0.0.1", port: int = 8000,
           replica_cpus: float = 1.0, limits: UploadLimits | None = None,
           max_batch: int = 32, name: str = APP_NAME,
           log_level: str = "WARNING") -> ServedIndex:
    """Serve ``index`` on the connected Ray cluster (``ray.init`` first) with ``replicas``
    replicas behind Serve's HTTP proxy on ``host:port``; returns when every replica is
    running. Serve's HTTP address is set when Serve starts: if it already runs on the
    cluster, it keeps its address (the returned ``url`` is the one it answers on).
    ``log_level`` is Serve's (replicas, proxy, controller; WARNING: no access log, as
    ``jointspace serve`` runs uvicorn).

    Raises:
        ValueError: as :func:`search_application`; a port out of range.
    """
    from ray import serve
    from ray.serve.context import _get_global_client

    if not 0 < port < 65536:
        raise ValueError(f"port is {port}; expected 1 to 65535")
    application = search_application(index, pipeline, replicas=replicas,
                                      replica_cpus=replica_cpus, limits=limits,
                                      max_batch=max_batch)
    running = _get_global_client(raise_if_no_controller_running=False) is not None
    logging = {"log_level": log_level}
    serve.start(http_options={"host": host, "port": port}, logging_config=logging)
    http = _get_global_client().http_config
    serve.run(application, name=name, route_prefix="/", logging_config=logging)
    shown = "127.0.0.1" if http.host in ("0.0.0.0", "::") else http.host
    return ServedIndex(f"http://{shown}:{http.port}/", name, started_serve=not running)
