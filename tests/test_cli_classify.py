"""`jointspace classify` and `jointspace predict` on a user's own table: a fusion classifier
(or regressor) over several views, trained with some views missing, saved as a pipeline,
and used on another file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jointspace import load_dataset
from jointspace.pipeline import Pipeline

EXE = str(Path(sys.executable).with_name("jointspace"))


def run(*args, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=900,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def write_table(path: Path, views: dict, lacking: np.ndarray, labels) -> None:
    """A CSV with one column per feature (``<view>_<j>``) and a ``target`` column; the second
    view's cells are empty in the rows ``lacking``."""
    names = list(views)
    header = [f"{v}_{j}" for v in names for j in range(views[v].shape[1])] + ["target"]
    lines = [",".join(header)]
    for r in range(len(labels)):
        cells = []
        for i, v in enumerate(names):
            row = views[v][r]
            cells += [""] * len(row) if (i == 1 and lacking[r]) else [f"{x:.6g}" for x in row]
        lines.append(",".join([*cells, str(labels[r])]))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """uci-mfeat fou + kar as a user's table, kar empty in 30 % of the rows, digit names as
    labels: 600 rows to train on, and another file of 100 rows with only four classes."""
    root = tmp_path_factory.mktemp("digits")
    data = load_dataset("uci-mfeat").select(["fou", "kar"])
    rng = np.random.default_rng(0)
    order = rng.permutation(data.n_samples)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    views = {v: np.asarray(data[v]) for v in ("fou", "kar")}
    lacking = rng.random(data.n_samples) < 0.3
    train = order[:600]
    new = np.array([i for i in order[600:] if data.labels[i] in (2, 5, 7, 9)][:100])
    write_table(root / "train.csv", {v: a[train] for v, a in views.items()}, lacking[train],
                names[data.labels[train]])
    write_table(root / "new.csv", {v: a[new] for v, a in views.items()}, lacking[new],
                names[data.labels[new]])
    return root, names[data.labels[new]], lacking[new]


COLUMNS = ["--columns", "fou=fou_*,kar=kar_*"]


def test_classify_then_predict_on_another_file(digits, tmp_path):
    root, truth, lacking = digits
    fitted = json.loads(run("classify", "--table", root / "train.csv", *COLUMNS,
                            "--label-column", "target", "--out", tmp_path / "clf",
                            "--json").stdout)
    assert fitted["model"] == "FusionClassifier" and fitted["fusion"] == "early"
    # 120 held-out digits, 30 % without kar. For scale, a logistic regression on 480 rows
    # scores 0.93 on both views and 0.73 on fou alone: about 0.87 is what a mix allows
    assert fitted["test"]["accuracy"] > 0.8
    again = json.loads(run("eval", tmp_path / "clf", "--json").stdout)  # the same split
    assert again["accuracy"] == fitted["test"]["accuracy"]
    out = json.loads(run("predict", tmp_path / "clf", "--table", root / "new.csv", *COLUMNS,
                         "--json").stdout)["predictions"]
    predicted = np.array([row["prediction"] for row in out])
    # the classes are the names themselves, not the new file's own codes for its 4 classes
    assert set(predicted) <= set(truth) | {"zero", "one", "three", "four", "six", "eight"}
    assert (predicted == truth).mean() > 0.8
    assert (predicted[lacking] == truth[lacking]).mean() > 0.6  # from fou alone
    pipe = Pipeline.load(tmp_path / "clf")
    from jointspace.data import from_csv

    rows = from_csv(root / "new.csv", {"fou": "fou_*", "kar": "kar_*"})
    np.testing.assert_array_equal(pipe.predict(rows), predicted)
    assert pipe.fuse(rows).shape == (100, 32)
    with pytest.raises(ValueError, match="no per-view joint space"):
        pipe.transform_view("fou", np.asarray(rows["fou"]))


def test_regress_on_a_numeric_target(tmp_path):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    write_table(tmp_path / "d.csv", {"body": X[:, :4], "serum": X[:, 4:]},
                np.zeros(len(y), bool), y)
    fitted = json.loads(run("classify", "--table", tmp_path / "d.csv", "--columns",
                            "body=body_*,serum=serum_*", "--label-column", "target",
                            "--task", "regress", "--out", tmp_path / "reg", "--json").stdout)
    assert fitted["model"] == "FusionRegressor" and fitted["fusion"] == "late"
    assert 0.3 < fitted["test"]["r2"] < 0.7  # RidgeCV on the joined views: about 0.44
    again = json.loads(run("eval", tmp_path / "reg", "--json").stdout)  # the same split
    assert again["r2"] == fitted["test"]["r2"]


def test_bad_requests_are_one_clear_line(digits, tmp_path):
    root, _, _ = digits
    no_labels = run("classify", "--table", root / "train.csv", *COLUMNS, "--out",
                    tmp_path / "x", ok=False)
    assert no_labels.returncode == 2 and "has no labels" in no_labels.stderr
    words = run("classify", "--table", root / "train.csv", *COLUMNS, "--label-column",
                "target", "--task", "regress", "--out", tmp_path / "y", ok=False)
    assert words.returncode == 2 and "FusionRegressor needs numeric labels" in words.stderr
    fusion = run("classify", "--table", root / "train.csv", *COLUMNS, "--label-column",
                 "target", "--fusion", "sum", "--out", tmp_path / "z", ok=False)
    assert fusion.returncode == 2 and "'fusion' parameter of FusionClassifier" in fusion.stderr
