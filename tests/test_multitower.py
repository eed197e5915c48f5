"""N towers in one space: the pairwise contrastive loss against a direct computation, and
two views related only through a third (no sample pairs them in training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jointspace.data import MultiView, load_dataset, train_test_split
from jointspace.losses import InfoNCELoss, SigLIPLoss
from jointspace.losses.multiview import pairwise_contrastive, view_pairs
from jointspace.metrics import cross_modal_retrieval
from jointspace.models import JointModel
from jointspace.models.deep.contrastive import ContrastiveDualEncoder
from jointspace.models.factory import make_model


def _clip_loss_by_hand(A: np.ndarray, B: np.ndarray, groups: np.ndarray, scale: float) -> float:
    """CLIP's symmetric InfoNCE with groups, written out: for anchor i and each positive
    j, −log(e^{l_ij} / (e^{l_ij} + Σ_{negatives n} e^{l_in})), averaged per row, then over
    rows, then over both directions."""
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    sides = []
    for S in (scale * A @ B.T, scale * B @ A.T):
        rows = []
        for i in range(len(S)):
            pos = groups == groups[i]
            neg_sum = np.exp(S[i][~pos]).sum()
            rows.append(np.mean([-np.log(np.exp(S[i, j]) / (np.exp(S[i, j]) + neg_sum))
                                 for j in np.flatnonzero(pos)]))
        sides.append(np.mean(rows))
    return float(np.mean(sides))


def test_view_pairs_all_and_anchored():
    assert view_pairs(3) == [(0, 1), (0, 2), (1, 2)]
    assert view_pairs(4, anchor=2) == [(2, 0), (2, 1), (2, 3)]
    assert view_pairs(2, anchor=1) == [(1, 0)]
    with pytest.raises(ValueError, match="at least 2 views"):
        view_pairs(1)
    with pytest.raises(ValueError, match="anchor view 3"):
        view_pairs(3, anchor=3)


@pytest.mark.parametrize("anchor", [None, 1])
def test_pairwise_loss_equals_the_mean_of_pair_losses_by_hand(anchor):
    """Three views, a mask in which some rows lack a view and one pair never meets in the
    batch's first rows: the loss is the mean, over pairs with at least two rows that have
    both views, of CLIP's loss on those rows, computed independently in numpy."""
    rng = np.random.default_rng(0)
    m, k = 12, 5
    Z = [rng.normal(size=(m, k)) for _ in range(3)]
    groups = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9])
    mask = np.ones((m, 3), dtype=bool)
    mask[:5, 2] = False  # rows 0-4 lack view 2
    mask[5:9, 0] = False  # rows 5-8 lack view 0
    mask[11, 1] = False
    objective = InfoNCELoss(init_temperature=0.1, learn_temperature=False)
    scale = float(objective.scale)
    pairs = view_pairs(3, anchor)
    loss, per_pair = pairwise_contrastive(
        objective, [torch.tensor(z, dtype=torch.float64) for z in Z], pairs,
        torch.tensor(groups), torch.tensor(mask))
    expected = {}
    for i, j in pairs:
        rows = mask[:, i] & mask[:, j]
        expected[(i, j)] = _clip_loss_by_hand(Z[i][rows], Z[j][rows], groups[rows], scale)
    assert set(per_pair) == set(expected)
    for pair, value in expected.items():
        assert float(per_pair[pair]) == pytest.approx(value, rel=1e-9)
    assert float(loss) == pytest.approx(np.mean(list(expected.values())), rel=1e-9)


def test_a_pair_with_fewer_than_two_rows_is_left_out():
    rng = np.random.default_rng(1)
    Z = [torch.tensor(rng.normal(size=(6, 4))) for _ in range(3)]
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[1:, 2] = False  # view 2 only on row 0: its pairs have one row
    loss, per_pair = pairwise_contrastive(SigLIPLoss(), Z, view_pairs(3), torch.arange(6), mask)
    assert set(per_pair) == {(0, 1)}
    assert float(loss.detach()) == pytest.approx(float(per_pair[(0, 1)].detach()))
    none, empty = pairwise_contrastive(SigLIPLoss(), Z, [(0, 2)], torch.arange(6), mask)
    assert empty == {} and float(none) == 0.0 and none.requires_grad is False


def _no_first_last_pairs(train: MultiView, names: list[str]) -> MultiView:
    """The training rows with the first and last views never in one row: half keep views
    (0, 1), the other half views (1, 2)."""
    n = train.n_samples
    mask = np.ones((n, 3), dtype=bool)
    half = np.random.default_rng(0).permutation(n) < n // 2
    mask[half, 2] = False
    mask[~half, 0] = False
    arrays = {v: np.where(mask[:, [i]], train[v], np.nan) for i, v in enumerate(names)}
    return MultiView(arrays, mask=mask, labels=train.labels)


def test_two_views_never_paired_in_training_are_searched_through_the_third():
    """uci-mfeat, real digits: Fourier coefficients and Karhunen–Loève coefficients never
    occur in one training row (each is paired only with the pixel view). Fourier → KL
    retrieval of held-out digits (the same digit's other view) is far above chance.
    Anchoring on the pixel view gives the same model here, since no row holds the one
    pair that anchoring leaves out."""
    data = load_dataset("uci-mfeat")
    names = ["fou", "pix", "kar"]
    mv = MultiView({v: data[v] for v in names}, labels=data.labels)
    train, test = train_test_split(mv, test_size=400, random_state=0)
    split = _no_first_last_pairs(train, names)
    assert not (split.mask[:, 0] & split.mask[:, 2]).any()
    options = {"epochs": 15, "progress": False}
    model = ContrastiveDualEncoder(64, training=options).fit(split)
    Z = model.transform(test)
    report = cross_modal_retrieval(Z[0], Z[2], ks=(1, 10))
    chance_r10 = 100 * 10 / test.n_samples
    assert report["a→b"]["R@10"] > 8 * chance_r10
    assert report["b→a"]["R@10"] > 8 * chance_r10
    anchored = ContrastiveDualEncoder(64, anchor="pix", training=options).fit(split)
    np.testing.assert_allclose(anchored.transform(test)[0], Z[0], atol=1e-5)


def test_anchor_leaves_out_the_pairs_without_it_and_saves(tmp_path):
    """On fully paired views, anchoring on one view trains a different model than
    contrasting all pairs; the anchor survives save and load, and an anchor that is not a
    view is an error naming the views."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(90, 4))
    views = {v: base @ rng.normal(size=(4, 6)) + 0.1 * rng.normal(size=(90, 6))
             for v in ("a", "b", "c")}
    options = {"epochs": 3, "progress": False}
    every = make_model("dual-encoder:n_components=16", training=options).fit(views)
    anchored = make_model("dual-encoder:n_components=16:anchor=a", training=options).fit(views)
    assert anchored.anchor == "a"
    assert not np.allclose(every.transform_view("b", views["b"]),
                           anchored.transform_view("b", views["b"]))
    anchored.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    assert loaded.anchor == "a"
    np.testing.assert_allclose(loaded.transform_view("c", views["c"]),
                               anchored.transform_view("c", views["c"]), atol=1e-6)
    with pytest.raises(ValueError, match=r"anchor='d' is not a view.*'a', 'b', 'c'"):
        ContrastiveDualEncoder(16, anchor="d", training=options).fit(views)


def test_dgcca_fits_when_no_row_has_every_view():
    """DGCCA's linear head is fitted on the complete rows; with none (two views never in one
    row) it is fitted on every row, the outputs a row lacks filled by ridge regression."""
    from jointspace.models.deep import DGCCA

    data = load_dataset("uci-mfeat")
    names = ["fou", "pix", "kar"]
    mv = MultiView({v: data[v][:600] for v in names}, labels=data.labels[:600])
    split = _no_first_last_pairs(mv, names)
    model = DGCCA(4, hidden=(32,), training={"epochs": 3, "progress": False}).fit(split)
    Z = model.transform(MultiView({v: data[v][600:800] for v in names}))
    assert all(z.shape == (200, 4) and np.isfinite(z).all() for z in Z)
    assert len(model.head_weights_) == 3


def test_text_with_several_media_defaults_to_towers_bound_to_the_text():
    """The model a user gets for raw text with two or more other media (the CLI's default):
    the N-tower dual encoder anchored on text, each view with its modality's tower; text
    with one medium keeps that pair's defaults."""
    from jointspace.pipeline.chains import MEDIA_TOWERS, default_model

    raw = MultiView({"audio": ["a.wav"] * 4, "text": ["t"] * 4, "image": ["i.png"] * 4})
    spec, params = default_model(raw)
    assert spec == "dual-encoder" and params["anchor"] == "text"
    assert params["tower"] == [MEDIA_TOWERS["audio"], "linear", MEDIA_TOWERS["image"]]
    pair_spec, pair = default_model(raw.select(["image", "text"]))
    assert pair_spec == "dual-encoder" and "anchor" not in pair
