"""The `jointspace` command, run as a user runs it: a real subprocess of the console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXE = str(Path(sys.executable).with_name("jointspace"))


def run(*args: str, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [EXE, *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", **(env or {})},
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_datasets_list_and_show():
    listed = json.loads(run("datasets", "list", "--json").stdout)
    names = {d["name"] for d in listed}
    assert {"mnist-halves", "noisy-mnist", "uci-mfeat", "nutrimouse", "linnerud"} <= names
    assert all(d["description"] and d["citation"] for d in listed)
    shown = json.loads(run("datasets", "show", "uci-mfeat", "--json").stdout)
    assert shown["n_samples"] == 2000 and shown["n_classes"] == 10
    assert shown["views"]["fac"] == [216]
    assert "uci-mfeat" in run("datasets", "list").stdout


def test_fit_then_eval_round_trip(tmp_path, mnist_split):
    out = tmp_path / "cca"
    fitted = json.loads(
        run(
            "fit",
            "--dataset",
            "mnist-halves",
            "--model",
            "cca",
            "--n-components",
            "50",
            "--reg",
            "1e-3",
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    assert fitted["views"] == ["left", "right"] and (out / "manifest.json").is_file()
    assert (out / "model" / "arrays.safetensors").is_file()
    assert fitted["test"]["corr_sum"] == pytest.approx(24.6, abs=0.1)
    report = json.loads(run("eval", str(out), "--json").stdout)
    assert report["data"] == "mnist-halves"
    assert report["corr_sum"] == pytest.approx(24.6, abs=0.1)  # same split as at fit
    # the reference: the saved model's test embeddings (same split: seed 0, 20 %), ranked
    # here by cosine, ties counted against the query, each left half's own right half
    from jointspace import Pipeline

    _, _, _, test = mnist_split
    left, right = Pipeline.load(out).transform(test)
    left /= np.linalg.norm(left, axis=1, keepdims=True)
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    sims = left @ right.T
    ranks = np.count_nonzero(sims >= np.diag(sims)[:, None], axis=1)  # itself included
    for k in (1, 5, 10):
        expected = 100.0 * np.mean(ranks <= k)
        assert report["retrieval"]["left→right"][f"R@{k}"] == pytest.approx(expected, abs=1e-9)
    assert report["retrieval"]["left→right"]["MedR"] == pytest.approx(np.median(ranks))
    assert 0.5 < report["probe_acc"] <= 1
    assert report["relevance"] == "instance" and "instance_ceiling" not in report
    table = run("eval", str(out)).stdout
    assert "left→right" in table and "right→left" in table and "R@10" in table
    assert "instance relevance" in table


def test_fit_and_eval_deep_model_with_training_options(tmp_path):
    out = tmp_path / "dcca"
    fitted = json.loads(
        run(
            "fit",
            "--dataset",
            "nutrimouse",
            "--model",
            "dcca",
            "--n-components",
            "3",
            "--epochs",
            "4",
            "--hidden",
            "16,16",
            "--batch-size",
            "16",
            "--lr",
            "0.01",
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    assert fitted["model"] == "dcca"
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["params"]["training"]["epochs"] == 4 and config["params"]["hidden"] == [16, 16]
    report = json.loads(run("eval", str(out), "--json").stdout)
    assert len(report["correlations"]) == 3 and np.isfinite(report["corr_sum"])


def test_bench_compares_models():
    rows = json.loads(
        run(
            "bench",
            "--dataset",
            "nutrimouse",
            "--models",
            "cca,pls,kcca",
            "--n-components",
            "3",
            "--reg",
            "0.1",
            "--json",
        ).stdout
    )
    assert [r["model"] for r in rows] == ["cca", "pls", "kcca"]
    assert all(r["views"] == ["gene", "lipid"] for r in rows)
    assert all(0 < r["metrics"]["corr_sum"] <= 3 for r in rows)
    six = json.loads(
        run(
            "bench",
            "--dataset",
            "uci-mfeat",
            "--models",
            "mcca,gcca",
            "--n-components",
            "5",
            "--json",
        ).stdout
    )
    assert all(len(r["views"]) == 6 for r in six)
    assert (
        "pls"
        in run(
            "bench", "--dataset", "linnerud", "--models", "cca,pls", "--n-components", "2"
        ).stdout
    )


def test_bench_relevance_option():
    """--relevance picks the positives of R@K (errors: see test_errors_are_one_clear_line)."""
    args = ("bench", "--dataset", "nutrimouse", "--models", "cca", "--n-components", "3")
    (by_label,) = json.loads(run(*args, "--relevance", "label", "--json").stdout)
    metrics = by_label["metrics"]
    assert metrics["relevance"] == "label" and "instance_ceiling" not in metrics
    for scores in metrics["retrieval"].values():  # 4 + 4 test mice of 2 genotypes: any top 5
        assert scores["R@5"] == 100.0 and scores["MedR"] <= 5  # holds one of the query's kind
    table = " ".join(run(*args, "--relevance", "label").stdout.split())
    assert "label relevance (same class label); mAP by label" in table
    linnerud = ("bench", "--dataset", "linnerud", "--models", "cca", "--n-components", "2")
    default = " ".join(run(*linnerud).stdout.split())
    assert "instance relevance (same item" in default and "mAP by instance" in default


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("datasets", "show", "mnist"), "unknown dataset 'mnist'"),
        (("bench", "--dataset", "linnerud", "--models", "foo"), "unknown model 'foo'"),
        (
            ("bench", "--dataset", "uci-mfeat", "--models", "mcca", "--n-components", "10"),
            "n_components=10 must be at most 6, the number of features in the narrowest view "
            "('mor')",
        ),
        (("bench", "--dataset", "linnerud", "--views", "exercise,nope"), "view 'nope' does not"),
        (("eval", "/nonexistent/model"), "is not a jointspace pipeline: no manifest.json"),
        (("fit", "--images", "/tmp", "--out", "x"), "add --captions FILE"),
        (("fit", "--out", "x"), "name one data source"),
        (
            ("bench", "--dataset", "linnerud", "--relevance", "caption"),
            "relevance='caption' needs a view of captions (raw text) among exercise",
        ),
        (
            ("bench", "--dataset", "linnerud", "--relevance", "label"),
            "relevance='label' needs labelled test rows",
        ),
        (
            ("bench", "--dataset", "linnerud", "--relevance", "image"),
            "expected one of ['caption', 'instance', 'label']",
        ),
    ],
)
def test_errors_are_one_clear_line(args, message):
    proc = run(*args, ok=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_encode_text_and_images(tmp_path):
    texts = tmp_path / "captions.txt"
    texts.write_text("a red apple\na yellow school bus\na black cat on a mat\n")
    out = json.loads(
        run(
            "encode",
            "--encoder",
            "tfidf",
            "--input",
            str(texts),
            "--out",
            str(tmp_path / "t.npy"),
            "--json",
        ).stdout
    )
    assert out["n"] == 3 and np.load(tmp_path / "t.npy").shape == (3, out["dim"])
    from skimage import data, io

    for name in ("astronaut", "coffee"):
        io.imsave(tmp_path / f"{name}.png", getattr(data, name)())
    (tmp_path / "images.csv").write_text(
        "image,caption\nastronaut.png,a person\ncoffee.png,a cup\n"
    )
    run(
        "encode",
        "--encoder",
        "color-hist",
        "--input",
        str(tmp_path / "images.csv"),
        "--column",
        "image",
        "--out",
        str(tmp_path / "i.npy"),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    hist = np.load(tmp_path / "i.npy")
    assert hist.shape[0] == 2 and not np.allclose(hist[0], hist[1])
    assert any((tmp_path / "cache").rglob("*.npy"))  # served from disk next time
    proc = run(
        "encode",
        "--encoder",
        "tfidf",
        "--input",
        str(tmp_path / "images.csv"),
        "--column",
        "nope",
        "--out",
        str(tmp_path / "x.npy"),
        ok=False,
    )
    assert proc.returncode == 2 and "column 'nope' is not in" in proc.stderr


@pytest.mark.slow
def test_openclipart_prepare_and_cca_floor(tmp_path, monkeypatch):
    """Issue 4's floor: CCA on (minilm, hog) over the official OpenClipArt test split. The
    R@10 the command reports is recomputed from the saved pipeline's embeddings of the test
    split by a direct count, and must equal it (no tolerance beyond float printing)."""
    env_cache = {"JOINTSPACE_CACHE": str(tmp_path / "cache")}
    prepared = json.loads(run("datasets", "prepare", "openclipart", "--json", env=env_cache).stdout)
    assert prepared["n_samples"] >= 7500 and prepared["n_classes"] >= 20
    fitted = json.loads(
        run(
            "fit",
            "--dataset",
            "openclipart",
            "--model",
            "cca",
            "--encoders",
            "text=minilm,image=hog",
            "--n-components",
            "64",
            "--reg",
            "0.1",
            "--cache-dir",
            str(tmp_path / "features"),
            "--out",
            str(tmp_path / "cca"),
            "--json",
            env=env_cache,
        ).stdout
    )
    metrics = fitted["test"]
    assert metrics["relevance"] == "caption"  # the default on an image–caption set
    retrieval = metrics["retrieval_instance"]  # the floor was set under instance relevance
    assert set(retrieval) == set(metrics["retrieval"]) == {"image→text", "text→image"}

    # the reference: the saved pipeline's embeddings of the official test rows, ranked here
    from jointspace import Pipeline, load_dataset

    monkeypatch.setenv("JOINTSPACE_CACHE", env_cache["JOINTSPACE_CACHE"])
    pipe = Pipeline.load(tmp_path / "cca")
    pipe.cache_dir = str(tmp_path / "features")  # the features the command computed
    test = load_dataset("openclipart", split="test").select(["image", "text"])
    test = test.subset(test.complete_rows())
    Z = dict(zip(pipe.view_names, pipe.transform(test)))
    groups = test.relevance_groups  # instance relevance: a caption of the same image

    def recall_at_10(Q, G):
        Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        G = G / np.linalg.norm(G, axis=1, keepdims=True)
        hits = 0
        for i in range(len(Q)):
            sims = G @ Q[i]
            same = groups == groups[i]
            rank = 1 + np.count_nonzero(sims[~same] >= sims[same].max())  # ties count against
            hits += rank <= 10
        return 100.0 * hits / len(Q)

    reference = {"image→text": recall_at_10(Z["image"], Z["text"]),
                 "text→image": recall_at_10(Z["text"], Z["image"])}
    for direction, scores in retrieval.items():
        assert scores["R@10"] == pytest.approx(reference[direction], abs=1e-9), direction
        assert scores["R@10"] > 15  # the floor of issue 4
        assert metrics["retrieval"][direction]["R@10"] > scores["R@10"]
        assert metrics["instance_ceiling"][direction]["R@10"] < 100


def test_bench_dual_encoder_spec_report_and_examples(tmp_path):
    """Model specs with options, a report folder with plots, example searches."""
    out = run(
        "bench",
        "--dataset",
        "nutrimouse",
        "--test-size",
        "0.5",
        "--models",
        "cca,dual-encoder:n_components=16:epochs=4:hidden=64:hard_negatives=topk",
        "--n-components",
        "4",
        "--reg",
        "0.1",
        "--report",
        str(tmp_path / "report"),
        "--examples",
        "2",
    ).stdout
    assert "n_components=16" in out and "example searches lipid → gene" in out
    assert out.count("query: row") == 2
    report = (tmp_path / "report" / "report.md").read_text()
    assert "cca" in report and "dual-encoder:n_components=16" in report
    maps = [f"joint_space_{m}.png" for m in ("pca", "tsne", "umap")]  # --maps by default
    for png in ("recall_at_k.png", *maps, "training_curves.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run("bench", "--dataset", "uci-mfeat", "--models", "dual-encoder:loss", ok=False)
    assert bad.returncode == 2 and "expected key=value" in bad.stderr
    bad = run("bench", "--dataset", "uci-mfeat", "--models", "cca:epochs=3", ok=False)
    assert bad.returncode == 2 and "no parameter 'epochs'" in bad.stderr


def test_fit_and_eval_dual_encoder(tmp_path):
    out = tmp_path / "dual"
    fitted = json.loads(
        run(
            "fit",
            "--dataset",
            "uci-mfeat",
            "--views",
            "fou,kar",
            "--model",
            "dual-encoder:epochs=3:hidden=32:loss=siglip",
            "--n-components",
            "8",
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    assert fitted["test"]["retrieval"]["fou→kar"]["R@10"] > 0
    report = json.loads(run("eval", str(out), "--json").stdout)
    assert len(report["correlations"]) == 8
    assert 0 < report["retrieval"]["fou→kar"]["R@10"] <= 100
