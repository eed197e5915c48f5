"""The dual encoder fitted on a grouped MultiView (several captions per image) with a
validation split: the rows it validates on, and its validation score recomputed by a
direct loop over queries (R@1, R@5, R@10 in both directions, a hit being any row of the
query's group)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import jointspace.train.trainer as trainer_module
from jointspace import MultiView
from jointspace.models.deep import ContrastiveDualEncoder

N_IMAGES, CAPTIONS = 50, 4


def _captioned(seed=0) -> MultiView:
    """50 images with 4 noisy captions each: rows of one image share its group id (shuffled,
    so a group's rows are not adjacent)."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(N_IMAGES, 6))
    image = Z @ rng.normal(size=(6, 20)) + 0.2 * rng.normal(size=(N_IMAGES, 20))
    rows = rng.permutation(np.repeat(np.arange(N_IMAGES), CAPTIONS))
    text = Z[rows] @ rng.normal(size=(6, 14)) + 0.8 * rng.normal(size=(len(rows), 14))
    return MultiView({"image": image[rows], "text": text}, groups=rows + 100)


def _recall_reference(Q: np.ndarray, G: np.ndarray, qg: np.ndarray, gg: np.ndarray, k: int):
    """% of queries whose first same-group gallery row ranks ≤ k; an other-group row with a
    similarity ≥ the best same-group one ranks before it (ties count against)."""
    hits = 0
    for i in range(len(Q)):
        sims = [float(np.dot(Q[i], G[j])) for j in range(len(G))]
        best = max(s for s, g in zip(sims, gg) if g == qg[i])
        rank = 1 + sum(1 for s, g in zip(sims, gg) if g != qg[i] and s >= best)
        hits += rank <= k
    return 100.0 * hits / len(Q)


@pytest.fixture(scope="module")
def fitted():
    """The model fitted for 3 epochs with a quarter of the rows held out, with what the
    trainer was given (monkeypatched by hand: a module-scoped fixture) and, after each
    epoch, the validation rows' embeddings by the epoch's weights."""
    data = _captioned()
    given = {}
    original = trainer_module.Trainer.fit

    def recording_fit(self, model, train_views, train_mask, val_views=None, *args, **kw):
        given.update(
            train=[np.array(v) for v in train_views],
            val=None if val_views is None else [np.array(v) for v in val_views],
        )
        return original(self, model, train_views, train_mask, val_views, *args, **kw)

    epochs = []

    def callback(epoch, trainable, row):
        views = [torch.as_tensor(v, dtype=torch.float32) for v in given["val"]]
        with torch.no_grad():
            Z = [
                torch.nn.functional.normalize(z, dim=-1).double().numpy()
                for z in trainable.encode(views)
            ]
        epochs.append((row, Z, trainable.training))

    trainer_module.Trainer.fit = recording_fit
    try:
        model = ContrastiveDualEncoder(
            8,
            hidden=(32,),
            random_state=1,
            training={
                "epochs": 3,
                "batch_size": 40,
                "lr": 3e-3,
                "val_fraction": 0.25,
                "progress": False,
            },
        ).fit(data, callback=callback)
    finally:
        trainer_module.Trainer.fit = original
    return data, model, given, epochs


def _row_index(data: MultiView, i: int, rows: np.ndarray, model) -> np.ndarray:
    """Which rows of ``data`` the trainer's (standardized) rows of view i are."""
    X = data.arrays()[i]
    standardized = (X - model.input_means_[i]) / model.input_scales_[i]
    index = [int(np.flatnonzero((standardized == r).all(axis=1))[0]) for r in rows]
    return np.array(index)


def test_validation_rows_are_a_quarter_of_the_rows_none_trained_on(fitted):
    data, model, given, _ = fitted
    train = _row_index(data, 1, given["train"][1], model)  # text rows are all distinct
    val = _row_index(data, 1, given["val"][1], model)
    # whole groups: the validation rows are the count of groups nearest to a quarter
    largest = np.bincount(data.groups).max()
    assert abs(len(val) - round(0.25 * len(data))) <= largest / 2
    assert len(train) + len(val) == len(data)
    assert set(train).isdisjoint(val) and len(set(train) | set(val)) == len(data)


def test_no_group_straddles_training_and_validation(fitted):
    data, model, given, _ = fitted
    train = _row_index(data, 1, given["train"][1], model)
    val = _row_index(data, 1, given["val"][1], model)
    straddling = set(data.groups[train]) & set(data.groups[val])
    assert not straddling, f"{len(straddling)} of {N_IMAGES} images on both sides"


def test_validation_score_equals_a_direct_recall_computation(fitted):
    data, model, given, epochs = fitted
    val = _row_index(data, 1, given["val"][1], model)
    groups = data.groups[val]
    assert len(set(groups)) < len(groups)  # several captions of one image are validated
    assert len(epochs) == 3 and [r["epoch"] for r, *_ in epochs] == [0, 1, 2]
    for row, (A, B), training in epochs:
        assert not training  # the callback sees the network in eval mode, as validation did
        recalls = [
            _recall_reference(Q, G, groups, groups, k)
            for Q, G in ((A, B), (B, A))
            for k in (1, 5, 10)
        ]
        assert row["val_score"] == pytest.approx(np.mean(recalls), abs=1e-9)
    scores = [r["val_score"] for r, *_ in epochs]
    assert model.best_epoch_ == int(np.argmax(scores))
    assert scores[-1] > 30  # learning happened: chance R@10 on 50 rows is ~25 %
