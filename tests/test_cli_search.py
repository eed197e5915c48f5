"""`jointspace index build | info` and `jointspace search` as a user runs them on a folder."""

from __future__ import annotations

import json
import shutil

from test_cli_own_data import run


def test_index_a_folder_search_it_and_keep_it_current(photo_pipeline, photo_folder, tmp_path):
    src, _ = photo_folder
    root = tmp_path / "photos"
    shutil.copytree(src, root)
    captions = root / "captions.csv"
    out = tmp_path / "ix"
    first = json.loads(run("index", "build", photo_pipeline, "--images", root, "--captions",
                           captions, "--label-column", "label", "--out", out, "--json").stdout)
    assert (first["embedded"], first["captions_embedded"]) == (24, 48)
    info = json.loads(run("index", "info", out, "--json").stdout)
    assert info["collections"]["images"]["items"] == 24
    assert info["collections"]["captions"]["items"] == 48
    assert "captions" in run("index", "info", out).stdout

    hits = json.loads(run("search", out, "--image", root / "rocket" / "2.png", "-k", "3",
                          "--json").stdout)
    assert hits[0]["id"] == "rocket/2.png" and len(hits) == 3
    paths = run("search", out, "--image", root / "rocket" / "2.png", "-k", "3", "--paths")
    assert paths.stdout.splitlines() == [h["file"] for h in hits]
    table = run("search", out, "a ginger cat lying down", "--not", "space", "-k", "2",
                "--filter", "label = 'chelsea'").stdout
    rows = [line for line in table.splitlines() if ".png" in line]
    assert len(rows) == 2 and all("chelsea/" in row for row in rows) and "score" in table
    caps = json.loads(run("search", out, "--image", root / "flower" / "0.png",
                          "--collection", "captions", "-k", "1", "--json").stdout)
    assert caps[0]["path"].startswith("flower/") and "#" in caps[0]["id"]

    (root / "flower" / "1.png").unlink()
    shutil.copy(root / "china" / "1.png", root / "extra.png")  # not in the captions file
    second = json.loads(run("index", "build", photo_pipeline, "--images", root,
                            "--out", out, "--json").stdout)  # the whole folder, no captions
    assert (second["embedded"], second["removed"], second["unchanged"]) == (1, 1, 0)
    assert second["touched"] == 23  # their captions went
    for args, message in [
        (("search", out), "empty query"),
        (("search", out, "cat", "--collection", "audio"), "no collection 'audio'"),
        (("search", out, "--image", root / "nope.png"), "does not exist"),
        (("search", tmp_path), "not a jointspace index"),
        (("search", out, "cat", "--filter", "label = = 1"), "not valid"),
        (("index", "build", photo_pipeline, "--out", out), "name the images"),
    ]:
        proc = run(*args, ok=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
