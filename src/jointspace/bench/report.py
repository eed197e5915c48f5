"""A Markdown benchmark report with PNG plots (``jointspace bench ... --report DIR``).

``write_report`` fills a folder with ``report.md`` (metrics table, plots with captions),
``recall_at_k.png``, ``training_curves.png`` (when a method has a history),
``joint_space_pca.png``, ``joint_space_tsne.png`` and ``joint_space_umap.png`` (maps of the
joint space, one panel per method; ``maps`` chooses which) and ``correlation_spectrum.png``
(when a CCA-family method is present).

Plots are drawn on :class:`matplotlib.figure.Figure` objects (Agg canvas), never through pyplot:
neither importing nor calling this module needs a display, keeps global figures or changes the
caller's backend. Every file goes to a temporary name in the same folder and is moved into place
with :func:`os.replace`; ``report.md`` is written last.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.atomic import atomic_write
from jointspace.bench.plots import (
    MAP_METHODS,
    check_maps,
    history,
    plot_map,
    plot_recall,
    plot_spectrum,
    plot_training,
    save,
)
from jointspace.metrics.relevance import RELEVANCE

__all__ = ["MethodRun", "recall_curve", "write_report"]

_METRICS = ("cosine", "dot", "euclidean")
_CAPTIONS = {  # file: (section title, caption)
    "recall_at_k.png": (
        "Recall at K",
        "Share of queries (%) with a positive ({positive}) among the top K "
        "results, K = 1..{max_k}, in each direction.",
    ),
    "training_curves.png": (
        "Training curves",
        "Training loss per epoch of each trained method, "
        "with the validation score (dashed, right axis) where recorded.",
    ),
    "correlation_spectrum.png": (
        "Correlation spectrum",
        "Test-set correlation between the two "
        "views along each joint-space component, CCA-family methods.",
    ),
}
_MAP_NOTES = {
    "pca": "PCA is linear: the two directions of largest variance, to scale, the rest of the "
    "space flattened onto them",
    "tsne": "t-SNE keeps neighbourhoods; distances between clusters and their sizes mean little",
    "umap": "UMAP keeps neighbourhoods and somewhat more of the layout of clusters than t-SNE; "
    "distances are still not to scale",
}
for _m, _name in MAP_METHODS.items():
    _CAPTIONS[f"joint_space_{_m}.png"] = (
        f"Joint space: {_name}",
        f"{_name} map of both views embedded together, one panel per method: {{n_rows}} "
        "paired test rows ({map_space}); circles: {a}, crosses: {b}; colour: {colour}; grey "
        f"lines join up to 30 true pairs. {_MAP_NOTES[_m]}.",
    )
_COLUMNS = {"R@1": "{:.1f}", "R@5": "{:.1f}", "R@10": "{:.1f}", "MedR": "{:.6g}", "mAP": "{:.3f}"}


@dataclass
class MethodRun:
    """One fitted method's test-set results.

    ``metrics`` is the dict of :func:`jointspace.bench.harness.evaluate`; ``embeddings`` are the
    test embeddings of view a and view b, each (n, k), rows paired; ``history`` holds per-epoch
    rows such as ``{"epoch": 1, "loss": 0.9, "val_score": 0.4}``; ``correlation_model`` marks
    CCA-family models, whose per-component correlations are drawn as a spectrum.
    """

    name: str
    metrics: dict[str, Any]
    embeddings: tuple[np.ndarray, np.ndarray]
    fit_seconds: float
    history: list[dict[str, float]] | None = None
    correlation_model: bool = False


def _int(value: Any, name: str, low: int) -> int:
    """``value`` as an int >= ``low``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}={value!r}; expected an integer >= {low}")
    return int(value)


def _pair(za: Any, zb: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Validate paired embeddings (n, k), n >= 2, and return them as finite float64 arrays."""
    out = []
    for z, name in zip((za, zb), names):
        arr = np.asarray(z)
        if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1 or arr.dtype.kind not in "biuf":
            raise ValueError(
                f"{name} has shape {arr.shape} and dtype {arr.dtype}; "
                "expected a real 2-D array (n, k) with n >= 2"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf; expected finite values")
        out.append(arr.astype(np.float64, copy=False))
    if out[0].shape != out[1].shape:
        raise ValueError(
            f"{names[0]} has shape {out[0].shape}, {names[1]} has {out[1].shape}; "
            "expected the same (n, k): rows paired, one joint space"
        )
    return out[0], out[1]


def _ids(x: Any, name: str, n: int) -> np.ndarray | None:
    """``x`` as a 1-D array of length n (None stays None)."""
    if x is None:
        return None
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} has shape {arr.shape}; expected ({n},), one per test row")
    return arr


def recall_curve(
    za: Any,
    zb: Any,
    groups: Any = None,
    max_k: int = 100,
    *,
    metric: str = "cosine",
    chunk_size: int = 1024,
) -> np.ndarray:
    """R@K in percent for K = 1..max_k, queries ``za`` (n, k) against gallery ``zb`` (n, k).

    A query's positives are the rows of ``zb`` with its id in ``groups`` (n,) (None: row i pairs
    with row i only). Ranks come from :func:`jointspace.metrics.first_positive_ranks` (same
    similarity ``metric``, tie rule and chunking as the metrics table), so ``curve[K - 1]``
    equals the table's ``R@K``. Returns a float array of shape (max_k,).
    """
    from jointspace.metrics import first_positive_ranks

    q, g = _pair(za, zb, ("za", "zb"))
    n = q.shape[0]
    max_k = _int(max_k, "max_k", 1)
    ids = _ids(groups, "groups", n)
    first = first_positive_ranks(
        q, g, query_groups=ids, gallery_groups=ids, metric=metric, chunk_size=chunk_size
    )
    counts = np.bincount(np.minimum(first, max_k + 1), minlength=max_k + 2)
    return 100.0 * (np.cumsum(counts)[1 : max_k + 1] / n)


def _cell(v: Any, fmt: str) -> str:
    """A number formatted with ``fmt``; "–" for anything else (missing, bool)."""
    return fmt.format(v) if isinstance(v, int | float) and not isinstance(v, bool) else "–"


def _table(runs: Sequence[MethodRun], directions: tuple[str, str]) -> list[str]:
    """Markdown table lines: method, fit seconds, per direction R@1/5/10, MedR, mAP."""
    probe = any("probe_acc" in r.metrics for r in runs)
    head = ["method", "fit (s)", *(f"{d} {c}" for d in directions for c in _COLUMNS)]
    head += ["probe acc"] * probe
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for run in runs:
        ret = run.metrics.get("retrieval") or {}
        row = [run.name.replace("|", "\\|"), _cell(run.fit_seconds, "{:.2f}")]
        row += [
            _cell((ret.get(d) or {}).get(c), f) for d in directions for c, f in _COLUMNS.items()
        ]
        row += [_cell(run.metrics.get("probe_acc"), "{:.3f}")] * probe
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _instance_section(runs: Sequence[MethodRun], directions: tuple[str, str]) -> list[str]:
    """For caption sets (metrics with ``instance_ceiling``): Markdown lines of the instance
    protocol's R@1/5/10 and MedR per method, then the ceiling row; [] otherwise."""
    found = [r.metrics["instance_ceiling"] for r in runs if "instance_ceiling" in r.metrics]
    if not found or not isinstance(found[0], dict):
        return []
    cols = {c: f for c, f in _COLUMNS.items() if c != "mAP"}
    head = ["method", *(f"{d} {c}" for d in directions for c in cols)]
    lines = [
        "### Instance relevance",
        "",
        "Positives: the true item only. Ceiling: the best any model can reach when identical "
        "captions are indistinguishable (ties counted against the query).",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    rows = [  # under instance relevance "retrieval" is already the instance protocol
        (
            r.name.replace("|", "\\|"),
            r.metrics.get("retrieval_instance", r.metrics.get("retrieval")),
        )
        for r in runs
    ]
    for name, scores in [*rows, ("ceiling", found[0])]:
        scores = scores if isinstance(scores, dict) else {}
        cells = [
            _cell((scores.get(d) or {}).get(c), f) for d in directions for c, f in cols.items()
        ]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return [*lines, ""]


def write_report(
    out_dir: str | Path,
    runs: Sequence[MethodRun],
    *,
    dataset: str,
    view_names: tuple[str, str],
    labels: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    command: str | None = None,
    max_map_points: int = 1000,
    random_state: int = 0,
    metric: str = "cosine",
    relevance: str | None = None,
    maps: Sequence[str] | str = tuple(MAP_METHODS),
) -> Path:
    """Write ``report.md`` and its PNG plots into ``out_dir`` (created if missing).

    Args:
        runs: the methods; each has test embeddings (n, k_i) of both views, rows paired, with
            the same n (the same test rows) for every run.
        dataset, view_names: the title; ``view_names`` (a, b) also name the retrieval
            directions ``"a→b"`` and ``"b→a"`` read from each ``metrics["retrieval"]``.
        labels: (n,) test labels colouring the maps (None: colour by view).
        groups: (n,) relevance ids of the test rows under the protocol of the metrics (None:
            row i pairs with row i only), e.g. ``metrics.evaluation.relevance_ids``.
        command: the command line that produced the runs, shown in a code block.
        max_map_points: rows per view in the maps (a seeded subsample of paired rows, the
            same in every map; each projection fits twice as many points).
        random_state: seed of the subsample and of t-SNE and UMAP.
        metric: similarity of the R@K curves, as used for ``metrics`` (evaluate: cosine).
        relevance: the protocol ``groups`` stand for (a key of
            :data:`jointspace.metrics.RELEVANCE`), named in the text (None: not named).
        maps: the maps of the joint space drawn for every method, names among
            :data:`jointspace.bench.plots.MAP_METHODS` ("pca", "tsne", "umap"), or one
            comma-separated string; empty: none. UMAP's first map in a process waits
            15-20 s for numba to compile.
    Returns:
        The path of ``report.md``.
    Raises:
        ValueError: naming the bad argument: no runs, duplicate names, bad embeddings, history
            or metrics, labels/groups not of shape (n,), bad view_names, max_map_points or
            maps.
    """
    if isinstance(runs, MethodRun) or not isinstance(runs, Sequence) or not runs:
        raise ValueError(f"runs={runs!r}; expected a non-empty sequence of MethodRun")
    if not (
        isinstance(view_names, tuple | list)
        and len(view_names) == 2
        and all(isinstance(v, str) and v for v in view_names)
        and view_names[0] != view_names[1]
    ):
        raise ValueError(f"view_names={view_names!r}; expected two different strings")
    max_map_points = _int(max_map_points, "max_map_points", 2)
    maps = check_maps(maps)
    if relevance is not None and relevance not in RELEVANCE:
        raise ValueError(f"relevance={relevance!r}; expected None or one of {list(RELEVANCE)}")
    if metric not in _METRICS:
        raise ValueError(f"metric={metric!r}; expected one of {_METRICS}")
    embeddings = []
    for i, run in enumerate(runs):
        if not isinstance(run, MethodRun):
            raise ValueError(f"runs[{i}] is a {type(run).__name__}; expected a MethodRun")
        if not isinstance(run.name, str) or not run.name:
            raise ValueError(f"runs[{i}].name={run.name!r}; expected a non-empty string")
        if not isinstance(run.metrics, dict):
            raise ValueError(f"runs[{i}].metrics ({run.name!r}) is not a dict")
        emb = run.embeddings
        if not isinstance(emb, tuple | list) or len(emb) != 2:
            raise ValueError(f"runs[{i}].embeddings ({run.name!r}) is not a pair (za, zb)")
        names = (f"runs[{i}].embeddings[0] ({run.name!r})", f"runs[{i}].embeddings[1]")
        embeddings.append(_pair(emb[0], emb[1], names))
        if len(embeddings[i][0]) != len(embeddings[0][0]):
            raise ValueError(
                f"runs[{i}].embeddings ({run.name!r}) has {len(embeddings[i][0])} rows, "
                f"runs[0].embeddings has {len(embeddings[0][0])}; expected the same test rows"
            )
        history(run, i)
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"runs have duplicate names {names}; expected one name per method")
    n = len(embeddings[0][0])
    labels, groups = _ids(labels, "labels", n), _ids(groups, "groups", n)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a, b = view_names
    directions = (f"{a}→{b}", f"{b}→{a}")
    colors = {name: f"C{j % 10}" for j, name in enumerate(names)}
    max_k = min(100, n)
    curves = {
        r.name: [recall_curve(x, y, groups, max_k, metric=metric) for x, y in ((za, zb), (zb, za))]
        for r, (za, zb) in zip(runs, embeddings)
    }
    plots = {"recall_at_k.png": plot_recall(curves, directions, colors)}
    trained = [(i, r) for i, r in enumerate(runs) if r.history]
    if trained:
        plots["training_curves.png"] = plot_training(trained, colors)
    for method in maps:
        plots[f"joint_space_{method}.png"] = plot_map(
            runs, embeddings, labels, view_names, metric, max_map_points, random_state, method
        )
    cca = [j for j, r in enumerate(runs) if r.correlation_model]
    if cca:
        fits = ([runs[j] for j in cca], [embeddings[j] for j in cca])
        plots["correlation_spectrum.png"] = plot_spectrum(*fits, colors)
    for file, fig in plots.items():
        save(fig, out / file)

    lines = [f"# Benchmark report: {dataset}", ""]
    if command:
        fence = "`" * max(3, 1 + max(map(len, re.findall("`+", command)), default=0))
        lines += ["Command:", "", fence, command, fence, ""]
    positive = "the true match" if relevance is None else f"{relevance}: {RELEVANCE[relevance]}"
    note = f"R@K in %, MedR: median rank of the first positive, mAP in 0-1; {metric} similarity"
    if relevance is not None:
        note = f"Relevance: {relevance} ({RELEVANCE[relevance]}). {note}"
    lines += [
        "## Metrics",
        "",
        f"Test set: {n} paired rows ({a}, {b}). {note}, ties counted against the query.",
        "",
        *_table(runs, directions),
        "",
        *_instance_section(runs, directions),
    ]
    fill = {"a": a, "b": b, "max_k": max_k, "n_rows": min(n, max_map_points)}
    fill["map_space"] = "each vector scaled to unit length" if metric == "cosine" else metric
    fill["positive"] = positive
    fill["colour"] = "label" if labels is not None else "view"
    for file in plots:
        title, caption = _CAPTIONS[file]
        lines += [f"## {title}", "", f"![{title}]({file})", "", caption.format(**fill), ""]
    report = out / "report.md"
    atomic_write(report, lambda fh: fh.write("\n".join(lines).encode("utf-8")))
    return report
