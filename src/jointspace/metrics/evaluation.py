"""Evaluation of joint-space embeddings: retrieval in both directions under a relevance
protocol (with the instance protocol and its ceiling beside it on caption sets), canonical
correlations and the linear probe. The harness, `Pipeline.evaluate` and the CLI all call
:func:`evaluate_embeddings`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from jointspace.data.multiview import MultiView
from jointspace.metrics.correlation import canonical_correlations, linear_probe_accuracy
from jointspace.metrics.relevance import RELEVANCE, caption_groups, instance_ceiling
from jointspace.metrics.retrieval import cross_modal_retrieval


def caption_view(rows: MultiView, names: Sequence[str] | None = None) -> str | None:
    """The first of the views ``names`` (default: all) of ``rows`` that holds captions: a raw
    view of strings, none of its first 16 items a path of an existing file (image and audio
    views hold paths). None when there is none."""
    for name in names if names is not None else rows.view_names:
        if rows.is_numeric(name):
            continue
        items = rows[name]
        if all(isinstance(t, str) for t in items) and not any(
            os.path.isfile(t) for t in items[:16]
        ):
            return name
    return None


def default_relevance(rows: MultiView, names: Sequence[str] | None = None) -> str:
    """``"caption"`` when the views ``names`` (default: all) of the raw test ``rows`` include
    captions (:func:`caption_view`), else ``"instance"``."""
    return "instance" if caption_view(rows, names) is None else "caption"


def relevance_ids(
    rows: MultiView, relevance: str | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """(n,) relevance ids of the raw test ``rows`` under a protocol of
    :data:`jointspace.metrics.RELEVANCE` (positives: equal ids): ``"instance"`` →
    ``rows.relevance_groups``; ``"caption"`` → :func:`jointspace.metrics.caption_groups` of
    the caption view among ``names`` (default: all views), joined with the instance groups;
    ``"label"`` → ``rows.labels``; None → :func:`default_relevance`.

    Raises:
        ValueError: an unknown protocol, ``"caption"`` without a caption view, ``"label"``
            without labels.
    """
    relevance = default_relevance(rows, names) if relevance is None else relevance
    if relevance not in RELEVANCE:
        raise ValueError(f"relevance={relevance!r}; expected one of {list(RELEVANCE)}")
    if relevance == "instance":
        return rows.relevance_groups
    if relevance == "label":
        if rows.labels is None:
            raise ValueError("relevance='label' needs labelled test rows; this dataset has none")
        return rows.labels
    text = caption_view(rows, names)
    if text is None:
        shown = ", ".join(names if names is not None else rows.view_names)
        raise ValueError(
            f"relevance='caption' needs a view of captions (raw text) among {shown}; "
            "use relevance 'instance' or 'label'"
        )
    return caption_groups(rows[text], rows.groups)


def regrouped(rows: MultiView, relevance: str | None = "instance") -> MultiView:
    """``rows`` with their groups replaced by :func:`relevance_ids` under ``relevance``: the
    training positives of a protocol. With ``"caption"``, images of identical captions form
    one group, so a contrastive loss never pushes an image away from its twin's caption."""
    ids = relevance_ids(rows, relevance or "instance")
    return MultiView(
        dict(rows.views),
        mask=rows.mask,
        labels=rows.labels,
        groups=ids,
        ids=rows.ids,
        meta=dict(rows.meta),
    )


def evaluation_rows(test: MultiView, names: Sequence[str]) -> MultiView:
    """The rows a model fitted on views ``names`` is evaluated on: those views, complete rows."""
    test = test.select(names)
    return test.subset(test.complete_rows())


def evaluate_embeddings(
    names: Sequence[str],
    Z: list[np.ndarray],
    test: MultiView,
    relevance: str | None = None,
    *,
    raw_rows: MultiView | None = None,
) -> dict[str, Any]:
    """Test figures from embeddings Z (one (n, k) array per view) of the rows ``test`` (as
    given by :func:`evaluation_rows`); ``raw_rows``: the same n rows with their raw views
    (captions), default ``test``. The figures are described in
    :func:`jointspace.bench.harness.evaluate`."""
    raw = test if raw_rows is None else raw_rows
    if raw.n_samples != test.n_samples:
        raise ValueError(
            f"raw_rows has {raw.n_samples} rows, test has {test.n_samples}; expected the same"
        )
    corrs = canonical_correlations(*Z)
    a, b = names[:2]
    relevance = default_relevance(raw, (a, b)) if relevance is None else relevance
    labels = test.labels

    def retrieval(ids: np.ndarray) -> dict[str, dict[str, float]]:
        return cross_modal_retrieval(
            Z[0], Z[1], groups_a=ids, groups_b=ids, labels_a=labels, labels_b=labels, names=(a, b)
        )

    out: dict[str, Any] = {
        "corr_sum": float(corrs.sum()),
        "correlations": [float(c) for c in corrs],
        "relevance": relevance,
        "retrieval": retrieval(relevance_ids(raw, relevance, (a, b))),
    }
    text = caption_view(raw, (a, b))
    if text is not None:
        groups = raw.relevance_groups
        if relevance != "instance":
            out["retrieval_instance"] = retrieval(groups)
        twins = caption_groups(raw[text])
        sides = ("gallery", "query") if text == b else ("query", "gallery")
        out["instance_ceiling"] = {
            f"{a}→{b}": instance_ceiling(groups, twins, side=sides[0]),
            f"{b}→{a}": instance_ceiling(groups, twins, side=sides[1]),
        }
    if labels is not None and np.unique(labels, return_counts=True)[1].min() >= 2:
        from sklearn.model_selection import train_test_split

        fit_idx, probe_idx = train_test_split(
            np.arange(len(labels)), test_size=0.5, stratify=labels, random_state=0
        )
        out["probe_acc"] = linear_probe_accuracy(
            Z[0][fit_idx], labels[fit_idx], Z[0][probe_idx], labels[probe_idx]
        )
    return out
