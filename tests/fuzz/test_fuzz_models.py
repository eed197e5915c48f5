"""Fuzz corpus of saved model directories (CCA, KCCA and a small DCCA): each mutated
directory either fails to load with one clear error naming it, or loads a model whose
transform equals the original's exactly — never a silently different model. See
:mod:`fuzz_oracle` for the pass criteria and :mod:`fuzz_models` for the mutations."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from fuzz_models import MUTATIONS, apply
from fuzz_oracle import Tally, fuzz_settings
from hypothesis import given

#: inputs per model class in the default run; the slow run multiplies them by SLOW_FACTOR
COUNTS = {"CCA": 200, "KCCA": 150, "DCCA": 120}
SLOW_FACTOR = 4


def make_model(name: str):
    from jointspace.models import CCA, DCCA, KCCA

    if name == "CCA":
        return CCA(n_components=2, reg=1e-3)
    if name == "KCCA":
        return KCCA(n_components=2, reg=1e-3)
    return DCCA(n_components=2, hidden=(8,), training={"epochs": 1, "progress": False})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each model fitted on small data and saved, with test views and its transform of them:
    name → (model directory, views .npz, reference .npz)."""
    root = tmp_path_factory.mktemp("saved-models")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(80, 2))
    views = [z @ rng.normal(size=(2, 5)) + 0.1 * rng.normal(size=(80, 5)) for _ in range(2)]
    np.savez(root / "views.npz", v0=views[0][:20], v1=views[1][:20])
    out = {}
    for name in COUNTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make_model(name).fit(views)
        model.save(root / name)
        ref = root / f"{name}-reference.npz"
        np.savez(
            ref,
            **{f"v{i}": z for i, z in enumerate(model.transform([views[0][:20], views[1][:20]]))},
        )
        real = root / name
        out[name] = (
            real.parent / os.readlink(real) if real.is_symlink() else real,
            root / "views.npz",
            ref,
        )
    return out


def fuzz_model(worker, saved, tmp_path: Path, name: str, n: int) -> None:
    original, views, reference = saved[name]
    target = tmp_path / "model-under-test"
    tally = Tally(f"model/{name}")

    @fuzz_settings(n)
    @given(MUTATIONS)
    def run(mutations: list[dict]) -> None:
        key = apply(original, target, mutations)
        task = {
            "kind": "model",
            "path": str(target),
            "views": str(views),
            "reference": str(reference),
            "mutations": mutations,
        }
        tally.check(worker, task, [target.name], key + json.dumps(mutations).encode())

    run()
    tally.finish(n)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_mutated_model_directories(worker, saved, tmp_path, name):
    fuzz_model(worker, saved, tmp_path, name, COUNTS[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COUNTS))
def test_mutated_model_directories_full(worker, saved, tmp_path, name):
    fuzz_model(worker, saved, tmp_path, name, COUNTS[name] * SLOW_FACTOR)
