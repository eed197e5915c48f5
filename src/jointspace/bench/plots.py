"""The report's figures, each drawn on a :class:`matplotlib.figure.Figure` (Agg canvas), never
through pyplot: no display, no global figures, the caller's backend untouched.

Maps of the joint space of any model (:func:`joint_space_map`, :func:`project_joint_space`):
the rows of every view projected together to 2-D by PCA, t-SNE or UMAP, coloured by label,
one marker per view. umap-learn (and numba) are imported only when a UMAP map is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from jointspace.atomic import atomic_write

if TYPE_CHECKING:
    from jointspace.bench.report import MethodRun


def unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, k) scaled to unit L2 norm; all-zero rows stay zero (as in metrics)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def write_png(fig: Any, path: str | Path) -> None:
    """Save a Figure as PNG (120 dpi) atomically: a failed write leaves the old file."""
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120, bbox_inches="tight"))


def save(fig: Any, path: Path) -> None:
    """Save a Figure as PNG atomically, then clear it."""
    write_png(fig, path)
    fig.clear()


def history(run: MethodRun, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(epochs, loss, val_score or None), each (n_epochs,), from ``runs[i].history``."""
    rows = run.history or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"runs[{i}].history ({run.name!r}) must be a list of dicts")
    try:
        cols = [
            [np.nan if r.get(key) is None else float(r[key]) for r in rows]
            for key in ("epoch", "loss", "val_score")
        ]
    except (TypeError, ValueError) as err:
        raise ValueError(f"runs[{i}].history ({run.name!r}) holds a non-number: {err}") from None
    ep, loss, val = (np.array(c) for c in cols)
    ep = np.where(np.isnan(ep), np.arange(1, len(rows) + 1), ep)
    return ep, loss, (val if np.isfinite(val).any() else None)


def plot_recall(curves: dict[str, list[np.ndarray]], directions, colors) -> Any:
    """One panel per direction: R@K (%) against K, one line per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    for d, ax in enumerate(fig.subplots(1, 2, sharey=True)):
        for name, curve in curves.items():
            ax.plot(np.arange(1, curve[d].size + 1), curve[d], color=colors[name], label=name)
        ax.set(title=directions[d], xlabel="K", xscale="log", ylim=(0, 101))
        ax.grid(alpha=0.3, which="both")
    fig.axes[0].set_ylabel("R@K (% of queries, true match in top K)")
    fig.axes[1].legend(fontsize=8, loc="lower right")
    return fig


def plot_training(runs: list[tuple[int, MethodRun]], colors: dict[str, str]) -> Any:
    """One panel per method: training loss per epoch, val_score on a twin axis."""
    from matplotlib.figure import Figure

    ncols = min(3, len(runs))
    nrows = -(-len(runs) // ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (i, run) in zip(axes, runs):
        ep, loss, val = history(run, i)
        lines = ax.plot(ep, loss, ".-", color=colors[run.name], label="training loss")
        ax.set(title=run.name, xlabel="epoch", ylabel="training loss")
        ax.grid(alpha=0.3)
        if val is not None:
            twin = ax.twinx()
            lines += twin.plot(ep, val, "s--", ms=3, color="0.35", label="validation score")
            twin.set_ylabel("validation score")
        ax.legend(handles=lines, fontsize=8)
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    return fig


# --------------------------------------------------------------------------- joint-space maps
#: projection methods of the maps, in the report's order → display name
MAP_METHODS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
_MARKERS = "oxs^vD+*"  # one per view, in order
_N_JOINED = 30  # paired points joined by a line


class JointSpaceMap(NamedTuple):
    """What :func:`joint_space_map` drew: the figure, the 2-D coordinates ``coords`` (V, m, 2),
    ``coords[v, j]`` being view v of test row ``rows[j]``, and those rows (m,), sorted."""

    figure: Any
    coords: np.ndarray
    rows: np.ndarray


class _Style(NamedTuple):
    kwargs: dict[str, Any]  # colour keywords of ``scatter`` shared by every view
    handles: list[Any]  # legend entries: views (markers), then classes (colours)
    colorbar: str | None  # colour-bar label when labels are many (a colormap), else None


def check_maps(maps: Any) -> tuple[str, ...]:
    """``maps`` (a sequence of names, or one comma-separated string) as a tuple of names of
    :data:`MAP_METHODS` without repeats; a ValueError names a bad one."""
    items = [m.strip() for m in maps.split(",") if m.strip()] if isinstance(maps, str) else maps
    if not isinstance(items, Sequence) or not all(isinstance(m, str) for m in items):
        raise ValueError(f"maps={maps!r}; expected names among {list(MAP_METHODS)}")
    bad = [m for m in items if m not in MAP_METHODS]
    if bad:
        raise ValueError(f"map {bad[0]!r} is unknown; expected names among {list(MAP_METHODS)}")
    return tuple(dict.fromkeys(items))


def _views(embeddings: Any) -> list[np.ndarray]:
    """The per-view embeddings as float64 arrays of one shape (n, k), n >= 1, k >= 1."""
    if isinstance(embeddings, np.ndarray) or not isinstance(embeddings, Sequence):
        raise ValueError(
            f"embeddings is a {type(embeddings).__name__}; expected a list of (n, k) arrays, "
            "one per view, rows paired (e.g. model.transform(test))"
        )
    if not embeddings:
        raise ValueError("embeddings is empty; expected one (n, k) array per view")
    out = []
    for v, z in enumerate(embeddings):
        arr = np.asarray(z)
        if arr.ndim != 2 or 0 in arr.shape or arr.dtype.kind not in "biuf":
            raise ValueError(
                f"embeddings[{v}] has shape {arr.shape} and dtype {arr.dtype}; "
                "expected a real 2-D array (n, k)"
            )
        if arr.shape != np.shape(out[0] if out else arr):
            raise ValueError(
                f"embeddings[{v}] has shape {arr.shape}, embeddings[0] has {out[0].shape}; "
                "expected the same (n, k): rows paired, one joint space"
            )
        out.append(arr.astype(np.float64, copy=False))
    return out


def _project(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    """The rows of ``x`` (N, k) in 2-D, (N, 2), by ``method`` (a key of MAP_METHODS)."""
    n, k = x.shape
    if method == "pca":
        from sklearn.decomposition import PCA

        y = PCA(min(2, k, n), random_state=seed).fit_transform(x)
        return np.hstack([y, np.zeros((n, 2 - y.shape[1]))])  # k = 1 (or n = 1): axis 2 is 0
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(
            2,
            perplexity=min(30.0, (n - 1) / 3),
            init="pca" if k >= 2 else "random",
            method="exact" if n <= 500 else "barnes_hut",  # exact is faster when small
            random_state=seed,
        ).fit_transform(x)
    if n < 4:
        raise ValueError(f"a UMAP map needs at least 4 points (rows × views); got {n}")
    from umap import UMAP  # numba compiles on the first call of a process (~15-20 s)

    neighbors = min(15, n - 1)
    return UMAP(
        n_components=2,
        n_neighbors=neighbors,
        init="spectral" if n >= neighbors + 2 else "random",
        random_state=seed,  # deterministic (and single-threaded)
        n_jobs=1,
    ).fit_transform(x)


def project_joint_space(
    embeddings: Sequence[Any],
    *,
    method: str = "tsne",
    max_points: int = 2000,
    random_state: int = 0,
    metric: str = "cosine",
) -> tuple[np.ndarray, np.ndarray]:
    """Project every view's rows of a joint space together to 2-D.

    Args:
        embeddings: one (n, k) array per view, rows paired (row i of every view is sample i),
            e.g. ``model.transform(test)``. Rows with a non-finite value in any view (an
            unobserved view) are left out.
        method: "pca", "tsne" or "umap" (:data:`MAP_METHODS`).
        max_points: rows kept at most (a seeded subsample of whole rows, so every view keeps
            the same samples); the projection fits ``views × rows`` points.
        random_state: seed of the subsample and of t-SNE / UMAP (same seed, same map).
        metric: "cosine" scales each point to unit length first, the geometry cosine
            retrieval ranks by; "euclidean" (or "dot") projects the vectors as they are.
    Returns:
        ``(coords, rows)``: ``coords`` (V, m, 2), ``coords[v, j]`` the point of view v of
        sample ``rows[j]``; ``rows`` (m,) the sorted row indices kept.
    Raises:
        ValueError: naming the bad argument (shapes, method, metric, max_points, too few rows).
    """
    if method not in MAP_METHODS:
        raise ValueError(f"method={method!r}; expected one of {list(MAP_METHODS)}")
    if metric not in ("cosine", "dot", "euclidean"):
        raise ValueError(f"metric={metric!r}; expected 'cosine', 'dot' or 'euclidean'")
    if isinstance(max_points, bool) or not isinstance(max_points, int | np.integer):
        raise ValueError(f"max_points={max_points!r}; expected an integer >= 1")
    if max_points < 1:
        raise ValueError(f"max_points={max_points!r}; expected an integer >= 1")
    views = _views(embeddings)
    kept = np.flatnonzero(np.all([np.isfinite(z).all(axis=1) for z in views], axis=0))
    if kept.size * len(views) < 2:
        raise ValueError(f"{kept.size} row(s) observed in every view; a map needs 2 points")
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(kept, min(kept.size, int(max_points)), replace=False))
    x = np.vstack([z[rows] for z in views])
    x = unit(x) if metric == "cosine" else x
    y = _project(x, method, random_state)
    return np.asarray(y, dtype=np.float64).reshape(len(views), rows.size, 2), rows


def _joined(m: int, seed: int) -> np.ndarray:
    """Which of the m mapped samples get a line between their views (seeded, at most 30)."""
    return np.random.default_rng(seed).choice(m, min(_N_JOINED, m), replace=False)


def _label_style(labels: Any, rows: np.ndarray, view_names: Sequence[str]) -> _Style:
    """Colours of the mapped samples: by label (a palette and legend up to 22 classes, else a
    colormap and colour bar), or by view when there are no labels."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], ls="", marker=_MARKERS[v % len(_MARKERS)], color="0.3", label=name)
        for v, name in enumerate(view_names)
    ]
    if labels is None:
        return _Style({}, handles, None)
    lab = np.asarray(labels)[rows]
    uniq, codes = np.unique(lab, return_inverse=True)
    codes = codes.reshape(-1)
    if len(uniq) <= 22:
        cmaps = ("tab10",) if len(uniq) <= 10 else ("tab20", "tab20b")
        pal = np.vstack([colormaps[c].colors for c in cmaps])
        handles += [
            Line2D([], [], ls="", marker="s", color=pal[j], label=str(u))
            for j, u in enumerate(uniq)
        ]
        return _Style({"c": pal[codes]}, handles, None)
    numeric = lab.dtype.kind in "biuf"
    style = {"c": lab if numeric else codes, "cmap": "viridis"}
    return _Style(style, handles, "label" if numeric else "label (index among sorted labels)")


def _draw(ax: Any, coords: np.ndarray, style: _Style, joined: np.ndarray, title: str) -> Any:
    """Scatter each view's points (its own marker) on ``ax``, grey lines joining the views of
    the ``joined`` samples; returns the last scatter (for a colour bar)."""
    from matplotlib.collections import LineCollection

    if len(coords) > 1 and joined.size:
        segs = [coords[v : v + 2, j] for j in joined for v in range(len(coords) - 1)]
        ax.add_collection(LineCollection(segs, colors="0.55", linewidths=0.6, zorder=1))
    for v, part in enumerate(coords):
        kw = style.kwargs or {"color": f"C{v % 10}"}
        marker = _MARKERS[v % len(_MARKERS)]
        sc = ax.scatter(*part.T, s=12, marker=marker, alpha=0.75, lw=0.9, zorder=2, **kw)
    ax.set(title=title, xticks=[], yticks=[])
    return sc


def joint_space_map(
    embeddings: Sequence[Any],
    *,
    method: str = "tsne",
    labels: Any = None,
    view_names: Sequence[str] | None = None,
    max_points: int = 2000,
    random_state: int = 0,
    metric: str = "cosine",
    pair_lines: bool = True,
    title: str | None = None,
    ax: Any = None,
    out: str | Path | None = None,
) -> JointSpaceMap:
    """Draw a 2-D map of a joint space: every view's rows projected together
    (:func:`project_joint_space`), one marker per view (circles, crosses, squares …), colour
    by label, grey lines joining the views of 30 samples.

    ``fig, coords, rows = joint_space_map(model.transform(test), method="umap",
    labels=test.labels, view_names=test.view_names, out="map.png")``

    Args:
        embeddings, method, max_points, random_state, metric: as for
            :func:`project_joint_space`.
        labels: (n,) label of each row (None: colour by view). Up to 22 classes get a legend;
            more get a colour bar.
        view_names: the legend's names of the views (None: "view 0", "view 1", …).
        pair_lines: join the views of a seeded 30 of the mapped samples.
        title: the axes' title (None: the method's name and the number of samples).
        ax: a matplotlib Axes to draw on (None: a new Figure on the Agg canvas, no pyplot).
        out: also write the figure there as PNG (atomically).
    Returns:
        :class:`JointSpaceMap` ``(figure, coords (V, m, 2), rows (m,))``.
    """
    from matplotlib.figure import Figure

    coords, rows = project_joint_space(
        embeddings,
        method=method,
        max_points=max_points,
        random_state=random_state,
        metric=metric,
    )
    n = len(np.asarray(embeddings[0]))
    names = [f"view {v}" for v in range(len(coords))] if view_names is None else view_names
    if len(names) != len(coords) or not all(isinstance(v, str) for v in names):
        raise ValueError(f"view_names={view_names!r}; expected {len(coords)} strings")
    if labels is not None and np.shape(labels) != (n,):
        raise ValueError(f"labels has shape {np.shape(labels)}; expected ({n},), one per row")
    if ax is None:
        fig = Figure(figsize=(6.4, 5.0), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    style = _label_style(labels, rows, names)
    joined = _joined(rows.size, random_state) if pair_lines else np.empty(0, dtype=int)
    default = f"{MAP_METHODS[method]} of the joint space ({rows.size} samples, {metric})"
    sc = _draw(ax, coords, style, joined, default if title is None else title)
    if style.colorbar:
        fig.colorbar(sc, ax=ax, label=style.colorbar, shrink=0.8)
    ax.legend(
        handles=style.handles,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=7,
        frameon=False,
    )
    if out is not None:
        write_png(fig, out)
    return JointSpaceMap(fig, coords, rows)


def plot_map(runs, embeddings, labels, view_names, metric, max_points, seed, method) -> Any:
    """One ``method`` map (see :func:`project_joint_space`) per run, one panel each, all on
    the same seeded subsample of paired rows; one legend (or colour bar) for the figure."""
    from matplotlib.figure import Figure

    ncols = min(3, len(runs))
    nrows = -(-len(runs) // ncols)
    fig = Figure(figsize=(4.4 * ncols + 1.8, 4.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, run, pair in zip(axes, runs, embeddings):
        coords, rows = project_joint_space(
            pair, method=method, max_points=max_points, random_state=seed, metric=metric
        )
        style = _label_style(labels, rows, view_names)
        sc = _draw(ax, coords, style, _joined(rows.size, seed), run.name)
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    if style.colorbar:
        fig.colorbar(sc, ax=list(axes[: len(runs)]), label=style.colorbar, shrink=0.8)
    fig.legend(handles=style.handles, loc="outside right center", fontsize=7, frameon=False)
    return fig


def plot_spectrum(runs: list[MethodRun], embeddings, colors: dict[str, str]) -> Any:
    """Per-component test canonical correlations of the correlation models, one line each."""
    from matplotlib.figure import Figure

    from jointspace.metrics import canonical_correlations

    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    low = 0.0
    for run, (za, zb) in zip(runs, embeddings):
        r = run.metrics.get("correlations")
        r = np.asarray(r if r else canonical_correlations(za, zb), dtype=float)
        ax.plot(np.arange(1, r.size + 1), r, "o-", ms=3, color=colors[run.name], label=run.name)
        low = min(low, float(r.min()) - 0.02)
    ax.set(xlabel="component", ylabel="test canonical correlation", ylim=(low, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
