"""Tests for `jointspace.data.readers` and `jointspace.data.tables`: real image and audio
files, caption files and tables."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image
from skimage import data as skdata

from jointspace.data import (
    MultiView,
    from_audio_folder,
    from_csv,
    from_folder,
    from_npy,
    from_parquet,
)

CAPTIONS = [
    ("astronaut.png", "an astronaut in a white suit"),
    ("coffee.jpg", "a cup of coffee on a saucer"),
    ("astronaut.png", "a woman holding a helmet"),
    ("chelsea.png", "a ginger cat"),
    ("coffee.jpg", "coffee in a red cup"),
    ("astronaut.png", "portrait of an astronaut"),
]
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><circle r="5"/></svg>'


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A folder of real images (halved in size), a good SVG and broken files."""
    root = tmp_path_factory.mktemp("images")
    Image.fromarray(skdata.astronaut()[::2, ::2]).save(root / "astronaut.png")
    Image.fromarray(skdata.coffee()[::2, ::2]).save(root / "coffee.jpg", quality=85)
    Image.fromarray(skdata.chelsea()[::2, ::2]).save(root / "chelsea.png")
    (root / "sub").mkdir()
    Image.fromarray(skdata.camera()[::4, ::4]).save(root / "sub" / "camera.png")
    (root / "truncated.png").write_bytes((root / "astronaut.png").read_bytes()[:100])
    (root / "notes.jpg").write_text("this is not a JPEG, just text\n")
    (root / "empty.png").write_bytes(b"")
    (root / "shape.svg").write_text(SVG)
    (root / "broken.svg").write_text(SVG[:40])
    return root


def write_csv(path: Path, rows: list[tuple], header: str = "image,caption") -> Path:
    lines = [header] + [",".join(f'"{v}"' for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def quiet(fn, *args, **kwargs):
    """Call ``fn`` and fail on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


# ------------------------------------------------------------------ folders
def test_csv_several_captions_per_image(images, tmp_path):
    mv = quiet(from_folder, images, write_csv(tmp_path / "captions.csv", CAPTIONS))
    assert isinstance(mv, MultiView) and len(mv) == 6 and mv.view_names == ["image", "text"]
    assert mv["image"][0] == str((images / "astronaut.png").resolve())
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in mv["image"])
    assert mv["text"] == [c for _, c in CAPTIONS]
    assert mv.groups.tolist() == [0, 1, 0, 2, 1, 0]
    assert mv.ids.tolist() == [
        "astronaut.png#0", "coffee.jpg#0", "astronaut.png#1",
        "chelsea.png#0", "coffee.jpg#1", "astronaut.png#2",
    ]  # fmt: skip
    assert mv.meta["skipped"] == [] and mv.labels is None
    # groups survive a subset, so multi-caption relevance still works
    assert mv.subset([2, 5]).relevance_groups.tolist() == [0, 0]


def test_jsonl_matches_csv(images, tmp_path):
    rows = [{"image": i, "caption": c} for i, c in CAPTIONS]
    a = quiet(from_folder, images, write_csv(tmp_path / "c.csv", CAPTIONS))
    b = quiet(from_folder, images, write_jsonl(tmp_path / "c.jsonl", rows))
    assert a["image"] == b["image"] and a["text"] == b["text"]
    assert a.groups.tolist() == b.groups.tolist() and a.ids.tolist() == b.ids.tolist()


def test_labels_custom_columns_subfolder_and_svg(images, tmp_path):
    rows = [
        ("astronaut.png", "a person", "human"),
        ("sub/camera.png", "a man with a camera", "human"),
        ("chelsea.png", "a cat", "animal"),
        ("shape.svg", "a black circle", "drawing"),
    ]
    path = write_csv(tmp_path / "c.csv", rows, header="file, text ,kind")  # spaces in header
    mv = quiet(from_folder, images, path, image_column="file", caption_column="text",
               label_column="kind")  # fmt: skip
    assert mv.meta["label_names"] == ["animal", "drawing", "human"]
    assert mv.labels.tolist() == [2, 2, 0, 1]
    assert mv.ids.tolist()[1] == "sub/camera.png#0"


def test_broken_csv_rows_are_reported_and_skipped(images, tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text(
        "image,caption\n"
        "astronaut.png,an astronaut\n"  # line 2: good
        "truncated.png,cut short\n"  # 3
        "notes.jpg,a text file\n"  # 4
        "missing.png,never saved\n"  # 5
        "coffee.jpg,   \n"  # 6: empty caption
        "chelsea.png\n"  # 7: missing column
        "empty.png,zero bytes\n"  # 8
        "broken.svg,half an svg\n"  # 9
        "coffee.jpg,a cup of coffee\n"  # 10: good
        "truncated.png,cut short again\n"  # 11
    )
    with pytest.warns(UserWarning, match=r"skipped 8 of 10 rows .*unreadable image") as rec:
        mv = from_folder(images, path)
    assert "captions.csv" in str(rec[0].message) and "5 unreadable image" in str(rec[0].message)
    assert mv["text"] == ["an astronaut", "a cup of coffee"] and mv.groups.tolist() == [0, 1]
    got = {(s["row"], s["item"]): s["reason"] for s in mv.meta["skipped"]}
    assert list(got) == [
        (3, "truncated.png"), (4, "notes.jpg"), (5, "missing.png"), (6, "coffee.jpg"),
        (7, "chelsea.png"), (8, "empty.png"), (9, "broken.svg"), (11, "truncated.png"),
    ]  # fmt: skip
    assert got[(3, "truncated.png")].startswith("unreadable image")
    assert got[(4, "notes.jpg")].startswith("unreadable image")
    assert got[(5, "missing.png")] == f"missing file: {images.resolve() / 'missing.png'}"
    assert got[(6, "coffee.jpg")] == "empty caption"
    assert got[(7, "chelsea.png")] == "missing column 'caption'"
    assert got[(9, "broken.svg")].startswith("unreadable image")
    # without decoding, only existence and captions are checked
    with pytest.warns(UserWarning, match="skipped 3 of 10"):
        assert len(from_folder(images, path, check_images=False)) == 7


def test_broken_jsonl_lines_are_reported(images, tmp_path):
    path = write_jsonl(
        tmp_path / "captions.jsonl",
        [
            {"image": "chelsea.png", "caption": "a cat"},
            '{"image": "coffee.jpg", "caption": "unterminated',
            {"image": "coffee.jpg"},
            "",  # blank lines are not rows
            '["astronaut.png", "a list, not an object"]',
            {"image": "notes.jpg", "caption": "text saved as .jpg"},
            {"image": "astronaut.png", "caption": "an astronaut", "extra": 1},
        ],
    )
    with pytest.warns(UserWarning, match="skipped 4 of 6 rows") as rec:
        mv = from_folder(images, path)
    assert "2 bad JSON" in str(rec[0].message)
    assert mv.ids.tolist() == ["chelsea.png#0", "astronaut.png#0"]
    skipped = mv.meta["skipped"]
    assert [s["row"] for s in skipped] == [2, 3, 5, 6]
    assert skipped[0]["reason"].startswith("bad JSON") and "unterminated" in skipped[0]["item"]
    assert skipped[1] == {"row": 3, "item": "coffee.jpg", "reason": "missing column 'caption'"}
    assert "not an object" in skipped[2]["reason"]
    assert skipped[3]["item"] == "notes.jpg"


def test_folder_errors_are_clear(images, tmp_path):
    csv_path = write_csv(tmp_path / "c.csv", CAPTIONS)
    with pytest.raises(FileNotFoundError, match="image folder .*nowhere"):
        from_folder(tmp_path / "nowhere", csv_path)
    with pytest.raises(FileNotFoundError, match="captions file .*absent.csv"):
        from_folder(images, tmp_path / "absent.csv")
    with pytest.raises(ValueError, match=r"extension '\.txt'"):
        from_folder(images, write_csv(tmp_path / "c.txt", CAPTIONS))
    with pytest.raises(ValueError, match=r"'caption' is not in .*header: \['image', 'text'\]"):
        from_folder(images, write_csv(tmp_path / "h.csv", CAPTIONS, header="image,text"))
    with pytest.raises(ValueError, match="'label'"):
        from_folder(images, csv_path, label_column="label")
    with pytest.raises(ValueError, match="'image' is not in .*records"):
        from_folder(images, write_jsonl(tmp_path / "k.jsonl", [{"img": "a.png", "caption": "x"}]))
    bad = write_csv(tmp_path / "bad.csv", [("missing.png", "x"), ("notes.jpg", "y")])
    with pytest.raises(ValueError, match=r"no usable rows in .*bad\.csv.*1 missing file") as err:
        from_folder(images, bad)
    assert str(images.resolve() / "missing.png") in str(err.value)  # the path that was tried


def test_several_text_columns_and_multi_value_cells(images, tmp_path):
    rows = [
        ("astronaut.png", "An astronaut", "space|suit|nasa"),
        ("coffee.jpg", "Coffee!", ""),
        ("chelsea.png", "", "cat|ginger"),
    ]
    path = write_csv(tmp_path / "kw.csv", rows, header="image,title,keywords")
    mv = quiet(from_folder, images, path, caption_column=["title", "keywords"], separator="|")
    assert mv["text"] == ["An astronaut. space, suit, nasa.", "Coffee!", "cat, ginger."]
    frame = pd.DataFrame(rows, columns=["image", "title", "keywords"])
    frame.to_parquet(tmp_path / "kw.parquet")
    same = quiet(
        from_folder,
        images,
        tmp_path / "kw.parquet",
        caption_column=["title", "keywords"],
        separator="|",
    )
    assert same["text"] == mv["text"] and same["image"] == mv["image"]
    with pytest.raises(ValueError, match="'tags' is not in"):
        from_folder(images, tmp_path / "kw.parquet", caption_column=["title", "tags"])


# ------------------------------------------------------------------ tables
@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(6, 3)), columns=["gene_1", "gene_2", "gene_3"])
    df["lipid_a"], df["lipid_b"] = rng.normal(size=6), rng.normal(size=6)
    df["age"] = np.arange(6)
    df["diet"] = ["fish", "corn", "fish", "sun", "corn", "fish"]
    df["mouse"] = [f"m{i}" for i in range(6)]
    df.loc[1, "gene_2"] = np.nan
    df.loc[4, "lipid_b"] = np.nan
    df.loc[4, "gene_1"] = np.nan
    return df


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_views_masks_patterns(table, tmp_path, fmt):
    path = tmp_path / f"t.{fmt}"
    table.to_csv(path, index=False) if fmt == "csv" else table.to_parquet(path, index=False)
    read = from_csv if fmt == "csv" else from_parquet
    views = {"gene": ["gene_*"], "lipid": ["lipid_b", "lipid_a"], "age": "age"}
    mv = quiet(read, path, views, label_column="diet", id_column="mouse")
    assert mv.view_names == ["gene", "lipid", "age"] and len(mv) == 6
    assert mv["gene"].shape == (6, 3) and mv["lipid"].shape == (6, 2) and mv["age"].shape == (6, 1)
    assert mv.meta["columns"]["gene"] == ["gene_1", "gene_2", "gene_3"]
    np.testing.assert_allclose(mv["lipid"][0], table.loc[0, ["lipid_b", "lipid_a"]])
    assert mv.observed("gene").tolist() == [True, False, True, True, False, True]
    assert mv.observed("lipid").tolist() == [True, True, True, True, False, True]
    assert mv.observed("age").all()
    assert np.isnan(mv["gene"][1]).all()  # masked rows hold NaN, never zeros
    assert mv.complete_rows().sum() == 4
    assert mv.meta["label_names"] == ["corn", "fish", "sun"]
    assert mv.labels.tolist() == [1, 0, 1, 2, 0, 1] and mv.ids.tolist()[0] == "m0"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_errors(table, tmp_path, fmt):
    table["note"] = ["ok", "1.5", "x", "2", "ok", "3"]
    path = tmp_path / f"t.{fmt}"
    table.to_csv(path, index=False) if fmt == "csv" else table.to_parquet(path, index=False)
    read = from_csv if fmt == "csv" else from_parquet
    with pytest.raises(ValueError, match=r"column 'note' \(view 'extra'\) is not numeric.*'ok'"):
        read(path, {"gene": ["gene_*"], "extra": ["lipid_a", "note"]})
    with pytest.raises(ValueError, match=r"view 'gene': no column 'gene_9' .*columns: \['gene_1'"):
        read(path, {"gene": ["gene_1", "gene_9"]})
    with pytest.raises(ValueError, match="no column matches 'protein_\\*'"):
        read(path, {"protein": ["protein_*"]})
    with pytest.raises(ValueError, match="column 'group' is not in"):
        read(path, {"gene": ["gene_*"]}, label_column="group")
    with pytest.raises(ValueError, match="views is empty"):
        read(path, {})
    with pytest.raises(ValueError, match="id column 'diet' repeats 'fish'"):
        read(path, {"gene": ["gene_*"]}, id_column="diet")


def test_table_file_errors(tmp_path):
    path = tmp_path / "inf.csv"
    path.write_text("a,b\n1,2\n3,inf\n")
    with pytest.raises(ValueError, match=r"column 'b' \(view 'x'\) is infinite in row 2"):
        from_csv(path, {"x": ["a", "b"]})
    with pytest.raises(FileNotFoundError, match="CSV file .*nope.csv"):
        from_csv(tmp_path / "nope.csv", {"x": ["a"]})
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="CSV file .*empty.csv' is empty"):
        from_csv(tmp_path / "empty.csv", {"x": ["a"]})
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="has no data rows"):
        from_csv(tmp_path / "header.csv", {"x": ["a"]})
    with pytest.raises(ValueError, match="Parquet file .*inf.csv' is unreadable"):
        from_parquet(path, {"x": ["a"]})


def test_from_npy(tmp_path):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 4)), rng.integers(0, 9, size=5)
    X[2, 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    np.save(tmp_path / "names.npy", np.array(["a", "b", "c", "d", "e"]))
    mv = from_npy(img=tmp_path / "x.npy", lbl=str(tmp_path / "y.npy"), name=tmp_path / "names.npy")
    assert mv.view_names == ["img", "lbl", "name"]
    assert mv["img"].shape == (5, 4) and mv["lbl"].shape == (5, 1) and mv["name"][4] == "e"
    assert mv.observed("img").tolist() == [True, True, False, True, True]
    np.testing.assert_array_equal(mv["img"][0], X[0])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="view 'o': .*obj.npy is not a plain .npy array"):
        from_npy(o=tmp_path / "obj.npy")
    np.save(tmp_path / "short.npy", X[:3])
    with pytest.raises(ValueError, match="rows"):
        from_npy(a=tmp_path / "x.npy", b=tmp_path / "short.npy")
    with pytest.raises(FileNotFoundError, match="view 'z' file"):
        from_npy(z=tmp_path / "none.npy")
    with pytest.raises(ValueError, match="no views"):
        from_npy()


# ------------------------------------------------------------------ audio
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs the espeak-ng binary")
def test_audio_folder_with_speech_and_broken_files(tmp_path):
    phrases = {"apple.wav": "a red apple", "boat.wav": "a small boat on the lake"}
    for name, text in phrases.items():
        subprocess.run(["espeak-ng", "-w", str(tmp_path / name), text], check=True)
    speech, rate = sf.read(tmp_path / "apple.wav")
    assert len(speech) > rate // 4  # real speech, not silence of zero length
    sf.write(tmp_path / "apple.flac", speech, rate)
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    sf.write(tmp_path / "empty.wav", np.zeros(0), rate)
    path = write_csv(
        tmp_path / "audio.csv",
        [
            ("apple.wav", "a red apple"),
            ("noise.wav", "random bytes"),
            ("boat.wav", "a small boat on the lake"),
            ("apple.flac", "an apple, once more"),
            ("empty.wav", "nothing at all"),
            ("apple.wav", "one apple"),
        ],
        header="audio,caption",
    )
    with pytest.warns(UserWarning, match=r"skipped 2 of 6 rows \(1 unreadable audio, 1 empty"):
        mv = from_audio_folder(tmp_path, path)
    assert mv.view_names == ["audio", "text"] and len(mv) == 4
    assert mv.ids.tolist() == ["apple.wav#0", "boat.wav#0", "apple.flac#0", "apple.wav#1"]
    assert mv.groups.tolist() == [0, 1, 2, 0]
    assert sf.info(mv["audio"][1]).frames > 0
    skipped = {s["item"]: s for s in mv.meta["skipped"]}
    assert skipped["noise.wav"]["row"] == 3
    assert skipped["noise.wav"]["reason"].startswith("unreadable audio")
    assert skipped["empty.wav"]["reason"] == "empty audio: 0 frames"
