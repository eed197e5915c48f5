"""The report's figures, each drawn on a :class:`matplotlib.figure.Figure` (Agg canvas), never
through pyplot: no display, no global figures, the caller's backend untouched."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jointspace.atomic import atomic_write

if TYPE_CHECKING:
    from jointspace.bench.report import MethodRun


def unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, k) scaled to unit L2 norm; all-zero rows stay zero (as in metrics)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def save(fig: Any, path: Path) -> None:
    """Save a Figure as PNG atomically, then clear it."""
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120, bbox_inches="tight"))
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


def plot_map(runs, embeddings, labels, view_names, metric, max_points, seed) -> Any:
    """t-SNE of both views of each run (one panel each): colour by label, true pairs joined."""
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from sklearn.manifold import TSNE

    n = embeddings[0][0].shape[0]
    rng = np.random.default_rng(seed)
    m = min(n, max_points)
    idx = np.sort(rng.choice(n, m, replace=False))  # the same rows of both views
    joined = rng.choice(m, min(30, m), replace=False)
    fig = Figure(figsize=(4.4 * len(runs) + 1.8, 4.4), layout="constrained")
    axes = fig.subplots(1, len(runs), squeeze=False).ravel()
    handles = [
        Line2D([], [], ls="", marker=k, color="0.3", label=v) for k, v in zip("ox", view_names)
    ]
    style, cbar = [{"color": "tab:blue"}, {"color": "tab:orange"}], None
    if labels is not None:
        uniq, codes = np.unique(labels[idx], return_inverse=True)
        codes = codes.reshape(-1)
        if len(uniq) <= 22:
            cmaps = ("tab10",) if len(uniq) <= 10 else ("tab20", "tab20b")
            pal = np.vstack([colormaps[c].colors for c in cmaps])
            style = [{"c": pal[codes]}] * 2
            handles += [
                Line2D([], [], ls="", marker="s", color=pal[j], label=str(u))
                for j, u in enumerate(uniq)
            ]
        else:
            numeric = labels.dtype.kind in "biuf"
            style = [{"c": labels[idx] if numeric else codes, "cmap": "viridis"}] * 2
            cbar = "label" if numeric else "label (index among sorted labels)"
    for ax, run, (za, zb) in zip(axes, runs, embeddings):
        x = np.vstack([za[idx], zb[idx]])
        x = unit(x) if metric == "cosine" else x  # map the geometry that retrieval ranks by
        y = TSNE(
            2,
            perplexity=min(30.0, (2 * m - 1) / 3),
            init="pca" if x.shape[1] >= 2 else "random",
            method="exact" if 2 * m <= 500 else "barnes_hut",  # exact is faster when small
            random_state=seed,
        ).fit_transform(x)
        segs = np.stack([y[joined], y[m + joined]], axis=1)
        ax.add_collection(LineCollection(segs, colors="0.55", linewidths=0.6, zorder=1))
        for v, marker in enumerate("ox"):
            part = y[v * m : (v + 1) * m]
            sc = ax.scatter(*part.T, s=12, marker=marker, alpha=0.75, lw=0.9, zorder=2, **style[v])
        ax.set(title=run.name, xticks=[], yticks=[])
    if cbar:
        fig.colorbar(sc, ax=list(axes), label=cbar, shrink=0.8)
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
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
