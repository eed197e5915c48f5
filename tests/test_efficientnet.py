"""The pretrained EfficientNet-Lite0 image encoder on real photos: scikit-learn's two sample
photos (a Chinese temple, a flower) and scikit-image's astronaut / coffee / chelsea / rocket /
camera, written to PNG and JPEG files here; ImageNet classification with the network's own
head, torch vs ONNX Runtime (fp32 and int8), transparency, bad files and the feature cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from sklearn.base import clone
from sklearn.datasets import load_sample_images

from jointspace.encoders import CachedEncoder, EfficientNetEncoder, make_encoder
from jointspace.encoders.efficientnet import (
    FEATURE_DIM,
    cache_root,
    efficientnet_logits,
    fit_image,
)
from jointspace.encoders.efficientnet_onnx import onnx_model_path

# ILSVRC-2012 class indices
BUILDINGS = {
    442: "bell cote",
    449: "boathouse",
    483: "castle",
    497: "church",
    538: "dome",
    663: "monastery",
    668: "mosque",
    698: "palace",
    832: "stupa",
    858: "tile roof",
}
FLOWERS = {984: "rapeseed", 985: "daisy", 986: "yellow lady's slipper"}


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, object]:
    """The sample photos as files: china / flower as JPEG, the skimage ones as PNG."""
    folder = tmp_path_factory.mktemp("photos")
    china, flower = load_sample_images().images
    files = {}
    for name, arr in [("china", china), ("flower", flower)]:
        files[name] = folder / f"{name}.jpg"
        Image.fromarray(arr).save(files[name], quality=95)
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera"):
        files[name] = folder / f"{name}.png"
        Image.fromarray(getattr(skdata, name)()).save(files[name])
    return files


def test_imagenet_classes_of_real_photos(photos):
    logits = efficientnet_logits([photos["china"], photos["flower"]])
    assert logits.shape == (2, 1000) and logits.dtype == np.float32
    top5 = np.argsort(-logits, axis=1)[:, :5]
    china, flower = top5.tolist()
    # a temple: buildings of that kind (palace, bell cote, monastery, castle) lead the list
    assert china[0] in BUILDINGS and sum(c in BUILDINGS for c in china) >= 3, china
    # a flower: "daisy" first
    assert flower[0] in FLOWERS and 985 in flower, flower


def test_features_shape_determinism_and_array_equals_file(photos):
    enc = make_encoder("efficientnet", size=96, batch_size=3)
    files = [photos[k] for k in ("astronaut", "coffee", "chelsea", "rocket", "camera")]
    Z = enc.transform(files)
    assert Z.shape == (5, FEATURE_DIM) and Z.dtype == np.float32
    assert np.all(np.isfinite(Z)) and np.all(Z >= 0)  # ReLU6 activations, averaged
    # a different batch size and order (and a progress bar): the same rows
    Z2 = make_encoder("efficientnet", size=96, batch_size=2, progress=True).transform(files[::-1])
    np.testing.assert_allclose(Z2[::-1], Z, rtol=1e-4, atol=1e-5)
    # a PNG path and its pixels (RGB and grayscale arrays) give the same features
    arrays = [skdata.astronaut(), skdata.camera()]
    np.testing.assert_allclose(enc.transform(arrays), Z[[0, 4]], rtol=1e-4, atol=1e-5)
    # different photos, different features
    assert cosine_rows(Z[:1], Z[1:2])[0] < 0.95


def test_fit_modes_keep_aspect_or_stretch():
    wide = Image.fromarray(np.full((40, 160, 3), 10, np.uint8))
    crop = fit_image(wide, 32, "crop")
    pad = fit_image(wide, 32, "pad")
    stretch = fit_image(wide, 32, "stretch")
    assert crop.shape == pad.shape == stretch.shape == (32, 32, 3)
    assert crop.max() == 10 and stretch.max() == 10  # all image, no border
    # padded: the 4:1 strip is 8 px high in the middle, white above and below
    assert np.all(pad[:12] == 255) and np.all(pad[20:] == 255) and np.all(pad[13:19] == 10)


def test_onnx_backends_match_torch_on_real_photos(photos):
    files = list(photos.values())
    Z = make_encoder("efficientnet", size=128, backend="torch").transform(files)
    fp32 = make_encoder("efficientnet:size=128:backend=onnx").transform(files)
    int8 = make_encoder("efficientnet", size=128, backend="onnx-int8").transform(files)
    assert fp32.shape == int8.shape == (len(files), FEATURE_DIM)
    assert cosine_rows(fp32, Z).min() >= 0.999
    np.testing.assert_allclose(fp32, Z, atol=1e-3)
    assert cosine_rows(int8, Z).min() >= 0.995  # measured ≥ 0.998
    # the int8 model is a smaller file beside the fp32 export in the cache folder
    path8, path32 = onnx_model_path(128, "onnx-int8"), onnx_model_path(128, "onnx")
    assert path8.parent == path32.parent == cache_root()
    assert path8.stat().st_size < path32.stat().st_size / 2


@pytest.mark.slow
def test_onnx_backends_match_torch_at_224(photos):
    files = list(photos.values())
    Z = make_encoder("efficientnet", backend="torch").transform(files)
    assert (
        cosine_rows(make_encoder("efficientnet", backend="onnx").transform(files), Z).min() >= 0.999
    )
    assert (
        cosine_rows(make_encoder("efficientnet", backend="onnx-int8").transform(files), Z).min()
        >= 0.99
    )


def test_onnx_export_goes_to_the_cache_folder_once(tmp_path, monkeypatch, photos):
    monkeypatch.setenv("JOINTSPACE_CACHE", str(tmp_path / "cache"))
    assert cache_root() == tmp_path / "cache" / "efficientnet"
    enc = make_encoder("efficientnet", size=64, backend="onnx")
    Z = enc.transform([photos["coffee"]])
    (path,) = cache_root().glob("*.onnx")
    stamp = path.stat().st_mtime_ns
    np.testing.assert_array_equal(
        make_encoder("efficientnet:size=64:backend=onnx").transform([photos["coffee"]]), Z
    )
    assert path.stat().st_mtime_ns == stamp and not list(
        cache_root().glob(".*")
    )  # no temp file left


def test_transparent_images_are_composited_on_white(tmp_path):
    rng = np.random.default_rng(0)
    rgba = np.dstack([rng.integers(0, 256, (48, 48, 3)), np.zeros((48, 48))]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    la = Image.new("LA", (48, 48), (0, 0))  # black, fully transparent
    la.save(tmp_path / "clear_la.png")
    white = np.full((48, 48, 3), 255, np.uint8)
    enc = make_encoder("efficientnet", size=64)
    Z = enc.transform([tmp_path / "clear.png", tmp_path / "clear_la.png", rgba, white])
    for row in Z[:3]:
        np.testing.assert_allclose(row, Z[3], rtol=1e-5, atol=1e-6)
    # half opaque black over white: a mid gray, not black
    half = np.zeros((48, 48, 4), np.uint8)
    half[..., 3] = 128
    gray = np.full((48, 48, 3), 127, np.uint8)
    np.testing.assert_allclose(enc.transform([half])[0], enc.transform([gray])[0], atol=1e-5)


def test_bad_inputs_name_the_file_or_parameter(tmp_path, photos):
    enc = make_encoder("efficientnet", size=64)
    with pytest.raises(FileNotFoundError, match=r"nope\.jpg.*item 1.*does not exist"):
        enc.transform([photos["coffee"], tmp_path / "nope.jpg"])
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    with pytest.raises(ValueError, match=r"could not read image file .*notes\.png"):
        enc.transform([notes])
    with pytest.raises(ValueError, match="single path"):
        enc.transform(str(photos["coffee"]))
    with pytest.raises(ValueError, match="got 0 images"):
        enc.transform([])
    with pytest.raises(ValueError, match="backend is 'tf'"):
        make_encoder("efficientnet", backend="tf").transform([photos["coffee"]])
    with pytest.raises(ValueError, match=r"size is 8; expected an int ≥ 32"):
        make_encoder("efficientnet", size=8).transform([photos["coffee"]])
    with pytest.raises(ValueError, match="resize is 'zoom'"):
        make_encoder("efficientnet", resize="zoom").transform([photos["coffee"]])


def test_feature_cache_keys_and_reuse(tmp_path, photos):
    files = [photos[k] for k in ("china", "flower", "coffee")]
    cached = CachedEncoder(make_encoder("efficientnet", size=64), tmp_path / "features")
    first = cached.transform(files)
    assert cached.n_computed_ == 3
    again = cached.transform(files)
    assert cached.n_hits_ == 3 and cached.n_computed_ == 0
    np.testing.assert_array_equal(again, first)
    key = cached.cache_key()
    # speed-only parameters share the key; size, resize and backend do not
    assert make_encoder("efficientnet", size=64, batch_size=1, progress=True).cache_key() == key
    assert make_encoder("efficientnet", size=64, n_threads=1).cache_key() == key
    for other in ({"size": 96}, {"resize": "pad"}, {"backend": "torch"}, {"backend": "onnx-int8"}):
        assert make_encoder("efficientnet", **{"size": 64, **other}).cache_key() != key
    assert EfficientNetEncoder(size=64).state_fingerprint() == cached.state_fingerprint()
    assert clone(cached.encoder).get_params() == cached.encoder.get_params()


def test_importing_encoders_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, jointspace.encoders as e; "
        "e.make_encoder('efficientnet:size=128:backend=onnx').cache_key(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
