"""The command line on a user's own data: a folder of images with a captions file, as the
README's "Your own images and captions" section lays it out. Real subprocesses, real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXE = str(Path(sys.executable).with_name("jointspace"))


def run(*args: str, ok: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [EXE, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def user_folder(photo_folder, tmp_path_factory) -> tuple[Path, Path]:
    """The photo folder plus what real folders have: a broken image and a row naming a
    file that does not exist."""
    src, captions = photo_folder
    root = tmp_path_factory.mktemp("mine") / "photos"
    shutil.copytree(src, root)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows = captions.read_text().splitlines()
    rows += ["broken.png,a broken picture,coffee", "gone/away.png,a lost picture,coffee"]
    table = root.parent / "captions.csv"  # the captions file need not sit in the folder
    table.write_text("\n".join(rows) + "\n")
    (root / "captions.csv").unlink()
    return root, table


def test_encode_reads_an_image_column_relative_to_the_images_folder(user_folder, tmp_path):
    root, table = user_folder
    good = tmp_path / "good.csv"
    good.write_text("caption,image\na cat,chelsea/0.png\na cup,coffee/1.png\n")
    out = json.loads(
        run("encode", "--encoder", "hog+color-hist", "--input", good, "--images", root,
            "--out", tmp_path / "f.npy", "--json").stdout
    )  # fmt: skip
    features = np.load(tmp_path / "f.npy")
    assert out["n"] == 2 and features.shape == (2, 1764 + 48)  # the image column, not captions
    folder = json.loads(
        run("encode", "--encoder", "color-hist", "--input", root / "chelsea",
            "--out", tmp_path / "d.npy", "--json").stdout
    )  # fmt: skip
    listing = (tmp_path / "d.txt").read_text().split()
    assert folder["n"] == 3 and [Path(p).name for p in listing] == ["0.png", "1.png", "2.png"]
    bad = run("encode", "--encoder", "hog", "--input", good, "--out", tmp_path / "x.npy", ok=False)
    assert bad.returncode == 2
    assert str(tmp_path / "chelsea" / "0.png") in bad.stderr  # the path that was tried
    assert "relative to --images" in bad.stderr


def test_fit_and_eval_a_pipeline_on_a_folder_and_captions_file(user_folder, tmp_path):
    root, table = user_folder
    out = tmp_path / "search"
    proc = run(
        "fit", "--images", root, "--captions", table, "--label-column", "label",
        "--encoders", "text=tfidf,image=hog+color-hist", "--model", "cca",
        "--n-components", "4", "--reg", "0.1", "--test-size", "0.25", "--out", out, "--json",
    )  # fmt: skip
    fitted = json.loads(proc.stdout)
    # the broken image and the missing file are reported, with the path tried
    assert "skipped 2 of 50 rows" in proc.stderr
    assert "unreadable image" in proc.stderr and str(root / "gone" / "away.png") in proc.stderr
    assert fitted["views"] == ["image", "text"]
    assert fitted["encoders"] == {"image": "hog+color-hist", "text": "tfidf"}
    assert fitted["test"]["relevance"] == "caption" and "instance_ceiling" in fitted["test"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metadata"]["data"]["images"] == str(root.resolve())
    assert manifest["test_metrics"]["retrieval"] == fitted["test"]["retrieval"]
    again = json.loads(run("eval", out, "--json").stdout)  # the held-out split of the fit
    assert again["retrieval"] == fitted["test"]["retrieval"]
    new = tmp_path / "new.csv"
    new.write_text("image,caption\nchelsea/1.png,a ginger cat\ncoffee/1.png,a cup of coffee\n"
                   "rocket/2.png,a rocket\n")  # fmt: skip
    other = json.loads(run("eval", out, "--images", root, "--captions", new, "--json").stdout)
    assert other["n_samples"] == 3 and other["relevance"] == "caption"
    # a path that leaves the images folder is skipped unless --allow-outside-paths
    outside = tmp_path / "outside.csv"
    outside.write_text(new.read_text() + "../flower/0.png,a pink flower\n"
                       f"{root / 'hubble' / '0.png'},galaxies\n")
    refused = run("eval", out, "--images", root / "chelsea", "--captions", outside, "--json",
                  ok=False)
    assert refused.returncode == 2 and "outside the folder" in refused.stderr
    allowed = run("eval", out, "--images", root / "chelsea", "--captions", outside, "--json",
                  "--allow-outside-paths")
    assert json.loads(allowed.stdout)["n_samples"] == 2  # the flower and the galaxies
    text = run("eval", out).stdout
    assert "caption relevance" in text and "ceiling" in text

    from jointspace import Pipeline

    pipe = Pipeline.load(out)
    images = pipe.transform_view("image", [str(root / "chelsea" / "0.png")])
    captions = pipe.transform_view("text", ["a ginger cat lying down", "galaxies in deep space"])
    assert images.shape == (1, 4) and captions.shape == (2, 4)


def test_bench_on_your_own_folder(user_folder):
    root, table = user_folder
    proc = run(
        "bench", "--images", root, "--captions", table, "--encoders",
        "text=tfidf,image=color-hist", "--models", "cca,pls", "--n-components", "3",
        "--reg", "0.1", "--json",
    )  # fmt: skip
    rows = json.loads(proc.stdout)
    assert [r["model"] for r in rows] == ["cca", "pls"]
    assert rows[0]["dataset"] == "captions.csv" and rows[0]["metrics"]["relevance"] == "caption"


def test_fit_on_a_table_with_empty_cells_fills_missing_views_as_asked(tmp_path):
    """A user's table where some rows lack a view (empty cells): `--missing mean` trains on
    every row and fills that view at query time too; by default CCA drops those rows."""
    import numpy as np

    from jointspace import MultiView, load_dataset
    from jointspace.pipeline import Pipeline

    data = load_dataset("uci-mfeat").select(["fou", "kar"]).subset(np.arange(0, 2000, 5))
    fou, kar = np.asarray(data["fou"]), np.asarray(data["kar"])
    lacking = np.random.default_rng(0).random(len(fou)) < 0.3
    header = [f"fou_{j}" for j in range(fou.shape[1])] + [f"kar_{j}" for j in range(kar.shape[1])]
    lines = [",".join(header)]
    for f, k, gone in zip(fou, kar, lacking):
        lines.append(",".join([f"{x:.6g}" for x in f] + ([""] * len(k) if gone else
                                                           [f"{x:.6g}" for x in k])))
    table = tmp_path / "digits.csv"
    table.write_text("\n".join(lines) + "\n")
    common = ["fit", "--table", table, "--columns", "fou=fou_*,kar=kar_*", "--model", "cca",
              "--n-components", "4", "--json"]
    run(*common, "--missing", "mean", "--out", tmp_path / "filled")
    run(*common, "--out", tmp_path / "dropped")
    filled = Pipeline.load(tmp_path / "filled").model
    dropped = Pipeline.load(tmp_path / "dropped").model
    assert filled.missing == "mean" and filled.imputer_ is not None
    assert dropped.missing_strategy == "drop" and dropped.imputer_ is None
    query = MultiView({"fou": fou[:20], "kar": kar[:20]},
                      mask=np.column_stack([np.ones(20, bool), ~lacking[:20]]))
    assert lacking[:20].any()
    assert np.isfinite(filled.transform(query)[1]).all()
    assert np.isnan(dropped.transform(query)[1][lacking[:20]]).all()
    bad = run(*common, "--missing", "guess", "--out", tmp_path / "bad", ok=False)
    assert bad.returncode == 2 and "'missing' parameter of CCA" in bad.stderr
