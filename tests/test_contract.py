"""The DESIGN.md contract: scikit-learn estimator, transform/transform_view/score, save/load,
masks and clear errors — held by every model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted, validate_data

from jointspace import MultiView, load_dataset, persistence
from jointspace.models import CCA, GCCA, KCCA, MCCA, PLS, JointModel
from jointspace.models.deep import (
    DCCA,
    DGCCA,
    ContrastiveDualEncoder,
    MultimodalVAE,
    SplitAutoencoder,
)

TINY_DEEP = {"hidden": (16,), "training": {"epochs": 2, "batch_size": 64, "progress": False}}
#: the video and audio towers read frame-major rows: a digit half's 14 rows of 28 pixels as
#: 14 frames (14 × 28 = 392 columns, the width every view is tiled to in the sklearn checks)
FRAME_WIDTH = 392
VIDEO_TOWER = {"kind": "temporal", "frames": 14, "pool": "transformer", "width": 8, "heads": 2,
               "layers": 1}
TINY_FRAMES = {"training": {"epochs": 1, "batch_size": 64, "progress": False}}
AUDIO_TOWER = {"kind": "audio-cnn", "mels": 28, "channels": [4], "width": 8}
ALL = [
    CCA(3, reg=1e-3),
    PLS(3),
    MCCA(3, reg=1e-3),
    GCCA(3, reg=1e-3),
    KCCA(3, reg=1e-2, n_landmarks=50),
    DCCA(3, **TINY_DEEP),
    DGCCA(3, **TINY_DEEP),
    ContrastiveDualEncoder(3, **TINY_DEEP),
    MultimodalVAE(3, **TINY_DEEP),
    SplitAutoencoder(3, **TINY_DEEP),
    ContrastiveDualEncoder(3, tower=VIDEO_TOWER, **TINY_FRAMES),
    ContrastiveDualEncoder(3, tower=AUDIO_TOWER, **TINY_FRAMES),
]
IDS = [type(m).__name__ for m in ALL[:-2]] + ["VideoTowers", "AudioTowers"]


def _frame_tower(model) -> bool:
    """Whether the model's towers read frame-major rows of a fixed width."""
    return isinstance(getattr(model, "tower", None), dict)


@pytest.fixture(scope="module")
def small():
    """400 real digit halves (train) and 100 (test), as MultiViews."""
    data = load_dataset("mnist-halves")
    return data.subset(np.arange(0, 5000, 10)[:400]), data.subset(np.arange(5, 5000, 10)[:100])


# ------------------------------------------------------------------ scikit-learn checks
class SingleMatrixAdapter(TransformerMixin, BaseEstimator):
    """Runs a two-view model on one matrix, for scikit-learn's estimator checks.

    The columns of X are split into two views (first half, second half; a single column is
    used for both); ``transform`` returns the two joint-space embeddings side by side.
    n_components is clipped to the smaller view so that any X the checks make is valid.
    For towers that read frame-major rows of a fixed width, each view's columns are tiled
    to ``FRAME_WIDTH``.
    """

    def __init__(self, model=None):
        self.model = model

    def _views(self, X):
        half = max(1, X.shape[1] // 2)
        views = [X[:, :half], X[:, half:] if X.shape[1] > 1 else X]
        if _frame_tower(self.model):
            views = [np.tile(v, -(-FRAME_WIDTH // v.shape[1]))[:, :FRAME_WIDTH] for v in views]
        return views

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        views = self._views(X)
        k = self.model.n_components
        if not _frame_tower(self.model):  # a tower projects to any width
            k = min(k, *(v.shape[1] for v in views))
        self.model_ = clone(self.model).set_params(n_components=k).fit(views)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.hstack(self.model_.transform(self._views(X)))


@parametrize_with_checks([SingleMatrixAdapter(m) for m in ALL])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("model", ALL, ids=IDS)
def test_estimator_api(model, small):
    train, test = small
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    assert not hasattr(twin, "weights_")  # constructor stores parameters only
    twin.set_params(n_components=2)
    assert twin.n_components == 2 and model.n_components == 3
    Z = clone(model).fit(train).transform(test)
    assert len(Z) == 2 and Z[0].shape == (100, 3)


def test_grid_search_selects_ridge(small):
    """GridSearchCV drives a model through its `score` (test correlation sum)."""
    train, _ = small
    X = np.hstack(train.arrays())
    search = GridSearchCV(
        SingleMatrixAdapter(CCA(5)),
        {"model__reg": [0.0, 1e-2, 1.0]},
        cv=3,
        scoring=lambda est, X, y=None: est.model_.score(est._views(X)),
    )
    search.fit(X)
    assert search.best_params_["model__reg"] > 0  # unregularized CCA overfits 392-d halves
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# --------------------------------------------------------------- transform / score
@pytest.mark.parametrize("model", ALL, ids=IDS)
def test_each_view_maps_alone_row_by_row(model, small):
    # a view's embedding depends on its own row only: not on the other view, the rows it is
    # batched with, or their order (what makes transform_view a query path)
    train, test = small
    model = clone(model).fit(train)
    Z = model.transform(test)
    order = np.random.default_rng(0).permutation(len(test))
    shuffled = model.transform([test["left"][order], test["right"]])  # pairs broken
    np.testing.assert_allclose(shuffled[0], Z[0][order], atol=1e-10)
    np.testing.assert_allclose(shuffled[1], Z[1], atol=1e-10)
    np.testing.assert_allclose(model.transform_view("left", test["left"][7]), Z[0][7:8], atol=1e-10)
    np.testing.assert_allclose(model.transform_view(1, test["right"][:5]), Z[1][:5], atol=1e-10)
    # score: the mean over components of the Pearson correlation, here with numpy
    direct = np.mean([np.corrcoef(Z[0][:, j], Z[1][:, j])[0, 1] for j in range(Z[0].shape[1])])
    assert model.score(test) == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize("model", ALL, ids=IDS)
def test_fuse_uses_only_the_views_a_sample_has(model, small):
    train, test = small
    model = clone(model).fit(train)
    left, right = model.transform(test)
    mask = np.ones((len(test), 2), dtype=bool)
    mask[:10, 1] = False  # the first ten samples lack their right half
    mask[10:20, 0] = False  # the next ten their left half
    damaged = {"left": test["left"].copy(), "right": test["right"].copy()}
    damaged["right"][:10] = 1e6  # what a missing view holds must not matter
    fused = model.fuse(MultiView(damaged, mask=mask))
    np.testing.assert_allclose(fused[:10], left[:10], atol=1e-10)
    np.testing.assert_allclose(fused[10:20], right[10:20], atol=1e-10)
    if type(model).fuse is JointModel.fuse:  # models with their own fusion (a VAE's joint
        # posterior) fuse two views their way; the rest take the mean
        np.testing.assert_allclose(fused[20:], (left[20:] + right[20:]) / 2, atol=1e-10)
    np.testing.assert_array_equal(
        fused,
        model.fuse(
            MultiView(
                {"left": damaged["left"], "right": np.where(mask[:, 1:], damaged["right"], np.nan)},
                mask=mask,
            )
        ),
    )


def test_inputs_as_multiview_dict_or_list_agree(small):
    train, test = small
    a = CCA(4, reg=1e-3).fit(train)
    b = CCA(4, reg=1e-3).fit({"left": train["left"], "right": train["right"]})
    c = CCA(4, reg=1e-3).fit([train["left"], train["right"]])
    for m in (b, c):
        np.testing.assert_allclose(m.transform(test.arrays())[0], a.transform(test)[0])
    assert a.view_names_ == ["left", "right"] and c.view_names_ == ["view0", "view1"]


def test_masked_views_are_not_zero_filled(small):
    train, test = small
    mask = np.ones((len(train), 2), dtype=bool)
    mask[:50, 1] = False
    right = train["right"].copy()
    right[:50] = np.nan  # unobserved rows may hold anything
    masked = MultiView({"left": train["left"], "right": right}, mask=mask)
    model = CCA(4, reg=1e-3).fit(masked)
    complete = CCA(4, reg=1e-3).fit(train.subset(np.arange(50, len(train))))
    np.testing.assert_allclose(model.weights_[0], complete.weights_[0], atol=1e-10)
    Z = model.transform(masked)
    assert np.isnan(Z[1][:50]).all() and np.isfinite(Z[1][50:]).all()
    assert np.isfinite(Z[0]).all()


# ---------------------------------------------------------------------------- save/load
@pytest.mark.parametrize("model", ALL, ids=IDS)
def test_save_load_round_trip(model, small, tmp_path):
    train, test = small
    model = clone(model).fit(train)
    model.save(tmp_path / "model", metadata={"dataset": "mnist-halves"})
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == ["arrays.safetensors", "config.json"]
    loaded = JointModel.load(tmp_path / "model")
    assert type(loaded) is type(model)
    assert json.dumps(loaded.get_params()) == json.dumps(model.get_params())
    for za, zb in zip(model.transform(test), loaded.transform(test)):
        np.testing.assert_array_equal(za, zb)
    assert persistence.read_metadata(tmp_path / "model") == {"dataset": "mnist-halves"}
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["class"] == type(model).__name__


def test_failed_save_keeps_previous_model(small, tmp_path, monkeypatch):
    train, test = small
    good = CCA(3, reg=1e-3).fit(train)
    good.save(tmp_path / "m")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        CCA(2, reg=1e-3).fit(train).save(tmp_path / "m")
    # no temporary left behind: the link and the version it points to
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m", os.readlink(tmp_path / "m")])
    np.testing.assert_array_equal(
        CCA.load(tmp_path / "m").transform(test)[0], good.transform(test)[0]
    )


def test_load_checks_class_and_directory(small, tmp_path):
    train, _ = small
    CCA(3, reg=1e-3).fit(train).save(tmp_path / "cca")
    with pytest.raises(ValueError, match="holds a 'CCA' model; expected PLS"):
        PLS.load(tmp_path / "cca")
    with pytest.raises(FileNotFoundError, match="not a jointspace model directory"):
        JointModel.load(tmp_path)
    with pytest.raises(ValueError, match="is a file"):
        CCA(3).fit(train).save(tmp_path / "cca" / "config.json")


# ------------------------------------------------------------------------------ errors
def test_clear_errors(small):
    train, _ = small
    X1, X2 = train["left"], train["right"]
    with pytest.raises(
        ValueError,
        match="view 'view1' has 399 rows, view 'view0' has 400: "
        "views must have the same number of samples",
    ):
        CCA(2).fit([X1, X2[:-1]])
    bad = X2.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="view 'view1' has NaN or inf in 1 observed rows"):
        CCA(2).fit([X1, bad])
    with pytest.raises(
        ValueError,
        match=r"n_components=10 must be at most 4, the number of features in the narrowest view "
        r"\('view1'\)",
    ):
        CCA(10).fit([X1, X2[:, :4]])
    with pytest.raises(ValueError, match="CCA requires exactly 2 views, got 3"):
        CCA(2).fit([X1, X2, X2])
    with pytest.raises(ValueError, match="MCCA got 1 view. At least 2 views are required"):
        MCCA(2).fit([X1])
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
    model = CCA(2, reg=1e-3).fit(train)
    with pytest.raises(ValueError, match=r"X for view 'left' has shape \(5, 10\); expected"):
        model.transform_view("left", np.zeros((5, 10)))
    with pytest.raises(ValueError, match="view 'top' does not exist"):
        model.transform_view("top", X1)
    with pytest.raises(ValueError, match="fitted on \\['left', 'right'\\]"):
        model.transform({"a": X1, "b": X2})
    with pytest.raises(
        ValueError,
        match="'reg' must be a scalar or a list of length 2 \\(one value per view\\); got 3 values",
    ):
        CCA(2, reg=[0.1, 0.1, 0.1]).fit(train)
    with pytest.raises(ValueError, match="'n_components' parameter of CCA .* Got 0 instead"):
        CCA(0).fit(train)
