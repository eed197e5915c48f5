"""Deep CCA family on the shared trainer: reference agreement, determinism, persistence,
checkpoints, missing views and the files it writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from jointspace import MultiView, load_dataset
from jointspace.models import CCA, MCCA, JointModel
from jointspace.models.deep import DCCA, DCCAE, DGCCA

FAST = {"hidden": (64,), "training": {"progress": False, "epochs": 3, "batch_size": 100}}


def fast(**training):
    """FAST with some training options changed."""
    return {**FAST, "training": {**FAST["training"], **training}}


@pytest.fixture(scope="module")
def digits():
    """600 real digit halves for training and 200 for testing, as MultiViews."""
    data = load_dataset("mnist-halves")
    return data.subset(np.arange(0, 3000, 5)), data.subset(np.arange(1, 1000, 5))


def test_linear_towers_reach_linear_cca(mfeat_split):
    """With linear towers and enough full-batch epochs, DCCA finds linear CCA's subspace."""
    train, _, _ = mfeat_split
    views = [train[0], train[2]]  # fou (76) and kar (64), standardized
    k = 5
    reference = CCA(k, reg=1e-4).fit(views).canonical_correlations_
    model = DCCA(
        k,
        tower="linear",
        reg=1e-4,
        head_reg=1e-4,
        training={
            "epochs": 400,
            "lr": 1e-2,
            "batch_size": len(views[0]),
            "schedule": "constant",
            "val_fraction": 0,
            "progress": False,
        },
    ).fit(views)
    np.testing.assert_allclose(model.canonical_correlations_, reference, atol=1e-2)
    assert model.canonical_correlations_.sum() == pytest.approx(reference.sum(), abs=1e-2)


def test_same_seed_same_weights_other_seed_differs(digits):
    train, test = digits
    a = DCCA(5, random_state=3, **FAST).fit(train)
    b = DCCA(5, random_state=3, **FAST).fit(train)
    c = DCCA(5, random_state=4, **FAST).fit(train)
    for (name, wa), wb in zip(a.network_.state_dict().items(), b.network_.state_dict().values()):
        assert torch.equal(wa, wb), name
    np.testing.assert_array_equal(a.transform(test)[0], b.transform(test)[0])
    assert not np.allclose(a.transform(test)[0], c.transform(test)[0])


@pytest.mark.parametrize("cls", [DCCA, DCCAE, DGCCA])
def test_save_load_transform_identical(cls, digits, tmp_path):
    train, test = digits
    model = cls(5, **FAST).fit(train)
    model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    assert type(loaded) is cls
    for za, zb in zip(model.transform(test), loaded.transform(test)):
        np.testing.assert_array_equal(za, zb)
    np.testing.assert_array_equal(
        model.transform_view("right", test["right"][:3]),
        loaded.transform_view("right", test["right"][:3]),
    )


def test_transform_gives_whitened_canonical_variates(digits):
    train, _ = digits
    model = DCCA(5, **FAST).fit(train)
    Z1, Z2 = model.transform(train)
    np.testing.assert_allclose(np.cov(Z1.T), np.eye(5), atol=0.05)  # head ridge 1e-4
    corr = [np.corrcoef(Z1[:, j], Z2[:, j])[0, 1] for j in range(5)]
    np.testing.assert_allclose(corr, model.canonical_correlations_, atol=1e-6)
    assert np.all(np.diff(model.canonical_correlations_) <= 1e-9)


def test_dccae_reconstruction_is_trained(digits):
    train, _ = digits
    model = DCCAE(5, recon_weight=1.0, recon_loss="bce", **fast(epochs=6)).fit(train)
    recon = [row["recon"] for row in model.history_]
    assert recon[-1] < recon[0]
    assert {"loss", "corr", "recon", "lr"} <= set(model.history_[0])


def test_dgcca_three_views_beats_mcca_on_training_set(mfeat_split):
    train, _, names = mfeat_split
    views = dict(zip(names[:3], train[:3]))
    linear = MCCA(5, reg=1e-3).fit(views).canonical_correlations_.sum()
    deep = DGCCA(
        5,
        hidden=(256, 256),
        training={"epochs": 40, "batch_size": 400, "val_fraction": 0, "progress": False},
    ).fit(views)
    assert len(deep.network_.towers) == 3
    assert deep.canonical_correlations_.sum() > linear


def test_dgcca_trains_with_missing_views(mfeat_split):
    train, test, names = mfeat_split
    n = len(train[0])
    mask = np.ones((n, 3), dtype=bool)
    mask[: n // 3, 2] = False
    mask[n // 3 : n // 2, 1] = False
    third = train[2].copy()
    third[: n // 3] = np.nan  # unobserved rows may hold anything: they are masked, not filled
    data = MultiView(dict(zip(names[:3], [train[0], train[1], third])), mask=mask)
    model = DGCCA(
        4, hidden=(64,), training={"epochs": 5, "batch_size": 200, "progress": False}
    ).fit(data)
    Z = model.transform(data)
    assert np.isnan(Z[2][: n // 3]).all() and np.isfinite(Z[2][n // 3 :]).all()
    for i, name in enumerate(names[:3]):
        assert model.transform_view(name, test[i]).shape == (len(test[0]), 4)
    assert np.isfinite(model.history_[-1]["loss"])


def test_resume_from_checkpoint_equals_uninterrupted_run(digits, tmp_path):
    train, _ = digits
    opts = {"schedule": "constant", "val_fraction": 0}
    ckpt = str(tmp_path / "ckpt")
    first = DCCA(5, random_state=7, **fast(**opts, epochs=2, checkpoint_dir=ckpt)).fit(train)
    assert sorted(os.listdir(tmp_path / "ckpt")) == [
        "model.safetensors",
        "optimizer.safetensors",
        "trainer.json",
    ]
    resumed = DCCA(
        5, random_state=7, **fast(**opts, epochs=5, checkpoint_dir=ckpt, resume=True)
    ).fit(train)
    straight = DCCA(5, random_state=7, **fast(**opts, epochs=5)).fit(train)
    assert [r["epoch"] for r in resumed.history_] == list(range(5))
    assert resumed.history_[:2] == first.history_
    for wa, wb in zip(
        resumed.network_.state_dict().values(), straight.network_.state_dict().values()
    ):
        torch.testing.assert_close(wa, wb, rtol=0, atol=1e-6)


def test_early_stopping_keeps_the_best_epoch(digits):
    train, _ = digits
    model = DCCA(5, **fast(epochs=30, lr=3e-2, patience=2, val_fraction=0.1)).fit(train)
    scores = [row["val_score"] for row in model.history_]
    assert model.best_epoch_ == int(np.argmax(scores))
    assert len(scores) <= 30 and len(scores) - 1 - model.best_epoch_ <= 2


def test_no_file_written_unless_named(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    DCCA(5, **FAST).fit(digits[0])
    assert os.listdir(tmp_path) == []


def test_user_module_towers_and_cnn_tower(digits, tmp_path):
    train, test = digits
    towers = [nn.Sequential(nn.Linear(392, 32), nn.Tanh(), nn.Linear(32, 5)) for _ in range(2)]
    initial = towers[0][0].weight.detach().clone()
    model = DCCA(5, tower=towers, **FAST).fit(train)
    assert model.network_.towers[0] is towers[0]  # the user's own module, trained in place
    assert not torch.equal(towers[0][0].weight.detach(), initial)
    model.save(tmp_path / "own")
    with pytest.raises(ValueError, match="user-supplied tower .*pass it again"):
        JointModel.load(tmp_path / "own")
    fresh = [nn.Sequential(nn.Linear(392, 32), nn.Tanh(), nn.Linear(32, 5)) for _ in range(2)]
    loaded = DCCA.load(tmp_path / "own", tower=fresh)
    np.testing.assert_array_equal(loaded.transform(test)[0], model.transform(test)[0])
    cnn = DCCA(
        5,
        tower={"kind": "cnn", "image_shape": [1, 28, 14], "channels": [8]},
        **fast(epochs=1),
    ).fit(train)
    assert cnn.transform(test)[0].shape == (len(test), 5)


def test_bad_deep_input_is_named(digits):
    train, _ = digits
    with pytest.raises(ValueError, match="tower has 3 entries; expected one per view"):
        DCCA(5, tower=["mlp"] * 3, **FAST).fit(train)
    with pytest.raises(ValueError, match="'activation' parameter of DCCA .*Got 'swish'"):
        DCCA(5, activation="swish", **FAST).fit(train)
    with pytest.raises(ValueError, match="'schedule' parameter of DCCA .*Got 'linear'"):
        DCCA(5, **fast(schedule="linear")).fit(train)
    with pytest.raises(ValueError, match="DCCA requires exactly 2 views, got 3"):
        DCCA(5, **FAST).fit([train["left"]] * 3)


def test_cnn_channels_last_layout_reads_pixels_encoder_rows():
    """An "hwc" CNN on channels-last rows equals the "chw" CNN on the same images."""
    import torch

    from jointspace.models.deep.towers import CNN

    torch.manual_seed(0)
    chw = CNN(3 * 8 * 8, 5, image_shape=(3, 8, 8)).eval()
    hwc = CNN(3 * 8 * 8, 5, image_shape=(3, 8, 8), layout="hwc").eval()
    hwc.load_state_dict(chw.state_dict())
    images = torch.randn(4, 3, 8, 8)
    channels_last = images.permute(0, 2, 3, 1).reshape(4, -1)
    torch.testing.assert_close(hwc(channels_last), chw(images.reshape(4, -1)))
    with pytest.raises(ValueError, match="layout"):
        CNN(12, 2, image_shape=(3, 2, 2), layout="whc")
