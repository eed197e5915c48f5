"""The ``missing`` parameter every joint model takes: fill strategies at fit and at query
time against an independent path (a ViewImputer in front of the model), masking and dropping,
saving, and a missing view's slots never read."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace import MultiView, load_dataset
from jointspace.models import DGCCA, KCCA, MCCA, JointModel, MultimodalVAE
from jointspace.models.factory import make_model
from jointspace.models.missing import ViewImputer
from jointspace.models.missing_views import FILLS


@pytest.fixture(scope="module")
def views():
    """uci-mfeat fou + kar + mor, standardized; kar removed from 30 % of the 1,600 training
    and of the 400 query digits."""
    data = load_dataset("uci-mfeat").select(["fou", "kar", "mor"])
    arrays = [np.asarray(data[n], dtype=float) for n in data.view_names]
    arrays = [(a - a.mean(0)) / (a.std(0) + 1e-9) for a in arrays]
    rng = np.random.default_rng(0)
    mask = np.ones((data.n_samples, 3), dtype=bool)
    mask[rng.random(data.n_samples) < 0.3, 1] = False
    order = rng.permutation(data.n_samples)
    train, query = order[:1600], order[1600:]

    def part(rows, slot):
        vs = {n: np.where(mask[rows, j, None], a[rows], slot)
              for j, (n, a) in enumerate(zip(data.view_names, arrays))}
        return MultiView(vs, mask=mask[rows], labels=data.labels[rows])

    return part(train, np.nan), part(query, np.nan), part(query, -5.0)


@pytest.mark.parametrize("strategy", FILLS)
def test_a_fill_strategy_is_a_view_imputer_in_front_of_the_model(views, strategy):
    train, query, _ = views
    model = MCCA(4, reg=1e-3, missing=strategy).fit(train)
    imputer = ViewImputer(strategy).fit(train)
    reference = MCCA(4, reg=1e-3).fit(imputer.transform(train))  # every sample, filled
    np.testing.assert_allclose(model.canonical_correlations_,
                               reference.canonical_correlations_, rtol=1e-10)
    got, expected = model.transform(query), reference.transform(imputer.transform(query))
    for g, e in zip(got, expected):
        assert np.isfinite(g).all()  # every sample embedded in every view
        np.testing.assert_allclose(np.abs(g), np.abs(e), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.abs(model.fuse(query)), np.abs(np.mean(expected, axis=0)),
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("strategy", [*FILLS, "drop"])
def test_what_a_missing_slot_holds_is_never_read(views, strategy):
    train, query_nan, query_other = views
    model = MCCA(4, reg=1e-3, missing=strategy).fit(train)
    for a, b in zip(model.transform(query_nan), model.transform(query_other)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.fuse(query_nan), model.fuse(query_other))


def test_drop_trains_on_complete_rows_and_leaves_a_missing_view_out_of_queries(views):
    train, query, _ = views
    dropped = MCCA(4, reg=1e-3, missing="drop").fit(train)
    complete = MCCA(4, reg=1e-3).fit(train.subset(train.complete_rows()))
    np.testing.assert_allclose(dropped.weights_[0], complete.weights_[0])
    Z = dropped.transform(query)
    assert np.isnan(Z[1][~query.mask[:, 1]]).all() and np.isfinite(Z[0]).all()
    assert MCCA(4).missing_strategy == "drop"


def test_mask_is_the_default_of_models_that_train_on_masked_views_and_refused_elsewhere(views):
    train, _, _ = views
    assert DGCCA(2).missing_strategy == "mask" and MultimodalVAE(2).missing_strategy == "mask"
    with pytest.raises(ValueError, match="MCCA cannot train on masked views"):
        MCCA(2, missing="mask").fit(train)
    with pytest.raises(ValueError, match="partial_fit trains on the complete rows"):
        MCCA(2, missing="mean").partial_fit(train)


def test_a_deep_model_fills_too(views):
    train, query, query_other = views
    model = MultimodalVAE(3, hidden=(16,), missing="model",
                          training={"epochs": 2, "progress": False, "threads": 1}).fit(train)
    fused = model.fuse(query)
    assert np.isfinite(fused).all()
    np.testing.assert_array_equal(fused, model.fuse(query_other))
    filled = ViewImputer("model").fit(train).transform(query)
    np.testing.assert_allclose(fused, model.fuse(filled), rtol=1e-10)


@pytest.mark.parametrize("strategy", FILLS)
def test_the_imputer_is_saved_with_the_model(views, strategy, tmp_path):
    train, query, _ = views
    model = KCCA(3, n_landmarks=100, missing=strategy).fit(train)
    model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    for a, b in zip(loaded.transform(query), model.transform(query)):
        np.testing.assert_array_equal(a, b)


def test_the_strategy_is_a_parameter_of_every_model_and_the_factory():
    from jointspace.models.factory import MODELS, model_class

    for name in MODELS:
        assert "missing" in model_class(name)._get_param_names(), name
    assert make_model("mcca:missing=mean").missing == "mean"
