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


# a small real image–caption collection, as a user would have it: a folder and a caption file
PHOTO_CAPTIONS = {
    "astronaut": "an astronaut in a white space suit",
    "coffee": "a cup of coffee on a saucer",
    "chelsea": "a ginger cat lying down",
    "rocket": "a rocket on the launch pad",
    "camera": "a man with a camera on a tripod",
    "china": "a chinese temple among trees",
    "flower": "a pink flower in close up",
    "hubble": "galaxies in deep space",
}


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    """A folder of 24 real photo crops (skimage + scikit-learn sample photos; three crops of
    each of 8 photos, in sub-folders) and ``captions.csv`` naming them relative to the folder,
    two captions per crop. Returns (folder, captions path)."""
    from PIL import Image
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    samples = load_sample_images().images
    photos = {
        "astronaut": skdata.astronaut(),
        "coffee": skdata.coffee(),
        "chelsea": skdata.chelsea(),
        "rocket": skdata.rocket(),
        "camera": skdata.camera(),
        "china": samples[0],
        "flower": samples[1],
        "hubble": skdata.hubble_deep_field(),
    }
    root = tmp_path_factory.mktemp("photos")
    rows = ["image,caption,label"]
    for name, img in photos.items():
        (root / name).mkdir()
        h, w = img.shape[:2]
        for k, (top, left) in enumerate([(0, 0), (h // 4, w // 4), (h // 2, w // 2)]):
            crop = img[top : top + h // 2, left : left + w // 2]
            Image.fromarray(crop).resize((96, 96)).save(root / name / f"{k}.png")
            rows.append(f"{name}/{k}.png,{PHOTO_CAPTIONS[name]},{name}")
            rows.append(f"{name}/{k}.png,photo {k} of {PHOTO_CAPTIONS[name]},{name}")
    captions = root / "captions.csv"
    captions.write_text("\n".join(rows) + "\n")
    return root, captions


@pytest.fixture(scope="session")
def photo_pipeline(photo_folder, tmp_path_factory):
    """A small pipeline (tf-idf captions, HOG + colour histogram images, CCA) fitted on the
    photo folder and saved: what `jointspace fit` makes of a user's folder. Returns its path."""
    from jointspace import Pipeline
    from jointspace.data import from_folder
    from jointspace.models import CCA

    root, captions = photo_folder
    data = from_folder(root, captions, label_column="label")
    pipe = Pipeline({"text": "tfidf", "image": "hog+color-hist"}, CCA(n_components=8, reg=0.1))
    return pipe.fit(data).save(tmp_path_factory.mktemp("pipelines") / "photos")


@pytest.fixture(scope="module")
def photo_index(photo_pipeline, photo_folder, tmp_path_factory):
    """An index (images + captions) built by the photo pipeline over a copy of the photo
    folder: ``(index path, copied folder)``."""
    import shutil

    from jointspace.data import from_folder
    from jointspace.retrieval import build_index, items_from_multiview

    src, _ = photo_folder
    root = tmp_path_factory.mktemp("indexed") / "photos"
    shutil.copytree(src, root)
    data = from_folder(root, root / "captions.csv", label_column="label")
    items, root = items_from_multiview(data, root.resolve())
    out = root.parent / "ix"
    build_index(photo_pipeline, items, out, source={"root": str(root)}, progress=False)
    return out, root
