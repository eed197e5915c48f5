"""`jointspace export`: pipelines exported to ONNX embed as the originals do (per view, on real
items, fp32 and int8), load and search without torch (Retriever and the HTTP server, in a
fresh process with an empty model cache), and refuse what cannot be exported by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from jointspace import Pipeline, load_dataset, train_test_split
from jointspace.models import CCA, DCCA, KCCA, ContrastiveDualEncoder
from jointspace.pipeline.export import cosines, export_pipeline

torch.set_num_threads(1)
QUICK = {"epochs": 4, "progress": False, "batch_size": 128}


@pytest.fixture(scope="module")
def mfeat():
    """Two uci-mfeat views (Fourier, profile correlations), 1,600 / 400 rows."""
    train, test = train_test_split(load_dataset("uci-mfeat"), 0.2, random_state=0)
    return train.select(["fou", "fac"]), test.select(["fou", "fac"])


def _parity(original: Pipeline, exported: Pipeline, view: str, items) -> np.ndarray:
    return cosines(original.transform_view(view, items), exported.transform_view(view, items))


@pytest.mark.parametrize("int8", [False, True])
def test_dual_encoder_towers_match_the_original(mfeat, tmp_path, int8):
    train, test = mfeat
    pipe = Pipeline({"fou": "standardize", "fac": None},
                    ContrastiveDualEncoder(32, hidden=(128,), training=QUICK)).fit(train)
    out = export_pipeline(pipe, tmp_path / "onnx", test, int8=int8)
    loaded = Pipeline.load(out)
    assert type(loaded.model).__name__ == "OnnxTowers"
    record = loaded.manifest_["metadata"]["export"]
    assert record["precision"] == ("int8" if int8 else "fp32")
    for view in ("fou", "fac"):
        cos = _parity(pipe, loaded, view, test[view])  # all 400 held-out rows
        assert cos.min() >= (0.99 if int8 else 0.999), (view, cos.min())
        assert record["parity"][view]["n_probes"] == 64
        assert record["parity"][view]["cosine_min"] >= (0.99 if int8 else 0.999)
        z = loaded.transform_view(view, test[view][:5])
        np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)  # normalized
    if not int8:  # the float graphs reproduce the float64 original closely
        diff = np.abs(pipe.transform(test)[0] - loaded.transform(test)[0]).max()
        assert diff < 1e-4
    # the exported model is the unit vector the retrieval side ranks by
    ranks = np.argsort(-loaded.transform_view("fou", test["fou"][:50])
                       @ loaded.transform_view("fac", test["fac"][:50]).T, axis=1)[:, 0]
    assert (ranks == np.argsort(-pipe.transform_view("fou", test["fou"][:50])
                                @ pipe.transform_view("fac", test["fac"][:50]).T,
                                axis=1)[:, 0]).mean() > 0.9


def test_int8_towers_are_smaller(mfeat, tmp_path):
    train, test = mfeat
    pipe = Pipeline({"fou": None, "fac": None},
                    ContrastiveDualEncoder(32, hidden=(256,), training=QUICK)).fit(train)
    sizes = {}
    for int8 in (False, True):
        out = export_pipeline(pipe, tmp_path / str(int8), test, int8=int8, n_probes=16)
        sizes[int8] = Pipeline.load(out).manifest_["metadata"]["export"]["parity"]["fac"]
    assert sizes[True]["tower_mb"] < 0.5 * sizes[False]["tower_mb"]


@pytest.mark.parametrize("model", ["dcca", "cca"])
def test_correlation_models_export_with_their_heads(mfeat, tmp_path, model):
    train, test = mfeat
    chains = {"fou": "standardize", "fac": "standardize"}
    estimator = (DCCA(5, hidden=(64,), training={**QUICK, "epochs": 10}) if model == "dcca"
                 else CCA(5, reg=0.1))
    pipe = Pipeline(chains, estimator).fit(train)
    loaded = Pipeline.load(export_pipeline(pipe, tmp_path / model, test))
    for view in ("fou", "fac"):
        want, got = pipe.transform_view(view, test[view]), loaded.transform_view(view, test[view])
        assert cosines(want, got).min() >= 0.999
        assert np.abs(want - got).max() < 1e-3 * np.abs(want).max()  # the head's scale too


def test_views_not_exported_and_models_that_cannot_be(mfeat, tmp_path):
    train, test = mfeat
    pipe = Pipeline({"fou": None, "fac": None},
                    ContrastiveDualEncoder(16, hidden=(32,), training=QUICK)).fit(train)
    loaded = Pipeline.load(export_pipeline(pipe, tmp_path / "fou", test, views=["fou"]))
    assert loaded.model.exported_views == ["fou"]
    assert cosines(pipe.transform_view("fou", test["fou"]),
                   loaded.transform_view("fou", test["fou"])).min() >= 0.999
    with pytest.raises(ValueError, match=r"view 'fac' was not exported.*--view fac"):
        loaded.transform_view("fac", test["fac"][:2])
    with pytest.raises(ValueError, match=r"view 'image' is not in the pipeline.*'fou', 'fac'"):
        export_pipeline(pipe, tmp_path / "x", test, views=["image"])
    with pytest.raises(ValueError, match=r"format 'torchscript'; expected 'onnx'"):
        export_pipeline(pipe, tmp_path / "x", test, fmt="torchscript")
    with pytest.raises(ValueError, match=r"probe items have no view 'fac'"):
        export_pipeline(pipe, tmp_path / "x", test.select(["fou"]))
    with pytest.raises(ValueError, match=r"cosine per item min .* expected ≥ 1.5"):
        export_pipeline(pipe, tmp_path / "x", test, min_cosine=1.5)
    assert not (tmp_path / "x").exists()  # nothing written by a refused export

    kcca = Pipeline({"fou": None, "fac": None}, KCCA(2)).fit(train.subset(np.arange(200)))
    with pytest.raises(ValueError, match=r"a KCCA cannot be exported.*kernel"):
        export_pipeline(kcca, tmp_path / "k", test)

    class Spectral(torch.nn.Module):  # an operator ONNX does not have
        def forward(self, x):
            return x[:, :8] * torch.linalg.eigh(x.T @ x)[0][:8]
    own = Pipeline({"fou": None, "fac": None},
                   ContrastiveDualEncoder(8, tower=[Spectral(), "linear"], training=QUICK))
    own.fit(train)
    with pytest.raises(ValueError, match=r"view 'fou': its tower \(Spectral\) cannot be "
                       r"exported to ONNX \(UnsupportedOperatorError.*eigh"):
        export_pipeline(own, tmp_path / "b", test)


# ------------------------------------------------------------- real encoders, no torch
@pytest.fixture(scope="module")
def photo_export(photo_folder, tmp_path_factory):
    """A dual encoder on the photo folder with minilm captions and EfficientNet (64 px) +
    colour-histogram images, saved, indexed with the original, and exported (fp32)."""
    from jointspace.data import from_folder
    from jointspace.retrieval import build_index, items_from_multiview

    src, _ = photo_folder
    base = tmp_path_factory.mktemp("export")
    root = base / "photos"
    shutil.copytree(src, root)
    data = from_folder(root, root / "captions.csv", label_column="label")
    pipe = Pipeline({"text": "minilm", "image": "efficientnet:size=64:progress=false+color-hist"},
                    ContrastiveDualEncoder(16, hidden=(64,), training={**QUICK, "epochs": 20}))
    saved = pipe.fit(data).save(base / "pipe")
    items, root = items_from_multiview(data, root.resolve())
    build_index(saved, items, base / "ix", source={"root": str(root)}, progress=False)
    original = Pipeline.load(saved)
    out = export_pipeline(original, base / "onnx", data)
    return original, out, base / "ix", data


def test_minilm_and_efficientnet_are_held_in_the_export(photo_export):
    original, out, _, data = photo_export
    loaded = Pipeline.load(out)
    text, image = loaded.encoders_["text"][0], loaded.encoders_["image"][0]
    assert text.name == "onnx-minilm"
    assert [e.name for e in image._parts()] == ["onnx-efficientnet", "color-hist"]
    assert text.model_mb > 80 and image._parts()[0].model_mb > 10  # the files themselves
    for view in ("text", "image"):
        cos = _parity(original, loaded, view, data[view])
        assert cos.min() >= 0.999, (view, cos.min())
    parity = loaded.manifest_["metadata"]["export"]["parity"]
    assert parity["text"]["encoders_mb"] > 80 and parity["image"]["encoders_mb"] > 10


def test_int8_minilm_text_view(photo_export, tmp_path):
    original, _, _, data = photo_export
    out = export_pipeline(original, tmp_path / "int8", data, views=["text"], int8=True)
    loaded = Pipeline.load(out)
    assert cosines(original.transform_view("text", data["text"]),
                   loaded.transform_view("text", data["text"])).min() >= 0.99
    record = loaded.manifest_["metadata"]["export"]["parity"]["text"]
    assert record["encoders_mb"] < 30  # int8 weights: a quarter of the 90 MB


@pytest.mark.slow  # makes the int8 EfficientNet at 64 px (calibration + quantization)
def test_int8_efficientnet_image_view(photo_export, tmp_path):
    original, _, _, data = photo_export
    loaded = Pipeline.load(export_pipeline(original, tmp_path / "i8", data, views=["image"],
                                           int8=True))
    assert cosines(original.transform_view("image", data["image"]),
                   loaded.transform_view("image", data["image"])).min() >= 0.99


NO_TORCH = textwrap.dedent("""
    import json, socket, sys, threading, time
    import httpx, uvicorn
    from jointspace.retrieval import Retriever
    from jointspace.serve import create_app

    retriever = Retriever.load(sys.argv[1], pipeline=sys.argv[2])
    direct = retriever.search(text="a ginger cat lying down", k=3)
    by_image = retriever.search(image=sys.argv[3], k=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(retriever), host="127.0.0.1",
                                           port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    reply = httpx.post(f"http://127.0.0.1:{port}/search",
                       json={"text": "a ginger cat lying down", "k": 3}, timeout=60)
    server.should_exit = True
    print(json.dumps({"direct": [h["id"] for h in direct], "image": by_image[0]["id"],
                      "status": reply.status_code,
                      "served": [h["id"] for h in reply.json()["results"]],
                      "torch": "torch" in sys.modules}))
""")


def test_export_searches_and_serves_without_torch(photo_export, tmp_path):
    original, out, index, data = photo_export
    from jointspace.retrieval import Retriever

    want = [h["id"] for h in Retriever.load(index).search(text="a ginger cat lying down", k=3)]
    image = next(p for p in data["image"] if str(p).endswith("rocket/2.png"))
    env = {**os.environ, "JOINTSPACE_CACHE": str(tmp_path / "empty-cache"),
           "HOME": str(tmp_path)}  # nothing from a model cache: the export is self-contained
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, str(index), str(out), str(image)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["torch"] is False
    assert got["status"] == 200 and got["served"] == got["direct"] == want
    assert got["image"].startswith("rocket/")
    assert not (tmp_path / "empty-cache").exists()


def test_retriever_refuses_an_export_of_another_pipeline(photo_export, mfeat, tmp_path):
    from jointspace.index import Index
    from jointspace.retrieval import Retriever

    _, out, index, _ = photo_export
    assert Retriever(Pipeline.load(out), Index.open(index)) is not None
    train, test = mfeat
    other = Pipeline({"fou": None, "fac": None}, CCA(2)).fit(train)
    other = Pipeline.load(other.save(tmp_path / "other"))
    foreign = Pipeline.load(export_pipeline(other, tmp_path / "other-onnx", test))
    with pytest.raises(ValueError, match="was built by pipeline"):
        Retriever(foreign, Index.open(index))


def test_cli_export(photo_export, tmp_path):
    from test_cli_own_data import run

    folder = photo_export[1].parent / "pipe"
    photos = photo_export[1].parent / "photos"
    out = tmp_path / "text-onnx"
    proc = run("export", folder, "--view", "text", "--out", out, "--images", photos,
               "--captions", photos / "captions.csv", "--probes", "8")
    assert "cosine min" in proc.stdout and "text" in proc.stdout
    record = json.loads((out / "manifest.json").read_text())["metadata"]["export"]
    assert record["views"] == ["text"] and record["parity"]["text"]["n_probes"] == 8
    bad = run("export", folder, "--view", "sound", "--out", tmp_path / "x", "--images", photos,
              "--captions", photos / "captions.csv", ok=False)
    assert bad.returncode == 2 and "view 'sound' is not in the pipeline" in bad.stderr
    none = run("export", folder, "--out", tmp_path / "y", ok=False)
    assert none.returncode == 2 and "does not record its data" in none.stderr
