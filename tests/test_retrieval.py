"""The Retriever and the incremental index builder on a real folder of photos and captions."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from jointspace import Pipeline, Retriever
from jointspace.data import from_folder
from jointspace.index import Index
from jointspace.retrieval import build_index, items_from_multiview, scan_folder


def build(pipeline, root, captions, out, **kw):
    data = from_folder(root, captions, label_column="label")
    items, root = items_from_multiview(data, root.resolve())
    return build_index(pipeline, items, out, source={"root": str(root)}, progress=False, **kw)


@pytest.fixture
def folder(photo_folder, tmp_path):
    src, captions = photo_folder
    root = tmp_path / "photos"
    shutil.copytree(src, root)
    return root, root / "captions.csv"


def test_an_image_finds_itself_and_a_caption_its_image(photo_pipeline, folder, tmp_path):
    root, captions = folder
    report = build(photo_pipeline, root, captions, tmp_path / "ix")
    assert (report.embedded, report.captions_embedded) == (24, 48)
    r = Retriever.load(tmp_path / "ix")
    hit = r.search(image=root / "coffee" / "1.png", k=1)[0]
    assert hit["id"] == "coffee/1.png" and hit["score"] == pytest.approx(1.0, abs=1e-5)
    assert hit["file"] == str(root / "coffee" / "1.png") and hit["label"] == "coffee"
    same = r.search(image=np.asarray(Image.open(hit["file"])), k=1)
    assert same[0]["id"] == "coffee/1.png"  # pixels work as well as paths
    cap = r.search(text="a cup of coffee on a saucer", collection="captions", k=1)[0]
    assert cap["caption"] == "a cup of coffee on a saucer" and cap["id"].endswith(".png#0")
    assert cap["path"].startswith("coffee/") and cap["score"] == pytest.approx(1.0, abs=1e-5)
    # the stored vectors are what the pipeline gives, normalized
    pipe = Pipeline.load(photo_pipeline)
    v = pipe.transform_view("image", [str(root / "rocket" / "0.png")])[0]
    stored = r.index.collection().vectors_of([r.search(image=root / "rocket" / "0.png",
                                                       k=1)[0]["key"]])[0]
    np.testing.assert_allclose(stored, v / np.linalg.norm(v), atol=1e-5)


def test_combined_queries_are_the_weighted_sum_of_their_parts(photo_pipeline, folder, tmp_path):
    root, captions = folder
    build(photo_pipeline, root, captions, tmp_path / "ix")
    r = Retriever.load(tmp_path / "ix")
    pipe = r.pipeline

    def unit(v):
        return v / np.linalg.norm(v)

    t1, t2 = (unit(pipe.transform_view("text", [s])[0]) for s in ("a ginger cat", "water"))
    im = unit(pipe.transform_view("image", [str(root / "flower" / "0.png")])[0])
    want = unit(t1 - t2 + 0.5 * im)
    got = r.query_vector(text=["a ginger cat", "-water"], image=root / "flower" / "0.png",
                         weights={"image": 0.5})
    np.testing.assert_allclose(got, want, atol=1e-5)
    hits = r.search(text=["a ginger cat", "-water"], image=root / "flower" / "0.png",
                    weights={"image": 0.5}, k=24)
    scores = r.index.collection().engine.vectors @ want
    assert hits[0]["score"] == pytest.approx(scores.max(), abs=1e-5)
    assert [h["label"] for h in r.search(vector=im, k=5, filter={"label": "rocket"})] == \
        ["rocket"] * 3
    for bad, match in [({}, "empty query"), ({"text": "  "}, "empty"),
                       ({"text": "x", "weights": {"audio": 1}}, "weights for audio"),
                       ({"vector": np.ones(3)}, "expected \\(8,\\)"),
                       ({"text": ["cat", "-cat"]}, "cancel out")]:
        with pytest.raises(ValueError, match=match):
            r.search(**bad)


def test_a_second_build_embeds_only_what_changed(photo_pipeline, folder, tmp_path):
    root, captions = folder
    build(photo_pipeline, root, captions, tmp_path / "ix")
    # add a file, change one's pixels, change one's mtime but not its bytes, delete one,
    # and edit one caption
    shutil.copy(root / "china" / "0.png", root / "china" / "3.png")
    shutil.copy(root / "hubble" / "0.png", root / "camera" / "1.png")
    os.utime(root / "flower" / "2.png", ns=(1, 1))
    (root / "astronaut" / "2.png").unlink()
    rows = [row for row in captions.read_text().splitlines()
            if not row.startswith("astronaut/2.png")]
    rows = [row.replace("photo 0 of a rocket", "a rocket at night") for row in rows]
    captions.write_text("\n".join(rows + ["china/3.png,a copy of the temple,china"]) + "\n")
    report = build(photo_pipeline, root, captions, tmp_path / "ix")
    # embedded: the new and the changed file; touched: same bytes, and the edited caption
    assert (report.embedded, report.touched, report.removed) == (2, 2, 1)
    assert report.unchanged == 20
    assert (report.captions_embedded, report.captions_removed) == (2, 2)
    # the updated index equals a fresh build of the same folder
    build(photo_pipeline, root, captions, tmp_path / "fresh")
    for name in ("images", "captions"):
        a, b = (Index.open(tmp_path / d).collection(name) for d in ("ix", "fresh"))
        ma, mb = a.metadata, b.metadata
        assert sorted(ma.column("id").to_pylist()) == sorted(mb.column("id").to_pylist())
        ids = sorted(mb.column("id").to_pylist())
        va = a.vectors_of([a.keys_of(ids)[i] for i in ids])
        vb = b.vectors_of([b.keys_of(ids)[i] for i in ids])
        np.testing.assert_allclose(va, vb, atol=1e-6)
    again = build(photo_pipeline, root, captions, tmp_path / "ix")
    assert (again.embedded, again.touched, again.captions_embedded) == (0, 0, 0)


def test_a_stopped_build_resumes_where_it_stopped(photo_pipeline, folder, tmp_path, monkeypatch):
    root, _ = folder
    items = scan_folder(root)
    calls = {"n": 0}
    original = Pipeline.transform_view

    def stop_on_third(self, view, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, view, batch)

    monkeypatch.setattr(Pipeline, "transform_view", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_index(photo_pipeline, items, tmp_path / "ix", batch_size=5, progress=False)
    monkeypatch.setattr(Pipeline, "transform_view", original)
    assert len(Index.open(tmp_path / "ix").collection()) == 10  # two batches committed
    report = build_index(photo_pipeline, items, tmp_path / "ix", batch_size=5, progress=False)
    assert (report.embedded, report.unchanged) == (14, 10)


def test_near_duplicates_are_listed(photo_pipeline, folder, tmp_path):
    root, captions = folder
    shutil.copy(root / "camera" / "0.png", root / "camera-copy.png")
    build_index(photo_pipeline, scan_folder(root), tmp_path / "ix", progress=False)
    pairs = Retriever.load(tmp_path / "ix").duplicates(0.9999)
    assert pairs[0][:2] == ("camera-copy.png", "camera/0.png") and pairs[0][2] > 0.9999
    assert len(pairs) == 1


def test_an_index_refuses_another_pipeline(photo_pipeline, folder, tmp_path):
    root, captions = folder
    build(photo_pipeline, root, captions, tmp_path / "ix")
    from jointspace.models import CCA

    refit = Pipeline({"text": "tfidf", "image": "color-hist"}, CCA(n_components=8))
    refit.fit(from_folder(root, captions))
    refit.save(tmp_path / "other")
    with pytest.raises(ValueError, match="built by pipeline"):
        Retriever.load(tmp_path / "ix", pipeline=tmp_path / "other")
    with pytest.raises(ValueError, match="built by another pipeline"):
        build(tmp_path / "other", root, captions, tmp_path / "ix")


def test_captions_given_later_get_their_collection(photo_pipeline, folder, tmp_path):
    root, captions = folder
    build_index(photo_pipeline, scan_folder(root), tmp_path / "ix", progress=False)
    assert Index.open(tmp_path / "ix").names == ["images"]
    report = build(photo_pipeline, root, captions, tmp_path / "ix")
    assert (report.embedded, report.touched, report.captions_embedded) == (0, 24, 48)
    ix = Index.open(tmp_path / "ix")
    assert ix.names == ["images", "captions"] and len(ix.collection("captions")) == 48
    hit = Retriever.load(tmp_path / "ix").search(text="galaxies in deep space", k=1,
                                                collection="captions")[0]
    assert hit["caption"] == "galaxies in deep space"
