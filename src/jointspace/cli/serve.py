"""`jointspace serve`: the HTTP API and the search page of an index."""

from __future__ import annotations

import typer

from jointspace.cli.common import app, console, user_errors


@app.command()
@user_errors
def serve(
    index: str = typer.Argument(..., help="An index folder (from `jointspace index build`)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: all)."),
    port: int = typer.Option(8000, help="Port."),
    max_upload_mb: float = typer.Option(10.0, help="Largest uploaded query image, in MB."),
    max_megapixels: float = typer.Option(25.0, help="Largest uploaded image, in megapixels."),
    max_batch: int = typer.Option(
        32, help="Most concurrent text queries embedded together (1: one at a time)."),
    pipeline: str = typer.Option(
        None, help="Embed queries with this pipeline (the index's own, or its export from "
        "`jointspace export`: ONNX Runtime, no torch) instead of the copy inside the index."),
    ray: str = typer.Option(
        None, help="Serve on Ray Serve instead of uvicorn, on this cluster: 'auto' (the running "
        "one), its ADDRESS, or 'local' (start one here). Needs Ray Serve: jointspace's "
        "'scale' extra."),
    replicas: int = typer.Option(
        None, help="With --ray: replicas of the server, each with the index open (default 1)."),
    replica_cpus: float = typer.Option(
        None, help="With --ray: CPUs Ray reserves for each replica (default 1)."),
):
    """Serve an index: the search page at http://HOST:PORT/, the API at /search, /items,
    /health, and its documentation at /docs. With --ray, N replicas on Ray Serve answer
    behind Serve's HTTP proxy on HOST:PORT."""
    import os

    # idle OpenMP workers (FAISS, torch) sleep instead of spinning: the server's other
    # threads get the cores (measured by benchmarks/bench_serve.py); set before they start
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from jointspace.serve import UploadLimits

    limits = UploadLimits(max_bytes=int(max_upload_mb * 1e6),
                          max_pixels=int(max_megapixels * 1e6))
    if max_batch < 1:
        raise ValueError(f"--max-batch is {max_batch}; expected at least 1")
    if ray is None:
        for option, value in (("--replicas", replicas), ("--replica-cpus", replica_cpus)):
            if value is not None:
                raise ValueError(f"{option} is given without --ray; expected --ray auto, "
                                 "--ray ADDRESS or --ray local with it")
    else:
        serve_on_ray(index, pipeline, ray, 1 if replicas is None else replicas,
                     1.0 if replica_cpus is None else replica_cpus, host, port, limits,
                     max_batch)
        return
    import uvicorn

    from jointspace.retrieval import Retriever
    from jointspace.serve import create_app

    application = create_app(Retriever.load(index, pipeline), limits, max_batch=max_batch)
    console.print(f"serving {index} at http://{host}:{port}/  (API docs: /docs; "
                  "Ctrl+C stops)", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning")


def serve_on_ray(index: str, pipeline: str | None, address: str, replicas: int,
                 replica_cpus: float, host: str, port: int, limits, max_batch: int) -> None:
    """Deploy on Ray Serve, block until Ctrl+C (or SIGTERM), then remove the deployment."""
    import logging
    import signal
    import time

    if replicas < 1:
        raise ValueError(f"--replicas is {replicas}; expected at least 1")
    if not replica_cpus > 0:
        raise ValueError(f"--replica-cpus is {replica_cpus}; expected a number above 0")
    if not address.strip():
        raise ValueError("--ray is empty; expected auto, a cluster ADDRESS or local")
    try:
        import ray
        from ray import serve  # noqa: F401  (Serve's own dependencies)
    except ImportError as exc:
        raise ValueError(f"--ray needs Ray Serve ({exc}); install jointspace's 'scale' "
                         "extra") from None
    from jointspace.scale.ray_serve import check_index, deploy

    check_index(index)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # as uvicorn: warnings only
    if not ray.is_initialized():
        ray.init(address=address, logging_level="warning", include_dashboard=False)
    try:
        served = deploy(index, pipeline, replicas=replicas, host=host, port=port,
                        replica_cpus=replica_cpus, limits=limits, max_batch=max_batch)
    except BaseException:
        ray.shutdown()
        raise
    if not served.started_serve and not served.url.endswith(f":{port}/"):
        console.print(f"note: Serve already ran on this cluster; it keeps its address "
                      f"{served.url}", highlight=False)
    console.print(f"serving {index} on Ray Serve with {replicas} "
                  f"{'replica' if replicas == 1 else 'replicas'} at {served.url}  "
                  "(API docs: /docs; Ctrl+C stops)", highlight=False)
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)  # `kill` also removes the deployment
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        served.shutdown()
        ray.shutdown()
    console.print("stopped: the deployment is removed", highlight=False)
