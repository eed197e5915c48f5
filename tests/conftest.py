"""Shared fixtures: real datasets and their standard splits, loaded once per session."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from jointspace import load_dataset, train_test_split


@pytest.fixture(scope="session")
def mnist_split():
    """mnist-halves, stratified 4,000 / 1,000 split: (train arrays, test arrays, train, test)."""
    train, test = train_test_split(load_dataset("mnist-halves"), 0.2, random_state=0)
    return train.arrays(), test.arrays(), train, test


@pytest.fixture(scope="session")
def mfeat_split():
    """uci-mfeat, 1,600 / 400 split, each view standardized on the training rows."""
    train, test = train_test_split(load_dataset("uci-mfeat"), 0.2, random_state=0)
    scalers = [StandardScaler().fit(a) for a in train.arrays()]
    tr = [s.transform(a) for s, a in zip(scalers, train.arrays())]
    te = [s.transform(a) for s, a in zip(scalers, test.arrays())]
    return tr, te, train.view_names


@pytest.fixture
def rng():
    return np.random.default_rng(0)
