"""Tests for jointspace.bench.report: the Markdown report, its PNG plots and the R@K curves."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.bench import report as report_mod
from jointspace.bench.report import MethodRun, recall_curve, write_report
from jointspace.metrics import canonical_correlations, cross_modal_retrieval

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VIEWS = ("image", "text")
N = 120


def _metrics(za, zb, groups):
    """Real metrics, as bench.evaluate builds them."""
    r = canonical_correlations(za, zb)
    retrieval = cross_modal_retrieval(za, zb, groups_a=groups, groups_b=groups, names=VIEWS)
    return {"corr_sum": float(r.sum()), "correlations": r.tolist(), "retrieval": retrieval}


@pytest.fixture(scope="module")
def data():
    """Three methods on 120 test rows in 60 groups of two (two positives per query)."""
    rng = np.random.default_rng(0)
    groups = np.arange(N) // 2
    latent = rng.normal(size=(N, 8))
    good = (latent + 0.3 * rng.normal(size=(N, 8)), latent + 0.3 * rng.normal(size=(N, 8)))
    mid_latent = latent[:, :6]
    mid = (mid_latent + rng.normal(size=(N, 6)), mid_latent + rng.normal(size=(N, 6)))
    rand = (rng.normal(size=(N, 5)), rng.normal(size=(N, 5)))
    history = [{"epoch": e, "loss": 2.0 / e, "val_score": 0.1 * e} for e in range(1, 9)]
    runs = [
        MethodRun("cca", _metrics(*good, groups), good, 0.0123, correlation_model=True),
        MethodRun("dual-encoder (infonce)", _metrics(*mid, groups), mid, 4.5, history=history),
        MethodRun("random", _metrics(*rand, groups), rand, 0.5),
    ]
    labels = rng.integers(0, 4, N)
    return runs, groups, labels


@pytest.fixture(scope="module")
def full_report(data, tmp_path_factory):
    runs, groups, labels = data
    out = tmp_path_factory.mktemp("report")
    path = write_report(
        out,
        runs,
        dataset="toy-pairs",
        view_names=VIEWS,
        labels=labels,
        groups=groups,
        command="jointspace bench --dataset toy-pairs --report out",
        max_map_points=60,
    )
    return out, path


def _assert_png(path):
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC, path


def test_report_markdown_and_plots(data, full_report):
    runs, _, _ = data
    out, path = full_report
    assert path == out / "report.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark report: toy-pairs")
    assert "```\njointspace bench --dataset toy-pairs --report out\n```" in text
    maps = [f"joint_space_{m}.png" for m in ("pca", "tsne", "umap")]  # the default: all three
    for file in ("recall_at_k.png", "training_curves.png", *maps):
        _assert_png(out / file)
        assert f"]({file})" in text
    _assert_png(out / "correlation_spectrum.png")
    assert "](correlation_spectrum.png)" in text
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporary leftovers

    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    for run in runs:
        cells = [c.strip() for c in rows[run.name].strip("|").split("|")]
        want = [run.name, f"{run.fit_seconds:.2f}"]
        for d in ("image→text", "text→image"):
            m = run.metrics["retrieval"][d]
            want += [f"{m['R@1']:.1f}", f"{m['R@5']:.1f}", f"{m['R@10']:.1f}"]
            want += [f"{m['MedR']:.6g}", f"{m['mAP']:.3f}"]
        assert cells == want
    assert "image→text R@10" in rows["method"]


def test_optional_plots_skipped(data, tmp_path):
    runs, _, _ = data
    run = runs[2]  # no history, not a correlation model
    (tmp_path / "report.md").write_text("old report")
    path = write_report(
        tmp_path, [run], dataset="toy", view_names=VIEWS, max_map_points=30, maps="tsne"
    )
    text = path.read_text(encoding="utf-8")
    assert "old report" not in text and "random" in text
    assert not (tmp_path / "training_curves.png").exists()
    assert not (tmp_path / "correlation_spectrum.png").exists()
    assert "training_curves.png" not in text and "correlation_spectrum" not in text
    assert "Command" not in text
    _assert_png(tmp_path / "recall_at_k.png")
    _assert_png(tmp_path / "joint_space_tsne.png")
    assert not (tmp_path / "joint_space_pca.png").exists()


@pytest.mark.parametrize(
    "labels",
    [
        None,
        np.array(["cat", "dog", "eel"] * 40),
        np.arange(N),
        np.array([f"c{i}" for i in range(N)]),
    ],
    ids=["none", "three-strings", "many-ints", "many-strings"],
)
def test_map_label_variants(data, tmp_path, labels):
    runs, groups, _ = data
    write_report(
        tmp_path,
        runs[:1],
        dataset="t",
        view_names=VIEWS,
        labels=labels,
        max_map_points=30,
        maps="pca",
    )
    _assert_png(tmp_path / "joint_space_pca.png")


def test_curve_matches_metrics(data):
    runs, groups, _ = data
    for run in runs:
        za, zb = run.embeddings
        for d, (q, g) in zip(("image→text", "text→image"), ((za, zb), (zb, za))):
            curve = recall_curve(q, g, groups, 100)
            assert curve.shape == (100,)
            for k in (1, 5, 10):
                assert curve[k - 1] == pytest.approx(
                    run.metrics["retrieval"][d][f"R@{k}"], abs=1e-9
                )
            # the whole curve against a direct count: the rank of each query's best
            # same-group match by cosine, other rows scoring ≥ it counted before it
            qn = q / np.linalg.norm(q, axis=1, keepdims=True)
            gn = g / np.linalg.norm(g, axis=1, keepdims=True)
            sims = qn @ gn.T
            same = groups[:, None] == groups[None, :]
            best = np.where(same, sims, -np.inf).max(axis=1)
            ranks = 1 + np.count_nonzero(~same & (sims >= best[:, None]), axis=1)
            expected = [100.0 * np.mean(ranks <= k) for k in range(1, 101)]
            np.testing.assert_allclose(curve, expected, atol=1e-9)


def test_good_method_dominates_random(data):
    runs, groups, _ = data
    good = recall_curve(*runs[0].embeddings, groups)
    rand = recall_curve(*runs[2].embeddings, groups)
    assert np.all(good >= rand)
    assert good[0] > rand[0] + 50
    assert good[9] > 95 and rand[9] < 40


def _brute_force(za, zb, groups, max_k, metric):
    """R@K by sorting each query's gallery on (-score, is_positive): ties rank positives last."""
    za, zb = np.asarray(za, float), np.asarray(zb, float)
    if metric == "cosine":
        za, zb = (
            np.array([r / np.linalg.norm(r) if np.linalg.norm(r) else r for r in z])
            for z in (za, zb)
        )
    n = len(za)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    firsts = []
    for i in range(n):
        scores = [float(za[i] @ zb[j]) for j in range(n)]
        order = sorted(range(n), key=lambda j: (-scores[j], groups[j] == groups[i]))
        firsts.append(next(r for r, j in enumerate(order, 1) if groups[j] == groups[i]))
    return np.array([100.0 * np.mean(np.array(firsts) <= k) for k in range(1, max_k + 1)])


@pytest.mark.parametrize("metric", ["dot", "cosine"])
@pytest.mark.parametrize("seed", range(4))
def test_curve_brute_force_with_ties(seed, metric):
    rng = np.random.default_rng(seed)
    if metric == "dot":  # small integers: many exact ties and zero rows
        za, zb = rng.integers(-1, 2, size=(9, 2)), rng.integers(-1, 2, size=(9, 2))
    else:  # scaled axis vectors and zeros: cosines are exactly -1, 0 or 1, so ties are exact
        axes = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [0, 0]])
        za, zb = (axes[rng.integers(0, 5, 9)] * rng.integers(1, 4, (9, 1)) for _ in range(2))
    groups = np.array([3, 3, 1, 1, 1, 7, 0, 8, 8]) if seed % 2 else None
    got = recall_curve(za, zb, groups, max_k=12, metric=metric, chunk_size=4)
    np.testing.assert_allclose(got, _brute_force(za, zb, groups, 12, metric), atol=1e-12)
    assert got[8:].tolist() == [100.0] * 4  # every first positive is within the 9 items


def test_curve_independent_of_chunk_size(data):
    runs, groups, _ = data
    za, zb = runs[1].embeddings
    full = recall_curve(za, zb, groups)
    assert full.tolist() == recall_curve(za, zb, groups, chunk_size=7).tolist()


def test_curve_all_ties_are_pessimistic():
    z = np.zeros((5, 3))
    assert recall_curve(z, z, max_k=5, metric="dot").tolist() == [0, 0, 0, 0, 100.0]


ONES = np.ones((5, 2))


def _run(za, zb, name="m"):
    return MethodRun(name, {"retrieval": {}}, (za, zb), 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"runs": []}, "runs"),
        ({"runs": [_run(np.ones((5, 2)), np.ones((4, 2)))]}, r"runs\[0\]\.embeddings"),
        ({"runs": [_run(np.ones(5), np.ones(5))]}, r"runs\[0\]\.embeddings\[0\]"),
        ({"runs": [_run(np.ones((5, 2)), np.ones((5, 3)))]}, r"runs\[0\]\.embeddings"),
        ({"runs": [_run(np.ones((5, 2)), np.full((5, 2), np.nan))]}, r"runs\[0\]\.embeddings"),
        ({"runs": [_run(ONES, ONES), _run(np.ones((6, 2)), np.ones((6, 2)), "x")]},
         r"runs\[1\]\.embeddings"),
        ({"runs": [_run(np.ones((5, 2)), np.ones((5, 2)))] * 2}, "duplicate names"),
        ({"labels": np.zeros(4)}, "labels"),
        ({"groups": np.zeros((5, 1))}, "groups"),
        ({"view_names": ("a", "a")}, "view_names"),
        ({"max_map_points": 1}, "max_map_points"),
        ({"runs": [MethodRun("h", {}, (ONES, ONES), 1.0, history=[{"loss": "x"}])]},
         r"runs\[0\]\.history"),
    ],
)  # fmt: skip
def test_write_report_rejects_bad_input(tmp_path, kwargs, match):
    args = {"runs": [_run(np.eye(5, 2), np.eye(5, 2))], "dataset": "d", "view_names": ("a", "b")}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        write_report(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()  # validated before anything is written


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.ones(5), np.ones((5, 2))), {}, "za"),
        ((np.ones((5, 2)), np.ones((4, 2))), {}, "zb"),
        ((np.ones((5, 2)), np.ones((5, 2))), {"max_k": 0}, "max_k"),
        ((np.ones((5, 2)), np.ones((5, 2))), {"groups": [1, 2]}, "groups"),
        ((np.ones((5, 2)), np.ones((5, 2))), {"metric": "l1"}, "metric"),
        ((np.ones((5, 2)), np.ones((5, 2))), {"chunk_size": 0}, "chunk_size"),
    ],
)
def test_recall_curve_rejects_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        recall_curve(*args, **kwargs)


def test_failed_run_keeps_previous_report(data, tmp_path, monkeypatch):
    runs, _, _ = data
    (tmp_path / "report.md").write_text("previous report")

    def boom(*args, **kwargs):
        raise RuntimeError("t-SNE failed")

    monkeypatch.setattr(report_mod, "plot_map", boom)
    with pytest.raises(RuntimeError, match="t-SNE failed"):
        write_report(tmp_path, runs, dataset="toy", view_names=VIEWS)
    assert (tmp_path / "report.md").read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
