"""`jointspace audit`: the pairs of a data set most likely to be mismatched (a corrupted
caption, a swapped image), by their consistency in a saved pipeline's joint space."""

from __future__ import annotations

from typing import Any

import typer

from jointspace.cli.common import CACHE_DIR, app, console, print_json, user_errors
from jointspace.cli.data_source import DataSource, data_source_options

SPLITS = ("all", "train", "test")


def audit_rows(pipe: Any, source: DataSource, split: str, pipeline_dir: str) -> tuple[Any, Any]:
    """``(rows, source)``: the pairs to audit. With a data source, its data (``split`` picks
    the training or test part of a built-in set with an official split); without one, the
    data the pipeline was fitted on, as its manifest records it (``train``: the rows it was
    trained on, ``test``: its held-out rows, ``all``: both)."""
    if split not in SPLITS:
        raise ValueError(f"--split is {split!r}; expected one of {', '.join(SPLITS)}")
    recorded = pipe.manifest_.get("metadata", {})
    own = not source.given
    if own:
        if "data" not in recorded:
            raise ValueError(f"{pipeline_dir!r} does not record its data; pass a data source")
        source = DataSource(**recorded["data"])
    if split != "all" and not own and not source.official_split:
        raise ValueError(
            f"--split {split} needs the pipeline's own data (no data source) or a built-in "
            "dataset with an official test split; new data is audited whole (--split all)"
        )
    if source.official_split:
        if split == "all":  # every sample of the built-in set, its splits together
            from jointspace.data.datasets import load_dataset

            name, options = source._dataset_spec()
            options.pop("split", None)
            return load_dataset(name, **options), source
        train, test = source.load()
        return (train if split == "train" else test), source
    data, _ = source.load()
    if split == "all":
        return data, source
    from jointspace.data import train_test_split

    settings = recorded.get("split", {})
    train, test = train_test_split(
        data, settings.get("test_size", 0.2), random_state=settings.get("seed", 0)
    )
    return (train if split == "train" else test), source


def _shown(item: Any, width: int = 70) -> str:
    text = str(item)
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
@user_errors
@data_source_options
def audit(
    pipeline_dir: str = typer.Argument(..., help="Pipeline directory written by `fit`."),
    *,
    source: DataSource,
    split: str = typer.Option(
        "all", help="Which pairs: all (default), train (those the pipeline was fitted on) or "
        "test (its held-out split); train/test need the pipeline's own data or a built-in set "
        "with an official split."),
    top: int = typer.Option(20, help="How many of the least consistent pairs to show."),
    method: str = typer.Option(
        "margin", help="Pair score: margin (the pair's cosine minus its closest competitor's, "
        "either side; the default), csls, softmax or cosine."),
    shuffle_fraction: float = typer.Option(
        None, help="Evaluation: swap the captions of this fraction of the pairs among "
        "themselves first, and report how well the audit ranks them (ROC AUC)."),
    seed: int = typer.Option(0, help="Seed of --shuffle-fraction."),
    cache_dir: str = CACHE_DIR,
    as_json: bool = typer.Option(False, "--json", help="Every pair's score, as JSON."),
):
    """List the pairs most likely to be mismatched (a wrong caption, a swapped image): those
    whose two sides agree least in the pipeline's joint space, least consistent first.

    Data: a built-in --dataset, your own --images DIR --captions FILE or --table FILE
    --columns …; without one, the data the pipeline was fitted on.
    """
    from jointspace.metrics.consistency import CONSISTENCY_METHODS, mismatch_detection
    from jointspace.metrics.evaluation import caption_view
    from jointspace.pipeline import Pipeline, pair_consistency, shuffle_pairs

    if split not in SPLITS:
        raise ValueError(f"--split is {split!r}; expected one of {', '.join(SPLITS)}")
    if top < 1:
        raise ValueError(f"--top is {top}; expected ≥ 1")
    if method not in CONSISTENCY_METHODS:
        names = ", ".join(CONSISTENCY_METHODS)
        raise ValueError(f"--method is {method!r}; expected one of {names}")
    if shuffle_fraction is not None and not 0 < shuffle_fraction < 1:
        raise ValueError(f"--shuffle-fraction is {shuffle_fraction}; expected a number in (0, 1)")
    pipe = Pipeline.load(pipeline_dir)
    pipe.cache_dir = cache_dir
    rows, source = audit_rows(pipe, source, split, pipeline_dir)
    pair = pipe.view_names[:2]
    for view in pair:
        if view not in rows:
            raise ValueError(f"{source.name} has no view {view!r}; the pipeline needs {pair}")
    rows = rows.subset(rows.complete_rows(pair))
    text = caption_view(rows, pair)
    mismatched = None
    if shuffle_fraction is not None:
        rows, mismatched = shuffle_pairs(rows, text or pair[1], shuffle_fraction, seed)
    scores = pair_consistency(pipe, rows, method=method)
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    detection = None
    if mismatched is not None:
        detection = {"fraction": shuffle_fraction, "seed": seed, "view": text or pair[1],
                     **mismatch_detection(scores, mismatched)}
    raw = [v for v in pair if not rows.is_numeric(v)]

    def record(rank: int, i: int) -> dict[str, Any]:
        out = {"rank": rank, "row": i, "id": str(rows.ids[i]), "score": float(scores[i])}
        out.update({v: str(rows[v][i]) for v in raw})
        if mismatched is not None:
            out["shuffled"] = bool(mismatched[i])
        return out

    if as_json:
        print_json({
            "pipeline": pipeline_dir, "data": source.name, "split": split, "method": method,
            "n_pairs": len(scores), **({"shuffle": detection} if detection else {}),
            "pairs": [record(rank, i) for rank, i in enumerate(order, 1)],
        })
        return
    from rich.table import Table

    shown = [v for v in raw if v == text] or raw[1:]
    title = (f"the {min(top, len(order))} least consistent of {len(order)} pairs "
             f"({source.name}, {split}; {method} score, lowest first)")
    grid = Table("#", "score", "id", *shown, *(["shuffled"] if mismatched is not None else []),
                 title=title)
    for rank, i in enumerate(order[:top], 1):
        cells = [str(rank), f"{scores[i]:.3f}", _shown(rows.ids[i], 48)]
        cells += [_shown(rows[v][i]) for v in shown]
        if mismatched is not None:
            cells.append("yes" if mismatched[i] else "")
        grid.add_row(*cells)
    console.print(grid)
    if detection:
        console.print(
            f"{detection['view']} shuffled among {shuffle_fraction:.0%} of the pairs "
            f"(seed {seed}): "
            f"{detection['n_mismatched']} of {detection['n_pairs']} pairs mismatched; ROC AUC "
            f"{detection['roc_auc']:.4f}, average precision {detection['average_precision']:.3f}, "
            f"{detection['precision_at_m']:.1%} of the {detection['n_mismatched']} lowest "
            "are shuffled", highlight=False)
