"""`jointspace export`: a pipeline's views as ONNX, in a new pipeline directory that runs with
ONNX Runtime alone (no torch) through `serve --pipeline`, `search` and `Pipeline.load`."""

from __future__ import annotations

import typer

from jointspace.cli.common import app, check_out_dir, console, split_names, user_errors
from jointspace.cli.data_source import DataSource, data_source_options

VIEWS = typer.Option(None, "--view", help="A view to export (repeat, or 'text,image'; "
                     "default: all).")


@app.command()
@user_errors
@data_source_options
def export(
    pipeline_dir: str = typer.Argument(..., help="Pipeline directory written by `fit`."),
    out: str = typer.Option(..., "--out", help="The export's directory (a new pipeline)."),
    view: list[str] = VIEWS,
    fmt: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    int8: bool = typer.Option(False, "--int8", help="int8 weights (smaller, faster; cosine "
                              "to the original ≥ 0.99 instead of 0.999)."),
    probes: int = typer.Option(64, help="Real items per view the export is checked on."),
    min_cosine: float = typer.Option(
        None, help="Least cosine per probe item to the original (default 0.999; int8 0.99)."),
    *,
    source: DataSource,
):
    """Export a pipeline to ONNX: its encoders (minilm, efficientnet) and the model's towers
    become ONNX files inside OUT, checked against the original on real items (those of the
    data source given, else of the data the pipeline was fitted on)."""
    from rich.table import Table

    from jointspace.pipeline import Pipeline
    from jointspace.pipeline.export import export_pipeline

    check_out_dir(out)
    pipe = Pipeline.load(pipeline_dir)
    if not source.given:
        recorded = pipe.manifest_.get("metadata", {}).get("data")
        if not recorded:
            raise ValueError(f"{pipeline_dir!r} does not record its data; name the probe items "
                             "with --dataset, --images/--captions or --table")
        source = DataSource(**recorded)
    data, test = source.load()
    views = [v for spec in view or [] for v in split_names(spec) or []] or None
    path = export_pipeline(pipe, out, test if test is not None else data, views=views,
                           int8=int8, n_probes=probes, min_cosine=min_cosine, fmt=fmt)
    record = Pipeline.load(path).manifest_["metadata"]["export"]
    table = Table(title=f"{pipeline_dir} → {path} ({fmt}, {record['precision']})")
    for column in ("view", "cosine min", "cosine mean", "probes", "encoders MB", "tower MB"):
        table.add_column(column, justify="left" if column == "view" else "right")
    for name, p in record["parity"].items():
        table.add_row(name, f"{p['cosine_min']:.5f}", f"{p['cosine_mean']:.5f}",
                      str(p["n_probes"]), f"{p['encoders_mb']:.1f}", f"{p['tower_mb']:.1f}")
    console.print(table)
