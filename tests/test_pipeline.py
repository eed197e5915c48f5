"""Pipeline (encoder chains + joint model, one directory) and encoder concatenation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from jointspace import MultiView, Pipeline
from jointspace.data import from_folder
from jointspace.encoders import ConcatEncoder, load_encoder, make_encoder, save_encoder
from jointspace.models import CCA


@pytest.fixture(scope="module")
def photos(photo_folder) -> MultiView:
    root, captions = photo_folder
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return from_folder(root, captions, label_column="label")


# ---------------------------------------------------------------- concatenation
def test_concat_keeps_parts_in_order_and_round_trips(photos, tmp_path):
    images = photos["image"][:6]
    hog, hist = make_encoder("hog"), make_encoder("color-hist")
    both = make_encoder("hog+color-hist")
    assert isinstance(both, ConcatEncoder) and both.spec() == "hog+color-hist"
    X = both.fit_transform(images)
    np.testing.assert_array_equal(X, np.hstack([hog.transform(images), hist.transform(images)]))
    assert both.dims_ == [1764, 48]
    swapped = make_encoder("color-hist+hog").fit_transform(images)
    np.testing.assert_array_equal(swapped, np.hstack([X[:, 1764:], X[:, :1764]]))
    save_encoder(make_encoder("color-hist+hog"), tmp_path / "enc")
    loaded = load_encoder(tmp_path / "enc")
    assert loaded.spec() == "color-hist+hog"
    np.testing.assert_array_equal(loaded.transform(images), swapped)


def test_concat_of_fitted_parts_saves_their_state(photos, tmp_path):
    texts = photos["text"]
    enc = make_encoder("tfidf:max_features=10+tfidf:max_features=20").fit(texts)
    X = enc.transform(texts)
    assert X.shape == (len(texts), 30)
    save_encoder(enc, tmp_path / "enc")
    np.testing.assert_array_equal(load_encoder(tmp_path / "enc").transform(texts), X)
    assert (
        enc.cache_key()
        != make_encoder("tfidf:max_features=20+tfidf:max_features=10").fit(texts).cache_key()
    )


def test_concat_errors_are_clear():
    with pytest.raises(ValueError, match="unknown encoder 'nope'"):
        make_encoder("hog+nope")
    with pytest.raises(ValueError, match="take different inputs: hog .media., tfidf .text."):
        make_encoder("hog+tfidf")
    with pytest.raises(ValueError, match="options inside each part"):
        make_encoder("hog+color-hist", size=32)


# ---------------------------------------------------------------- pipeline
KINDS = [
    ("text", "tfidf"),
    ("text", "minilm"),
    ("text", "minilm-tokens:max_length=16"),
    ("text", "hf:{minilm_dir}"),
    ("image", "pixels:size=16"),
    ("image", "torch:{torchscript}:size=32"),
    ("image", "hog"),
    ("image", "color-hist"),
    ("image", "hog+color-hist"),
    ("image", "pixels:size=8>standardize"),
    ("table", "standardize"),
    ("image", "efficientnet:size=64"),
    ("audio", "mfcc"),
]


@pytest.fixture(scope="module")
def speech_pairs(tmp_path_factory, photos) -> MultiView:
    """Spoken captions (espeak-ng WAVs) beside the written ones, 12 rows."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("the espeak-ng binary is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("speech")
    texts = photos["text"][:12]
    paths = []
    for i, text in enumerate(texts):
        paths.append(str(folder / f"{i}.wav"))
        subprocess.run(["espeak-ng", "-w", paths[-1], text], check=True, capture_output=True)
    return MultiView({"text": texts, "audio": paths})


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, str]:
    """Model files for the encoders that load one: the packaged MiniLM folder, a TorchScript
    CNN written here."""
    import warnings

    import torch

    from jointspace.encoders.sentence import minilm_dir

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2)
    ).eval()
    path = tmp_path_factory.mktemp("models") / "cnn.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(path))
    return {"minilm_dir": str(minilm_dir()), "torchscript": str(path)}


@pytest.mark.parametrize(("view", "spec"), KINDS, ids=[s.split(":")[0] for _, s in KINDS])
def test_pipeline_save_load_gives_identical_vectors(
    view, spec, photos, speech_pairs, model_files, tmp_path
):
    spec = spec.format(**model_files)
    if view == "audio":
        data, other = speech_pairs, ("text", "tfidf")
    elif view == "table":
        rng = np.random.default_rng(0)
        data = MultiView({"table": rng.normal(size=(len(photos), 6)), "text": photos["text"]})
        other = ("text", "tfidf")
    else:
        data = photos
        other = ("text", "tfidf") if view == "image" else ("image", "color-hist")
    pipe = Pipeline({view: spec, other[0]: other[1]}, CCA(n_components=2, reg=0.1)).fit(data)
    query = data[view][:3]
    before = pipe.transform_view(view, query)
    Z = pipe.transform(data)
    pipe.save(tmp_path / "pipe")
    loaded = Pipeline.load(tmp_path / "pipe")
    np.testing.assert_array_equal(loaded.transform_view(view, query), before)
    for a, b in zip(loaded.transform(data), Z):
        np.testing.assert_array_equal(a, b)
    assert before.shape == (3, 2)


def test_manifest_records_versions_specs_dimensions_and_data(photos, tmp_path):
    pipe = Pipeline({"text": "tfidf", "image": "hog+color-hist"}, "cca:n_components=3:reg=0.1")
    pipe.fit(photos)
    pipe.save(tmp_path / "pipe")
    manifest = json.loads((tmp_path / "pipe" / "manifest.json").read_text())
    assert manifest["views"] == ["text", "image"]
    assert [s["spec"] for s in manifest["encoders"]["image"]] == ["hog+color-hist"]
    assert manifest["dimensions"] == {
        "features": {"text": pipe.dims_["text"], "image": 1812},
        "joint": 3,
    }
    assert manifest["training_data"]["n_samples"] == len(photos)
    assert len(manifest["training_data"]["fingerprint"]) == 64
    assert {"jointspace", "numpy", "scikit-learn"} <= set(manifest["versions"])
    assert manifest["model"]["class"] == "CCA"
    files = {p.relative_to(tmp_path / "pipe").as_posix() for p in (tmp_path / "pipe").rglob("*")}
    assert set(manifest["files"]) <= files and "model/arrays.safetensors" in manifest["files"]
    assert not any(f.endswith((".pkl", ".pickle", ".pt")) for f in files)
    loaded = Pipeline.load(tmp_path / "pipe")
    assert loaded.fingerprint == manifest["fingerprint"]
    other = Pipeline({"text": "tfidf", "image": "hog"}, CCA(n_components=3, reg=0.1)).fit(photos)
    other.save(tmp_path / "other")
    assert Pipeline.load(tmp_path / "other").fingerprint != loaded.fingerprint


def test_text_query_as_one_string_and_view_errors(photos):
    pipe = Pipeline({"text": "tfidf", "image": "color-hist"}, CCA(n_components=2)).fit(photos)
    np.testing.assert_array_equal(
        pipe.transform_view("text", "a ginger cat"), pipe.transform_view("text", ["a ginger cat"])
    )
    with pytest.raises(ValueError, match="view 'audio' is not in this pipeline"):
        pipe.transform_view("audio", ["x"])
    with pytest.raises(ValueError, match="not fitted"):
        Pipeline({"text": "tfidf", "image": "hog"}, CCA()).transform_view("text", ["x"])
    with pytest.raises(KeyError, match="view 'audio' does not exist"):
        Pipeline({"audio": "mfcc", "text": "tfidf"}, CCA()).fit(photos)
    with pytest.raises(ValueError, match="unknown model"):
        Pipeline({"text": "tfidf"}, "nope")


def test_damaged_or_incomplete_directory_is_a_clear_error(photos, tmp_path):
    pipe = Pipeline({"text": "tfidf", "image": "color-hist"}, CCA(n_components=2)).fit(photos)
    pipe.save(tmp_path / "pipe")
    weights = tmp_path / "pipe" / "model" / "arrays.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model/arrays\.safetensors is damaged"):
        Pipeline.load(tmp_path / "pipe")
    pipe.save(tmp_path / "pipe")
    shutil.rmtree(next((tmp_path / "pipe" / "encoders").glob("*text/0-tfidf")))
    with pytest.raises(ValueError, match=r"incomplete: encoders/0-text/0-tfidf/\S+ is missing"):
        Pipeline.load(tmp_path / "pipe")
    (tmp_path / "pipe" / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json.* is damaged: not valid JSON"):
        Pipeline.load(tmp_path / "pipe")
    with pytest.raises(FileNotFoundError, match="not a jointspace pipeline: no manifest.json"):
        Pipeline.load(tmp_path)


def test_failed_save_leaves_the_previous_pipeline(photos, tmp_path, monkeypatch):
    first = Pipeline({"text": "tfidf", "image": "color-hist"}, CCA(n_components=2)).fit(photos)
    first.save(tmp_path / "pipe")
    expected = first.transform_view("text", ["a cup of coffee"])
    second = Pipeline({"text": "tfidf", "image": "hog"}, CCA(n_components=2)).fit(photos)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(second.model, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        second.save(tmp_path / "pipe")
    loaded = Pipeline.load(tmp_path / "pipe")
    np.testing.assert_array_equal(loaded.transform_view("text", ["a cup of coffee"]), expected)
    # no temporary left behind: the link and the version it points to
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["pipe", os.readlink(tmp_path / "pipe")])
