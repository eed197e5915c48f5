"""Noise for robustness checks: caption word dropout and Gaussian feature noise, seeded, on
copies (the input is never changed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def drop_words(captions: Sequence[str], rate: float, seed: int = 0) -> list[str]:
    """Each word of each caption dropped with probability ``rate`` (at least one word kept,
    so no caption becomes empty).

    Args:
        captions: n strings; words are split at whitespace and joined with single spaces.
        rate: in [0, 1).
        seed: the same seed drops the same words.
    Returns:
        n strings.
    Raises:
        ValueError: ``rate`` outside [0, 1), or a caption that is not a string.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"rate={rate!r}; expected a number in [0, 1)")
    rng = np.random.default_rng(seed)
    out = []
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise ValueError(f"caption {i} is a {type(caption).__name__}; expected a string")
        words = caption.split()
        keep = rng.random(len(words)) >= rate
        if words and not keep.any():
            keep[rng.integers(len(words))] = True
        out.append(" ".join(w for w, k in zip(words, keep) if k))
    return out


def gaussian_noise(X: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """``X`` (n, d) plus N(0, σ²) noise on every entry (a new array).

    Raises:
        ValueError: ``sigma`` negative or not finite.
    """
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma={sigma!r}; expected a finite number ≥ 0")
    X = np.asarray(X, dtype=np.float64)
    return X + sigma * np.random.default_rng(seed).normal(size=X.shape)
