"""Caption word dropout and feature noise for the robustness measurements."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.data.noise import drop_words, gaussian_noise

CAPTIONS = ["a red fox jumps over the lazy dog", "sun", "two cats on a blue sofa", ""]


def test_word_dropout_drops_about_the_rate_keeps_order_and_never_empties_a_caption():
    many = CAPTIONS[:3] * 400
    out = drop_words(many, 0.3, seed=1)
    kept = sum(len(o.split()) for o in out) / sum(len(c.split()) for c in many)
    assert 0.66 < kept < 0.74
    for original, noisy in zip(many, out):
        words = original.split()
        assert noisy  # at least one word, even at a high rate
        it = iter(words)
        assert all(w in it for w in noisy.split())  # a subsequence: order kept
    assert drop_words(CAPTIONS, 0.95, seed=2)[1] == "sun"
    assert drop_words(CAPTIONS, 0.5)[3] == ""


def test_word_dropout_is_seeded_and_zero_changes_nothing():
    assert drop_words(CAPTIONS, 0.5, seed=3) == drop_words(CAPTIONS, 0.5, seed=3)
    assert drop_words(CAPTIONS * 5, 0.5, seed=3) != drop_words(CAPTIONS * 5, 0.5, seed=4)
    assert drop_words(["  spaced   words "], 0.0) == ["spaced words"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="rate=1"):
        drop_words(CAPTIONS, 1)
    with pytest.raises(ValueError, match="caption 1 is a int"):
        drop_words(["ok", 3], 0.1)
    with pytest.raises(ValueError, match="sigma=-1"):
        gaussian_noise(np.zeros((2, 2)), -1)


def test_gaussian_noise_has_the_given_spread_and_leaves_the_input():
    X = np.ones((4000, 5))
    Y = gaussian_noise(X, 0.5, seed=0)
    assert (X == 1).all() and abs((Y - X).std() - 0.5) < 0.01
    np.testing.assert_array_equal(Y, gaussian_noise(X, 0.5, seed=0))
