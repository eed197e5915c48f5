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
):
    """Serve an index: the search page at http://HOST:PORT/, the API at /search, /items,
    /health, and its documentation at /docs."""
    import os

    # idle OpenMP workers (FAISS, torch) sleep instead of spinning: the server's other
    # threads get the cores (measured by benchmarks/bench_serve.py); set before they start
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    from jointspace.retrieval import Retriever
    from jointspace.serve import UploadLimits, create_app

    limits = UploadLimits(max_bytes=int(max_upload_mb * 1e6),
                          max_pixels=int(max_megapixels * 1e6))
    if max_batch < 1:
        raise ValueError(f"--max-batch is {max_batch}; expected at least 1")
    application = create_app(Retriever.load(index, pipeline), limits, max_batch=max_batch)
    console.print(f"serving {index} at http://{host}:{port}/  (API docs: /docs; "
                  "Ctrl+C stops)", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning")
