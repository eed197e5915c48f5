"""Maps of the joint space (jointspace.bench.plots): PCA, t-SNE and UMAP projections of every
view's rows together, the figure, and the report's maps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from jointspace import load_dataset, train_test_split
from jointspace.bench.plots import joint_space_map, project_joint_space, unit
from jointspace.bench.report import MethodRun, write_report
from jointspace.metrics import cross_modal_retrieval

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _paired(n=150, k=6, noise=0.3, seed=0):
    """Two views of one latent (n, k), rows paired."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, k))
    return [latent + noise * rng.normal(size=(n, k)) for _ in range(2)]


def _same_up_to_sign(a, b):
    """Columns of a equal those of b, each up to its sign."""
    signs = np.sign(np.sum(a * b, axis=0))
    np.testing.assert_allclose(a * signs, b, atol=1e-8)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_pca_is_sklearn_pca_of_all_views_together(metric):
    za, zb = _paired()
    coords, rows = project_joint_space([za, zb], method="pca", max_points=90, metric=metric)
    assert coords.shape == (2, 90, 2) and rows.shape == (90,)
    x = np.vstack([za[rows], zb[rows]])
    expected = PCA(2).fit_transform(unit(x) if metric == "cosine" else x)
    _same_up_to_sign(coords.reshape(-1, 2), expected)


def test_pca_of_one_dimensional_space():
    za, zb = (z[:, :1] for z in _paired())
    coords, _ = project_joint_space([za, zb], method="pca", metric="euclidean")
    _same_up_to_sign(coords[..., :1].reshape(-1, 1), np.vstack([za, zb]) - np.mean([za, zb]))
    assert np.all(coords[..., 1] == 0)


def test_subsample_keeps_pairs():
    za, zb = _paired(n=300)
    zb[7] = np.nan  # an unobserved row is left out of the map
    coords, rows = project_joint_space([za, zb], method="pca", max_points=120, random_state=3)
    assert rows.size == 120 and np.all(np.diff(rows) > 0) and 7 not in rows
    again, rows_b = project_joint_space([za, za.copy()], method="pca", max_points=120)
    np.testing.assert_array_equal(again[0], again[1])  # identical views: identical points
    other = project_joint_space([za, zb], method="pca", max_points=120, random_state=4)[1]
    assert not np.array_equal(rows, other)
    # the points are those rows: view v of sample rows[j] lands at coords[v, j]
    x = unit(np.vstack([za[rows], zb[rows]]))
    _same_up_to_sign(coords.reshape(-1, 2), PCA(2).fit_transform(x))
    everything = project_joint_space([za, zb], method="pca", max_points=10_000)[1]
    np.testing.assert_array_equal(everything, np.delete(np.arange(300), 7))


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_seeded_maps_are_deterministic(method):
    views = _paired(n=60)
    first, rows = project_joint_space(views, method=method, random_state=1)
    second, rows2 = project_joint_space(views, method=method, random_state=1)
    np.testing.assert_array_equal(rows, rows2)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (2, 60, 2) and np.all(np.isfinite(first))
    if method == "umap":  # t-SNE starts from PCA: its seed only draws the subsample
        other, _ = project_joint_space(views, method=method, random_state=2)
        assert not np.allclose(first, other)


@pytest.fixture(scope="module")
def mfeat_cca():
    """CCA (k = 10) of two uci-mfeat views (Fourier coefficients, Karhunen-Loève features),
    fitted on 1,600 rows; the 400 test rows' embeddings and their digit labels."""
    from jointspace.models import CCA

    train, test = train_test_split(load_dataset("uci-mfeat"), 0.2, random_state=0)
    scalers = [StandardScaler().fit(train[v]) for v in ("fou", "kar")]
    fit = [s.transform(train[v]) for s, v in zip(scalers, ("fou", "kar"))]
    held = [s.transform(test[v]) for s, v in zip(scalers, ("fou", "kar"))]
    model = CCA(n_components=10, reg=1e-3).fit(fit)
    return model.transform(held), np.asarray(test.labels)


def _cross_view_knn(coords, y, k=10):
    """Accuracy of k-NN fitted on view 0's 2-D points, predicting view 1's labels."""
    return KNeighborsClassifier(k).fit(coords[0], y).score(coords[1], y)


@pytest.mark.parametrize(("method", "margin"), [("pca", 0.1), ("umap", 0.4)])
def test_map_separates_digits(mfeat_cca, method, margin):
    """On the 2-D map, a 10-NN classifier fitted on the Fourier view's points labels the
    Karhunen-Loeve view's points far better than the same classifier with shuffled labels.

    The baseline is above chance (0.1): a shuffled label is still shared by the two views of a
    sample, and a point's neighbours include its own pair, so the baseline credits the pairing
    and the margin over it credits the classes alone. Measured (seed 0, 200 rows, ten balanced
    digits, 20 permutations): PCA 0.375 against 0.131 ± 0.023 (at most 0.18), UMAP 0.82
    against 0.211 ± 0.028 (at most 0.27); t-SNE, not run here for time, 0.81 against 0.22.
    The margins over the largest shuffled score (0.1, 0.4) are about half the measured gap.
    """
    Z, labels = mfeat_cca
    coords, rows = project_joint_space(Z, method=method, max_points=200)
    y = labels[rows]
    acc = _cross_view_knn(coords, y)
    rng = np.random.default_rng(0)
    shuffled = [_cross_view_knn(coords, rng.permutation(y)) for _ in range(20)]
    assert acc > max(shuffled) + margin, (acc, max(shuffled))


def _assert_png(path, min_ink=0.02):
    """A PNG file, larger than an empty canvas, with at least ``min_ink`` of its pixels
    not white (the points, not only the frame)."""
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC, path
    pixels = imread(path)[..., :3]
    ink = np.mean(np.any(pixels < 0.9, axis=-1))
    assert ink > min_ink, (path, ink)


def test_joint_space_map_figure_and_png(mfeat_cca, tmp_path):
    Z, labels = mfeat_cca
    out = tmp_path / "map.png"
    fig, coords, rows = joint_space_map(
        Z, method="pca", labels=labels, view_names=("fou", "kar"), max_points=150, out=out
    )
    _assert_png(out)
    (ax,) = fig.axes
    assert len(ax.collections) == 3  # the pair lines, then one scatter per view
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["fou", "kar", *map(str, range(10))]
    same = project_joint_space(Z, method="pca", max_points=150)
    np.testing.assert_array_equal(coords, same[0])
    np.testing.assert_array_equal(rows, same[1])


def test_joint_space_map_variants(tmp_path):
    """Many labels (a colour bar), no labels, three views, a given Axes."""
    from matplotlib.figure import Figure

    views = [*_paired(n=80), _paired(n=80, seed=1)[0]]
    fig, coords, _ = joint_space_map(views, method="pca", labels=np.arange(80))
    assert coords.shape == (3, 80, 2) and len(fig.axes) == 2  # the map and its colour bar
    given = Figure().subplots()
    fig, _, _ = joint_space_map(
        views[:2], method="pca", ax=given, title="mine", out=tmp_path / "a.png"
    )
    assert fig is given.figure and given.get_title() == "mine"
    _assert_png(tmp_path / "a.png")
    with pytest.raises(ValueError, match="method='mds'"):
        project_joint_space(views, method="mds")
    with pytest.raises(ValueError, match=r"embeddings\[1\] has shape \(80, 5\)"):
        project_joint_space([views[0], views[1][:, :5]])
    with pytest.raises(ValueError, match="labels has shape"):
        joint_space_map(views, method="pca", labels=np.arange(5))
    with pytest.raises(ValueError, match="view_names"):
        joint_space_map(views, method="pca", view_names=("a", "b"))
    with pytest.raises(ValueError, match="UMAP map needs at least 4 points"):
        project_joint_space([views[0][:3]], method="umap")


def test_report_draws_and_links_the_maps(tmp_path):
    za, zb = _paired(n=60)
    runs = [
        MethodRun(
            name,
            {"retrieval": cross_modal_retrieval(a, b, names=("x", "y"))},
            (a, b),
            0.1,
        )
        for name, (a, b) in (("good", (za, zb)), ("random", _paired(n=60, noise=3, seed=2)))
    ]
    labels = np.arange(60) % 3
    path = write_report(tmp_path / "all", runs, dataset="toy", view_names=("x", "y"), labels=labels)
    text = path.read_text()
    for method, name in (("pca", "PCA"), ("tsne", "t-SNE"), ("umap", "UMAP")):
        assert f"## Joint space: {name}\n\n![Joint space: {name}](joint_space_{method}.png)" in text
        _assert_png(tmp_path / "all" / f"joint_space_{method}.png")
    assert "60 paired test rows (each vector scaled to unit length)" in text
    path = write_report(tmp_path / "one", runs, dataset="t", view_names=("x", "y"), maps="pca")
    assert sorted(p.name for p in path.parent.glob("joint_space_*")) == ["joint_space_pca.png"]
    path = write_report(tmp_path / "none", runs, dataset="t", view_names=("x", "y"), maps=())
    assert "Joint space" not in path.read_text()
    with pytest.raises(ValueError, match="map 'lda' is unknown"):
        write_report(tmp_path / "bad", runs, dataset="t", view_names=("x", "y"), maps="pca,lda")
    assert not (tmp_path / "bad").exists()


def test_umap_is_imported_only_for_a_umap_map():
    code = (
        "import sys, numpy as np\n"
        "import jointspace\n"
        "from jointspace.cli import app\n"
        "try:\n"
        "    app(['bench', '--help'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "from jointspace.bench.report import write_report\n"
        "from jointspace.bench.plots import project_joint_space\n"
        "project_joint_space([np.eye(5), np.eye(5)], method='pca')\n"
        "assert 'umap' not in sys.modules and 'numba' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"--maps" in proc.stdout


def test_bench_rejects_a_bad_map_before_fitting(tmp_path):
    exe = str(Path(sys.executable).with_name("jointspace"))
    cmd = [exe, "bench", "--dataset", "uci-mfeat"]
    cmd += ["--maps", "pca,lda", "--report", str(tmp_path / "r")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "map 'lda' is unknown" in proc.stderr
    assert not (tmp_path / "r").exists()
