"""Numerical edge cases: no made-up correlation from rounding noise, no silent loss of
components, offsets and scales handled, impossible values refused with a clear error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from jointspace.metrics import canonical_correlations
from jointspace.models import CCA, KCCA, MCCA, PLS


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(150, 5))
    b = a @ rng.normal(size=(5, 5)) + 0.1 * rng.normal(size=(150, 5))
    return a, b


@pytest.mark.parametrize("model", [CCA(2), PLS(2), MCCA(2), KCCA(2), KCCA(2, kernel="poly"),
                                   KCCA(2, kernel="linear")], ids=repr)
@pytest.mark.parametrize("flat", ["constant", "zeros", "identical rows"])
def test_a_view_with_nothing_to_correlate_is_a_clear_error(pair, model, flat):
    a, _ = pair
    b = {"constant": np.full((150, 4), 3.0), "zeros": np.zeros((150, 4)),
         "identical rows": np.tile(np.arange(4.0), (150, 1))}[flat]
    with pytest.raises(ValueError, match="view 'view1' is constant on the 150 training rows"):
        model.fit([a, b])


def test_values_whose_products_overflow_are_refused(pair):
    a, b = pair
    with pytest.raises(ValueError, match=r"view 'view0' has values up to .*e\+200.*rescale"):
        CCA(2).fit([a * 1e200, b])


def test_kcca_linear_is_unmoved_by_an_offset(pair):
    a, b = pair
    plain = KCCA(2, kernel="linear").fit([a, b])
    moved = KCCA(2, kernel="linear").fit([a + 1e6, b - 1e6])
    np.testing.assert_allclose(moved.canonical_correlations_, plain.canonical_correlations_,
                               atol=1e-6)
    z = moved.transform([a + 1e6, b - 1e6])
    np.testing.assert_allclose(canonical_correlations(*z), plain.canonical_correlations_,
                               atol=1e-6)
    # and linear CCA on the same data is the reference
    np.testing.assert_allclose(plain.canonical_correlations_,
                               CCA(2, reg=1e-3).fit([a, b]).canonical_correlations_, atol=1e-3)


@pytest.mark.parametrize("model_class", [CCA, MCCA])
@pytest.mark.parametrize("scale", [1e-6, 1e-9, 1e6])
def test_a_feature_in_other_units_is_kept(model_class, scale):
    # the rank cutoff is relative to each feature's scale: CCA is invariant to units, and a
    # correlated feature × 1e-6 must carry its component as it does at unit scale
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 3))
    a = np.c_[z, rng.normal(size=(500, 4))] + 0.3 * rng.normal(size=(500, 7))
    b = np.c_[z @ rng.normal(size=(3, 5)), rng.normal(size=(500, 2))]
    rescaled = a.copy()
    rescaled[:, 0] *= scale
    plain = model_class(3).fit([a, b])
    moved = model_class(3).fit([rescaled, b])
    assert plain.canonical_correlations_[2] > 0.9
    np.testing.assert_allclose(moved.canonical_correlations_, plain.canonical_correlations_,
                               rtol=1e-8)
    # the same weights in the new units (up to each component's sign)
    np.testing.assert_allclose(np.abs(moved.weights_[0][0] * scale),
                               np.abs(plain.weights_[0][0]), rtol=1e-6)


@pytest.mark.parametrize("params, words", [
    ({"degree": 2.5}, "'degree' .* an int in the range \\[1, inf\\). Got 2.5"),
    ({"degree": 0}, "'degree' .* Got 0 instead"),
    ({"gamma": -1.0}, "'gamma' .* Got -1.0 instead"),
    ({"gamma": float("nan")}, "'gamma' .* Got nan"),
    ({"coef0": float("inf")}, "'coef0' .* Got inf"),
    ({"kernel": "sigmoid"}, "'kernel' .* Got 'sigmoid'"),
])
def test_kcca_checks_every_kernel_parameter_whatever_the_kernel(pair, params, words):
    with pytest.raises(ValueError, match=words):
        KCCA(2, **{"kernel": "rbf", **params}).fit(list(pair))


def test_fewer_components_than_asked_are_reported(pair):
    a, b = pair
    low_rank = np.column_stack([a[:, 0], a[:, 0], a[:, 0]])  # three copies: rank 1
    with pytest.warns(UserWarning, match="fitted 1 of the 2 components asked"):
        model = CCA(2).fit([low_rank, b])
    assert model.transform([low_rank, b])[0].shape == (150, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CCA(2).fit([a, b])  # full rank: no warning


@pytest.mark.parametrize("X, words", [
    (np.array([["a", "b", "c", "d", "e"]]), "dtype <U1; expected numbers"),
    (np.array([[1, "x", 3, 4, 5]], dtype=object), "holds non-numbers"),
    (np.zeros((0, 5)), "has no rows"),
    (np.zeros((2, 3)), r"shape \(2, 3\); expected \(m, 5\)"),
    (np.full((1, 5), np.nan), "NaN or inf"),
])
def test_transform_view_checks_its_input_as_fit_does(pair, X, words):
    model = CCA(2).fit(list(pair))
    with pytest.raises(ValueError, match=words):
        model.transform_view(0, X)


def test_numbers_in_object_arrays_are_numbers(pair):
    a, b = pair
    as_objects = CCA(2).fit([a.astype(object), b])
    np.testing.assert_allclose(as_objects.canonical_correlations_,
                               CCA(2).fit([a, b]).canonical_correlations_)
    np.testing.assert_allclose(as_objects.transform_view(0, a[:3].astype(object)),
                               as_objects.transform_view(0, a[:3]))


@pytest.mark.parametrize("reg", [object(), "abc", [0.1, 0.2, 0.3], -1.0])
def test_reg_is_checked_and_named(pair, reg):
    with pytest.raises(ValueError, match="reg"):
        CCA(2, reg=reg).fit(list(pair))
    one = CCA(2, reg=[0.1]).fit(list(pair)).canonical_correlations_  # one value for all
    np.testing.assert_allclose(one, CCA(2, reg=0.1).fit(list(pair)).canonical_correlations_)
