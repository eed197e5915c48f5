"""Text encoder ``tfidf``: TF-IDF bag of words (the neural text encoders are in
:mod:`jointspace.encoders.sentence`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from jointspace.encoders.base import Encoder, check_texts, register


@register("tfidf")
class TfidfEncoder(Encoder):
    """TF-IDF bag of words (scikit-learn ``TfidfVectorizer``), as a dense float32 array.

    Args:
        max_features: keep the most frequent terms only (None: all).
        sublinear_tf: use 1 + log(tf).
        ngram_range: (min_n, max_n) word n-grams.
        min_df: ignore terms in fewer documents (int) or a smaller fraction (float).
        lowercase: lowercase before tokenizing.
        stop_words: ``"english"`` or None.

    ``transform`` returns (n, n_terms) float32 rows with unit L2 norm (all zeros for a
    text with no known term).
    """

    input_kind = "text"
    stateful = True

    def __init__(
        self,
        max_features: int | None = 4096,
        sublinear_tf: bool = True,
        ngram_range: tuple[int, int] = (1, 1),
        min_df: int | float = 1,
        lowercase: bool = True,
        stop_words: str | None = None,
    ) -> None:
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.lowercase = lowercase
        self.stop_words = stop_words

    def _vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(
            max_features=self.max_features,
            sublinear_tf=self.sublinear_tf,
            ngram_range=tuple(self.ngram_range),
            min_df=self.min_df,
            lowercase=self.lowercase,
            stop_words=self.stop_words,
            dtype=np.float32,
        )

    def fit(self, X: Any, y: Any = None) -> TfidfEncoder:
        """Learn the vocabulary and idf weights from the n texts ``X``."""
        texts = check_texts(X, self.name)
        if not texts:
            raise ValueError("text encoder 'tfidf' got 0 texts to fit; expected at least 1")
        try:
            self.vectorizer_ = self._vectorizer().fit(texts)
        except ValueError as exc:  # e.g. "empty vocabulary"
            raise ValueError(
                f"text encoder 'tfidf' could not fit on {len(texts)} texts: {exc}"
            ) from exc
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, n_terms) float32 TF-IDF rows of the n texts ``X``."""
        self._check_fitted()
        texts = check_texts(X, self.name)
        return self.vectorizer_.transform(texts).toarray().astype(np.float32, copy=False)

    def _get_state(self) -> dict[str, Any]:
        if not hasattr(self, "vectorizer_"):
            return {}
        vocab = self.vectorizer_.vocabulary_
        terms = sorted(vocab, key=vocab.__getitem__)
        return {"terms": terms, "idf": np.asarray(self.vectorizer_.idf_, dtype=np.float64)}

    def _set_state(self, state: dict[str, Any]) -> None:
        vec = self._vectorizer()
        vec.vocabulary_ = {t: i for i, t in enumerate(state["terms"])}
        vec.idf_ = np.asarray(state["idf"])
        self.vectorizer_ = vec
