"""OpenClipArt loader on the real Debian files: captions, renders, cache, splits, bad files."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jointspace import load_dataset
from jointspace.data.openclipart import DEFAULT_ROOT, SPLITS, caption, load_openclipart

SRC = Path(DEFAULT_ROOT)
needs_data = pytest.mark.skipif(not SRC.is_dir(), reason="Debian openclipart-svg is not installed")
LIMIT, SIZE = 300, 64
GOOD = [
    "animals/architetto_francesco_ro_01.svg",
    "animals/armadillo_architetto_fra_01.svg",
    "animals/az-lizard_benji_park_01.svg",
    "food/fruitcollection_leif_lod_07.svg",
]
ENTITIES = "office/floppy_frederic_moser_01.svg"  # Illustrator DTD entities (&ns_svg;)
UNRENDERABLE = "animals/fish/dolphin_enrique_meza_c_01.svg"  # stroke-opacity="100%"


def _copy(root: Path, rel: str) -> Path:
    dst = root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SRC / rel, dst)
    return dst


def _mtimes(mv) -> dict[str, int]:
    return {p: os.stat(p).st_mtime_ns for p in mv["image"]}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def small(cache):
    """The first 300 SVGs rendered into a fresh cache (a process pool of 2)."""
    return load_openclipart(size=SIZE, cache_dir=cache, n_jobs=2, limit=LIMIT)


# ------------------------------------------------------------------ captions
def test_caption_cleaning():
    meta = {
        "title": "  Untitled  ",
        "description": "A  red\n apple",
        "keywords": ["food", "Apple", "apple", "", "fruit", "foods"],
    }
    assert caption(meta, "food") == "A red apple. keywords: Apple, fruit"
    assert caption({"title": "Cat", "description": "cat", "keywords": ["animals"]}, "animals") == (
        "Cat."
    )
    assert caption({"title": "HASH(0x862bbb8)", "keywords": ["shapes"]}, "shapes") == ""


# ------------------------------------------------------------------ real data
@needs_data
def test_small_load(small):
    n = len(small)
    assert 0.9 * LIMIT <= n <= LIMIT
    assert small.view_names == ["image", "text"]
    assert all(isinstance(t, str) and t.strip() for t in small["text"])
    names = small.meta["label_names"]
    assert "animals" in names and "transportation" in names
    assert small.labels.dtype.kind == "i"
    assert ((small.labels >= 0) & (small.labels < len(names))).all()
    assert len(set(small.ids.tolist())) == n and all(not i.startswith("/") for i in small.ids)
    skipped = small.meta["skipped"]
    assert set(skipped) == {"unparseable", "no text", "render failed"}
    assert n + sum(map(len, skipped.values())) == LIMIT
    assert small.meta["size"] == SIZE and small.meta["cache"]["rendered"] > 0
    inked = 0
    for path in small["image"]:
        with Image.open(path) as img:
            assert img.size == (SIZE, SIZE) and img.mode == "RGB"
            inked += np.asarray(img).min() < 250
    assert inked >= 0.95 * n  # the renders are not blank


@needs_data
def test_second_load_is_served_from_cache(small, cache):
    before = _mtimes(small)
    again = load_openclipart(size=SIZE, cache_dir=cache, n_jobs=2, limit=LIMIT)
    # nothing parsed or rendered again, and no cached file rewritten (timing is for benchmarks)
    assert again.meta["cache"]["parsed"] == 0 and again.meta["cache"]["rendered"] == 0
    assert _mtimes(again) == before
    assert again["text"] == small["text"] and again.ids.tolist() == small.ids.tolist()


@needs_data
def test_split_partition(small, cache):
    parts = {s: load_openclipart(split=s, size=SIZE, cache_dir=cache, limit=LIMIT) for s in SPLITS}
    ids = {s: set(mv.ids.tolist()) for s, mv in parts.items()}
    assert set.union(*ids.values()) == set(small.ids.tolist())
    assert sum(map(len, ids.values())) == len(small)
    for s, mv in parts.items():
        assert mv.meta["split"] == s and mv.meta["cache"]["rendered"] == 0
        assert ids[s] == set(small.ids[small.meta["split"] == s].tolist())
    assert len(ids["train"]) > len(ids["val"]) > 0 and len(ids["test"]) > 0
    again = load_openclipart(split="test", size=SIZE, cache_dir=cache, limit=LIMIT)
    assert again.ids.tolist() == parts["test"].ids.tolist()
    both = load_openclipart(split="train+val", size=SIZE, cache_dir=cache, limit=LIMIT)
    assert set(both.ids.tolist()) == ids["train"] | ids["val"]
    # a symlinked copy shares its image's group and split
    for g in np.unique(small.groups):
        assert len(set(small.meta["split"][small.groups == g])) == 1


@needs_data
def test_load_dataset_registry(small, cache):
    mv = load_dataset("openclipart", split="test", size=SIZE, cache_dir=cache, limit=LIMIT)
    assert mv.meta["name"] == "openclipart" and "public domain" in mv.meta["citation"]
    assert mv.view_names == ["image", "text"] and len(mv) > 0
    assert mv.meta["cache"]["rendered"] == 0


@needs_data
def test_changed_file_rerenders_alone(tmp_path):
    root, cache = tmp_path / "svg", tmp_path / "cache"
    for rel in GOOD:
        _copy(root, rel)
    first = load_openclipart(root=root, cache_dir=cache, size=32, n_jobs=1)
    assert len(first) == len(GOOD) and first.meta["cache"]["rendered"] == len(GOOD)
    changed = root / GOOD[0]
    changed.write_bytes(changed.read_bytes().replace(b"<dc:title>", b"<dc:title>Modified ", 1))
    before = _mtimes(first)
    second = load_openclipart(root=root, cache_dir=cache, size=32, n_jobs=1)
    assert second.meta["cache"] == {**first.meta["cache"], "parsed": 1, "rendered": 1}
    i = second.ids.tolist().index(GOOD[0])
    assert second["text"][i].startswith("Modified Architetto")
    assert second["image"][i] != first["image"][i]
    assert {p: t for p, t in _mtimes(second).items() if p in before} == {
        p: t for p, t in before.items() if p != first["image"][i]
    }


@needs_data
def test_broken_files_are_skipped_and_named(tmp_path):
    root = tmp_path / "svg"
    for rel in [*GOOD[:2], ENTITIES]:
        _copy(root, rel)
    _copy(root, UNRENDERABLE)
    data = (SRC / GOOD[2]).read_bytes()
    (root / "animals" / "truncated.svg").write_bytes(data[: len(data) // 2])
    (root / "shapes").mkdir()
    (root / "shapes" / "notxml.svg").write_text("this is not XML at all <<<")
    (root / "shapes" / "nometa.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20">'
        '<rect width="10" height="20" fill="red"/></svg>'
    )
    mv = load_openclipart(root=root, cache_dir=tmp_path / "cache", size=32, n_jobs=1)
    assert sorted(mv.ids.tolist()) == sorted([*GOOD[:2], ENTITIES])
    assert mv.meta["skipped"] == {
        "unparseable": ["animals/truncated.svg", "shapes/notxml.svg"],
        "no text": ["shapes/nometa.svg"],
        "render failed": [UNRENDERABLE],
    }
    assert mv.meta["label_names"] == ["animals", "office", "shapes"]


def test_bad_split_and_missing_root(tmp_path):
    with pytest.raises(ValueError, match="'validation'.*train.*val.*test"):
        load_openclipart(split="validation", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="apt-get install -y openclipart-svg.*root="):
        load_openclipart(root=tmp_path / "missing", cache_dir=tmp_path)


# ------------------------------------------------------------------ full set
@pytest.mark.slow
@needs_data
def test_full_set(tmp_path):
    t0 = time.perf_counter()
    mv = load_openclipart(size=SIZE, cache_dir=tmp_path)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = load_openclipart(size=SIZE, cache_dir=tmp_path)
    second = time.perf_counter() - t0
    skipped = {k: len(v) for k, v in mv.meta["skipped"].items()}
    print(
        f"\nopenclipart: {len(mv)} kept, skipped {skipped}; first load {first:.1f} s "
        f"({(len(mv) + sum(skipped.values())) / first:.1f} files/s, "
        f"{mv.meta['cache']['rendered']} distinct renders), second load {second:.2f} s"
    )
    assert len(mv) >= 7500 and mv.labels is not None
    assert len(mv.meta["label_names"]) == 22
    assert np.bincount(mv.labels, minlength=22).min() > 0
    assert again.meta["cache"]["rendered"] == 0 and again.ids.tolist() == mv.ids.tolist()
    share = {s: float(np.mean(mv.meta["split"] == s)) for s in SPLITS}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["val"] < 0.13
    assert 0.07 < share["test"] < 0.13
