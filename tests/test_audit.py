"""Mismatched-pair detection (issue 12, item 6): `consistency_scores` against a direct loop,
`shuffle_pairs`, real sets where shuffled pairs must score lower than true ones, and
`jointspace audit` (table, --json, the recorded data and split, --shuffle-fraction)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp
from test_cli_own_data import run

from jointspace.metrics import CONSISTENCY_METHODS, consistency_scores, mismatch_detection
from jointspace.metrics.relevance import normalize_caption
from jointspace.pipeline import pair_consistency, shuffle_pairs


# ------------------------------------------------------------------ the scores, by a loop
def loop_scores(A, B, groups, method, k=10, temperature=0.01):
    """Each pair's score written out pair by pair, from the definitions in the module."""
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    n = len(A)
    out = []
    for i in range(n):
        own = float(A[i] @ B[i])
        others = [j for j in range(n) if groups[j] != groups[i]]
        to_captions = [float(A[i] @ B[j]) for j in others]  # the image's other captions
        to_images = [float(A[j] @ B[i]) for j in others]  # the caption's other images
        if method == "cosine":
            out.append(own)
        elif method == "margin":
            out.append(own - max(max(to_captions), max(to_images)))
        elif method == "csls":
            top = [np.mean(sorted(s, reverse=True)[:k]) for s in (to_captions, to_images)]
            out.append(2 * own - top[0] - top[1])
        else:
            logp = [own / temperature - logsumexp(np.array([own, *s]) / temperature)
                    for s in (to_captions, to_images)]
            out.append(logp[0] + logp[1])
    return np.array(out)


@pytest.mark.parametrize("method", CONSISTENCY_METHODS)
def test_scores_equal_a_direct_loop(rng, method):
    A, B = rng.normal(size=(37, 6)), rng.normal(size=(37, 6)) * 3.0  # any scale
    groups = rng.integers(0, 15, size=37)  # several captions of one image share a group
    got = consistency_scores(A, B, groups=groups, method=method, k=3, temperature=0.2,
                             chunk_size=5)  # blocks that do not divide n
    want = loop_scores(A, B, groups, method, k=3, temperature=0.2)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # without groups every row is its own group
    np.testing.assert_allclose(consistency_scores(A, B, method=method, k=3, temperature=0.2),
                               loop_scores(A, B, np.arange(37), method, k=3, temperature=0.2),
                               rtol=1e-10, atol=1e-10)


def test_a_swapped_pair_scores_lowest_and_groups_do_not_compete():
    # four images, each with its own direction; image 0 has two captions (one group)
    A = np.eye(4)[[0, 0, 1, 2, 3]]
    B = np.eye(4)[[0, 0, 1, 2, 3]] + 0.1
    B[[3, 4]] = B[[4, 3]]  # rows 3 and 4 trade captions
    groups = np.array([0, 0, 1, 2, 3])
    margin = consistency_scores(A, B, groups=groups)
    assert set(np.argsort(margin)[:2]) == {3, 4}
    assert margin[0] > 0 and margin[1] > 0  # the twin caption of image 0 is no competitor
    # counted as separate groups, the twin captions tie: no margin left
    np.testing.assert_allclose(consistency_scores(A, B)[:2], 0.0, atol=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"b": np.ones((5, 4))}, "expected the same"),
    ({"groups": np.zeros(6)}, "at least two"),
    ({"method": "bogus"}, "method='bogus'"),
    ({"method": "csls", "k": 6}, "k=6"),
    ({"k": 0}, "k=0"),
    ({"temperature": 0.0}, "temperature"),
    ({"chunk_size": 0}, "chunk_size"),
])
def test_bad_input_is_named(rng, kwargs, message):
    args = {"a": rng.normal(size=(6, 3)), "b": rng.normal(size=(6, 3)), **kwargs}
    with pytest.raises(ValueError, match=message):
        consistency_scores(args.pop("a"), args.pop("b"), **args)


def test_mismatch_detection_figures():
    scores = np.array([0.1, -0.5, 0.3, -0.2, np.nan, 0.9])
    bad = np.array([False, True, False, False, True, True])
    got = mismatch_detection(scores, bad)  # the NaN row is left out
    assert got["n_pairs"] == 5 and got["n_mismatched"] == 2
    # mismatched: -0.5 (below all 3 true pairs) and 0.9 (above all): 3 of 6 orderings right
    assert got["roc_auc"] == pytest.approx(0.5)
    assert got["precision_at_m"] == 0.5  # the two lowest: -0.5 (shuffled), -0.2 (not)
    with pytest.raises(ValueError, match="expected some of each"):
        mismatch_detection(scores, np.zeros(6, bool))


def test_shuffle_pairs_swaps_a_fraction_and_counts_only_real_mismatches():
    from jointspace import MultiView

    captions = ["a cat", "A  cat", "a dog", "a bird", "a fish", "a cow", "a hen", "a pig"]
    data = MultiView({"image": [f"{i}.png" for i in range(8)], "text": captions},
                     groups=np.array([0, 1, 2, 3, 4, 5, 6, 6]))
    for seed in range(20):
        shuffled, bad = shuffle_pairs(data, "text", 0.5, seed)
        source = shuffled.meta["shuffled"]["source"]
        moved = np.flatnonzero(source != np.arange(8))
        assert len(moved) == 4 and sorted(source[moved]) == sorted(moved)  # among themselves
        assert shuffled["image"] == data["image"] and shuffled["text"] == [captions[s]
                                                                           for s in source]
        for i in range(8):  # mismatched: a new caption its group does not have
            own = {normalize_caption(captions[j]) for j in range(8)
                   if data.groups[j] == data.groups[i]}
            assert bad[i] == (normalize_caption(shuffled["text"][i]) not in own)
        assert not bad[np.setdiff1d(np.arange(8), moved)].any()
    with pytest.raises(ValueError, match="at least two"):
        shuffle_pairs(data, "text", 0.1, 0)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        shuffle_pairs(data, "text", 1.0, 0)


# ------------------------------------------------------------------ real sets
def test_shuffled_digit_halves_score_lower_with_cca(mnist_split):
    """mnist-halves, CCA fitted on the training split, 5 % of the test rows' right halves
    swapped. A score unrelated to the swap gives AUC 0.5 ± 0.04 here (50 of 1,000 pairs
    mismatched), so 0.95 is ten standard deviations above chance; measured 0.983-0.995 on
    seeds 0-4 (margin), 0.982-0.988 for raw cosine."""
    from jointspace.models import CCA

    _, _, train, test = mnist_split
    model = CCA(n_components=50, reg=1e-3).fit(train)
    for seed in range(3):
        shuffled, bad = shuffle_pairs(test, "right", 0.05, seed)
        assert bad.sum() == 50  # digit halves are never identical
        scores = pair_consistency(model, shuffled)
        assert mismatch_detection(scores, bad)["roc_auc"] > 0.95, seed
    # a JointModel takes a list of arrays too
    arrays = [a.copy() for a in test.arrays()]
    np.testing.assert_allclose(pair_consistency(model, arrays), pair_consistency(model, test))


def test_shuffled_photo_captions_score_lower(photo_folder, photo_pipeline):
    """The 24 photo crops with two captions each, CCA on tf-idf and HOG + colour histograms:
    a quarter of the captions swapped (11-12 mismatched pairs; a swap between crops of one
    photo is counted although the caption is then nearly right). Chance is 0.5 ± 0.10 here;
    measured 0.93-1.0 per seed, 0.975 over seeds 0-3."""
    from jointspace import Pipeline
    from jointspace.data import from_folder

    root, captions = photo_folder
    data = from_folder(root, captions, label_column="label")
    pipe = Pipeline.load(photo_pipeline)
    aucs = []
    for seed in range(4):
        shuffled, bad = shuffle_pairs(data, "text", 0.25, seed)
        aucs.append(mismatch_detection(pair_consistency(pipe, shuffled), bad)["roc_auc"])
    assert np.mean(aucs) > 0.9 and min(aucs) > 0.8, aucs


# ------------------------------------------------------------------ the command
@pytest.fixture(scope="module")
def fitted(photo_folder, tmp_path_factory) -> Path:
    """A pipeline fitted by `jointspace fit` on the photo folder (its manifest records the
    folder and the split), as a user would have one."""
    root, captions = photo_folder
    out = tmp_path_factory.mktemp("audit") / "photos"
    run("fit", "--images", root, "--captions", captions, "--label-column", "label",
        "--encoders", "text=tfidf,image=hog+color-hist", "--model", "cca",
        "--n-components", "4", "--reg", "0.1", "--test-size", "0.25", "--out", out, "--json")
    return out


def test_audit_json_lists_every_pair_by_its_score(fitted, photo_folder):
    from jointspace import Pipeline
    from jointspace.data import from_folder

    root, captions = photo_folder
    got = json.loads(run("audit", fitted, "--json").stdout)  # the data it was fitted on
    data = from_folder(root, captions, label_column="label")
    want = pair_consistency(Pipeline.load(fitted), data)
    assert got["n_pairs"] == len(data) == 48 and got["split"] == "all"
    pairs = got["pairs"]
    assert [p["rank"] for p in pairs] == list(range(1, 49))
    assert [p["score"] for p in pairs] == sorted(p["score"] for p in pairs)
    by_id = {str(i): (s, path, text) for i, s, path, text in
             zip(data.ids, want, data["image"], data["text"])}
    for p in pairs:
        score, path, text = by_id[p["id"]]
        assert p["score"] == pytest.approx(score, abs=1e-9)
        assert (p["image"], p["text"]) == (str(path), text)


def test_audit_table_and_held_out_split(fitted, photo_folder):
    from jointspace.data import from_folder, train_test_split

    proc = run("audit", fitted, "--top", "5", "--shuffle-fraction", "0.25", "--seed", "2")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert "5 least consistent of 48 pairs" in " ".join(proc.stdout.split())
    assert len(lines) == 5 and lines[0].split("│")[1].strip() == "1"
    assert any(c in proc.stdout for c in ("photo 0 of", "an astronaut", "a ginger cat",
                                          "a cup of coffee", "galaxies"))
    assert "ROC AUC" in proc.stdout and "pairs mismatched" in proc.stdout
    root, captions = photo_folder
    _, test = train_test_split(from_folder(root, captions, label_column="label"), 0.25,
                               random_state=0)  # the split fit recorded
    held_out = json.loads(run("audit", fitted, "--split", "test", "--json").stdout)
    assert sorted(p["id"] for p in held_out["pairs"]) == sorted(map(str, test.ids))


def test_audit_shuffle_fraction_reports_the_auc(fitted, photo_folder):
    from jointspace import Pipeline
    from jointspace.data import from_folder

    root, captions = photo_folder
    got = json.loads(run("audit", fitted, "--images", root, "--captions", captions,
                         "--shuffle-fraction", "0.25", "--seed", "2", "--json").stdout)
    shuffled, bad = shuffle_pairs(from_folder(root, captions), "text", 0.25, 2)
    want = mismatch_detection(pair_consistency(Pipeline.load(fitted), shuffled), bad)
    assert got["shuffle"]["roc_auc"] == pytest.approx(want["roc_auc"], abs=1e-12)
    assert got["shuffle"]["n_mismatched"] == want["n_mismatched"] == sum(
        p["shuffled"] for p in got["pairs"])


def test_audit_new_data_has_no_split(fitted, photo_folder):
    root, captions = photo_folder
    proc = run("audit", fitted, "--images", root, "--captions", captions, "--split", "test",
               ok=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--split test needs the pipeline's own data" in proc.stderr


# ------------------------------------------------------------------ the acceptance
FEATURES = Path("~/.cache/jointspace/features").expanduser()
DEFAULT_PIPELINE = Path(__file__).resolve().parents[1] / "runs" / "openclipart"


@pytest.mark.slow
def test_openclipart_shuffled_captions_are_ranked_first(tmp_path):
    """Issue 12's acceptance: 5 % of the OpenClipArt test captions shuffled; `audit` with the
    default dual encoder ranks the shuffled pairs first with ROC AUC ≥ 0.95 (measured
    0.972-0.996 over seeds 0-9, `benchmarks/bench_audit.py`). Uses the pipeline `make demo`
    saves to runs/openclipart when there is one (about 30 s per audit on an idle machine),
    else fits it with the README's command (6.5 CPU-minutes with the feature cache; 14 minutes
    on the loaded 2-core machine; JOINTSPACE_REFIT=1 forces it)."""
    pipeline = DEFAULT_PIPELINE
    if not (pipeline / "manifest.json").is_file() or os.environ.get("JOINTSPACE_REFIT"):
        pipeline = tmp_path / "openclipart"
        run("fit", "--dataset", "openclipart:size=224:split=train+val", "--cache-dir",
            FEATURES, "--out", pipeline, "--json")
    for seed in (0, 1, 2):
        got = json.loads(run("audit", pipeline, "--split", "test", "--cache-dir", FEATURES,
                             "--shuffle-fraction", "0.05", "--seed", str(seed),
                             "--json").stdout)
        assert got["n_pairs"] == 822 and got["shuffle"]["n_mismatched"] >= 35
        assert got["shuffle"]["roc_auc"] >= 0.95, (seed, got["shuffle"])
