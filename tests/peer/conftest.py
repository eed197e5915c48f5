"""Shared fixtures of the peer suite: cca-zoo 4.0.1's ``tests/conftest.py``, verbatim
but for the import of its helpers."""

from __future__ import annotations

import numpy as np
import pytest

from ._helpers import linear_views


@pytest.fixture
def two_views() -> list[np.ndarray]:
    """Two random views with 50 samples, 10 and 8 features respectively."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal((50, 10)), rng.standard_normal((50, 8))]


@pytest.fixture
def two_views_small() -> list[np.ndarray]:
    """Two small random views (30 samples, 5 features) for kernel methods."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal((30, 5)), rng.standard_normal((30, 5))]


@pytest.fixture
def correlated_views() -> list[np.ndarray]:
    """Two views sharing two factors, giving high canonical correlations."""
    return linear_views(0, 50, (10, 8), noise=0.1)
