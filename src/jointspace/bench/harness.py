"""Fit joint models on a dataset split, evaluate them, and collect comparable rows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from jointspace.data import MultiView, train_test_split
from jointspace.metrics.evaluation import (
    evaluate_embeddings,
    evaluation_rows,
    regrouped,
    relevance_ids,
)
from jointspace.models.base import JointModel
from jointspace.models.factory import make_model


@dataclass
class BenchResult:
    """One method on one dataset: fit time and test-set figures."""

    dataset: str
    model: str
    views: list[str]
    n_components: int
    fit_seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    #: per-epoch training rows of deep models (None for closed-form models)
    history: list[dict[str, float]] | None = None
    #: the test rows' embeddings, one (n, k) array per view (not in ``as_dict``)
    embeddings: list[np.ndarray] | None = field(default=None, repr=False)
    #: whether the model belongs to the correlation family (its spectrum is meaningful)
    correlation_model: bool = False
    #: the test rows the embeddings belong to, raw views included (not in ``as_dict``)
    test_rows: MultiView | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (without the embeddings and test rows)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("embeddings", "test_rows")}
        return asdict(BenchResult(**out))  # type: ignore[arg-type]


def choose_views(data: MultiView, views: Sequence[str] | None, model: JointModel) -> list[str]:
    """The views a model is fitted on: those named, else all (the first two for 2-view models)."""
    if views:
        return data.select(views).view_names
    names = data.view_names
    return names[:2] if model.max_views == 2 else names


def evaluate(
    model: JointModel,
    test: MultiView,
    *,
    relevance: str | None = None,
    raw_test: MultiView | None = None,
) -> dict[str, Any]:
    """Test-set figures of a fitted model on the views it was fitted on.

    Args:
        model: a fitted model.
        test: the test rows, with the views as the model takes them (numeric).
        relevance: the retrieval protocol, one of :data:`jointspace.metrics.RELEVANCE`
            (see :func:`relevance_ids`); None: ``"caption"`` when the (raw) test rows have
            captions, else ``"instance"``.
        raw_test: the same test rows before encoding (captions as text), when ``test`` holds
            features; None: ``test``.
    Returns:
        a dict with ``corr_sum`` (sum of the per-component correlations), ``correlations``
        (list), ``relevance`` (the protocol used), ``retrieval`` from the first view to the
        second and back under it (``"a→b"``: R@1/5/10, MedR, MeanR, mAP, nDCG@10,
        P/Recall/F1@10; the ranking metrics mAP … F1 by label when labels exist), for sets
        with captions ``retrieval_instance`` (the same under instance relevance, unless that
        is the protocol) and ``instance_ceiling`` (per direction, the best R@1/5/10, MedR and
        MeanR any model can reach under instance relevance: see
        :func:`jointspace.metrics.instance_ceiling`), and ``probe_acc`` (linear-probe accuracy
        of the first view's embedding, when labelled: trained on a stratified half of the test
        set, tested on the other half).
    """
    rows = evaluation_rows(test, model.view_names_)
    raw_rows = None if raw_test is None else evaluation_rows(raw_test, model.view_names_)
    return evaluate_embeddings(
        model.view_names_, model.transform(rows), rows, relevance=relevance, raw_rows=raw_rows
    )


def encode_views(
    train: MultiView, test: MultiView, encoders: dict[str, str], cache_dir: str | None = None
) -> tuple[MultiView, MultiView]:
    """Replace raw views (paths, captions) by features: each encoder is fitted on the
    training view and applied to both splits.

    Args:
        train, test: MultiViews with the same views.
        encoders: view name → encoder spec (``"tfidf"``, ``"minilm"``, ``"hog"``,
            ``"pixels:size=64"``, …); ``"hog+color-hist"`` concatenates several encoders'
            features. Every raw view needs one, numeric views may have one too
            (``"standardize"``).
        cache_dir: feature cache folder (None: no cache).
    Returns:
        (train, test) with those views as (n, d) float arrays.
    Raises:
        ValueError: a raw view without an encoder, or an encoder for an unknown view.
    """
    from jointspace.pipeline import make_chain, run_chain

    for name in encoders:
        train[name]  # noqa: B018 - KeyError naming an unknown view
    for name in train.view_names:
        if not train.is_numeric(name) and name not in encoders:
            raise ValueError(
                f"view {name!r} holds raw items; name an encoder for it "
                f"(e.g. --encoders {name}=...)"
            )
    chains = {name: make_chain(name, spec) for name, spec in encoders.items()}

    out = []
    for part, fitting in ((train, True), (test, False)):
        views = {
            name: run_chain(chains[name], part[name], cache_dir, fitting)
            if name in chains
            else part[name]
            for name in part.view_names
        }
        out.append(
            MultiView(
                views,
                mask=part.mask,
                labels=part.labels,
                groups=part.groups,
                ids=part.ids,
                meta=dict(part.meta),
            )
        )
    return out[0], out[1]


def run_bench(
    data: MultiView,
    models: Sequence[str],
    *,
    n_components: int,
    reg: float | None = None,
    views: Sequence[str] | None = None,
    test_size: float = 0.2,
    random_state: int = 0,
    test: MultiView | None = None,
    encoders: dict[str, str] | None = None,
    cache_dir: str | None = None,
    relevance: str | None = None,
    train_groups: str | None = None,
    announce: Any = None,
    **model_params: Any,
) -> list[BenchResult]:
    """Fit each named model on a train split of ``data`` and evaluate it on the test split.

    Args:
        data: a MultiView (numeric views, or raw views with ``encoders``).
        models: short model names (see :data:`jointspace.models.factory.MODELS`).
        n_components: k for every model.
        reg: ridge ε for the models that take one (None: each model's default).
        views: views to use (default: see :func:`choose_views`).
        test_size, random_state: the split (stratified, group-aware); the seed also seeds
            the models that take one.
        test: a fixed test set (a dataset's official split); then ``data`` is all training.
        encoders, cache_dir: features for raw views (see :func:`encode_views`).
        relevance: the retrieval protocol (see :func:`evaluate`); None: ``"caption"`` when the
            raw test rows of a model's views include captions, else ``"instance"``.
        train_groups: the training positives, a protocol as for ``relevance`` (see
            :func:`jointspace.metrics.evaluation.regrouped`); None: ``"instance"`` (measured
            better than ``"caption"`` for the SigLIP dual encoder on OpenClipArt).
        announce: optional callable(str) told which model starts.
        **model_params: further model options (epochs, lr, …; models without them skip
            those in :data:`jointspace.models.factory.OPTIONAL`).
    Returns:
        One BenchResult per model, in order.
    """
    if test is None:
        train, test = train_test_split(data, test_size, random_state=random_state)
    else:
        train = data
    raw_test = test
    train = regrouped(train, train_groups)
    if encoders:
        if announce is not None:
            announce(f"encoding {', '.join(f'{v} with {e}' for v, e in encoders.items())}")
        train, test = encode_views(train, test, encoders, cache_dir)
    results = []
    for name in models:
        model = make_model(
            name, n_components=n_components, reg=reg, random_state=random_state, **model_params
        )
        names = choose_views(data, views, model)
        relevance_ids(raw_test.subset(raw_test.complete_rows(names)), relevance, names[:2])
        if announce is not None:
            announce(f"{name} on {data.meta.get('name', 'data')} ({', '.join(names)})")
        start = time.perf_counter()
        model.fit(train.select(names))
        seconds = time.perf_counter() - start
        rows = evaluation_rows(test, model.view_names_)
        raw_rows = evaluation_rows(raw_test, model.view_names_)
        Z = model.transform(rows)
        metrics = evaluate_embeddings(names, Z, rows, relevance=relevance, raw_rows=raw_rows)
        results.append(
            BenchResult(
                data.meta.get("name", "data"),
                name,
                names,
                getattr(model, "n_components_", n_components),
                seconds,
                metrics,
                history=getattr(model, "history_", None),
                embeddings=Z,
                correlation_model=hasattr(model, "canonical_correlations_"),
                test_rows=raw_rows,
            )
        )
    return results
