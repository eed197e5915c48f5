"""Batch embedding on a local Ray cluster (``ray.init(num_cpus=2)`` on this machine): the
LanceDB table it writes equals the in-process embedding, holds every id exactly once when an
actor dies mid-run, and a run whose driver was killed resumes with only the missing rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")
lancedb = pytest.importorskip("lancedb")
# Ray Data's own DataContext warns about its renamed settings when it is copied
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def lines() -> list[str]:
    """400 real sentences: the lines of scikit-learn's dataset descriptions (its own files)."""
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "descr"
    out = []
    for path in sorted(folder.glob("*.rst")):
        out += [line.strip() for line in path.read_text().splitlines()
                if len(line.strip()) > 20 and not set(line.strip()) <= set("=-*.:|")]
    assert len(out) >= 400
    return out[:400]


@pytest.fixture(scope="module")
def tfidf(lines):
    from jointspace.encoders import make_encoder

    return make_encoder("tfidf").fit(lines)


def table_rows(uri: str | Path, name: str) -> tuple[list[str], np.ndarray, Any]:
    """(ids, (n, d) vectors, the table) of an output table."""
    table = lancedb.connect(str(uri)).open_table(name).to_arrow()
    vectors = np.asarray(table.column("vector").to_pylist(), np.float32)
    return table.column("id").to_pylist(), vectors, table


def assert_each_once(uri, name, ids, want):
    got_ids, vectors, _ = table_rows(uri, name)
    assert len(got_ids) == len(set(got_ids)) == len(ids)  # every id exactly once
    assert set(got_ids) == set(ids)
    row = {i: k for k, i in enumerate(ids)}
    np.testing.assert_allclose(vectors, want[[row[i] for i in got_ids]], atol=1e-6)


@pytest.mark.slow  # ~15 s; the killed-worker test checks the vectors in the default run
def test_ray_embedding_equals_the_in_process_one_and_a_rerun_adds_nothing(
        cluster, lines, tfidf, tmp_path):
    """400 captions through 2 actors, 37 a batch: the table's vectors equal
    ``encoder.transform`` row by row (by id); the items are stored; a second run finds every
    id and embeds nothing; a table written by another model is refused; a LanceDB table read
    in blocks on the workers is an input too."""
    from jointspace.encoders import make_encoder
    from jointspace.scale.ray_embed import EmbedModel, embed_to_lance
    from jointspace.scale.ray_io import lance_dataset

    ids = [f"line-{k}" for k in range(len(lines))]
    want = tfidf.transform(lines)
    model = EmbedModel.from_encoder(tfidf)
    report = embed_to_lance({"id": ids, "caption": lines}, model, tmp_path / "db", "t",
                            item_column="caption", batch_rows=37, progress=False)
    assert (report.existing, report.embedded, report.rows) == (0, 400, 400)
    assert report.commits == 11 and report.dim == want.shape[1] and not report.failed
    assert_each_once(tmp_path / "db", "t", ids, want)
    _, _, table = table_rows(tmp_path / "db", "t")
    assert dict(zip(table.column("id").to_pylist(), table.column("caption").to_pylist())) \
        == dict(zip(ids, lines))

    again = embed_to_lance({"id": ids, "caption": lines}, model, tmp_path / "db", "t",
                           item_column="caption", progress=False)
    assert (again.existing, again.embedded, again.commits, again.rows) == (400, 0, 0, 400)
    other = EmbedModel.from_encoder(make_encoder("tfidf").fit(lines[:200]))
    with pytest.raises(ValueError, match="written by another model"):
        embed_to_lance({"id": ids, "caption": lines}, other, tmp_path / "db", "t",
                       item_column="caption", progress=False)
    with pytest.raises(ValueError, match="'line-3' appears 2 times"):
        embed_to_lance({"id": ids + ["line-3"], "caption": lines + ["x"]}, model,
                       tmp_path / "db", "u", item_column="caption", progress=False)

    blocks = lance_dataset(str(tmp_path / "db"), "t", ["id", "caption"], rows_per_block=64)
    copy = embed_to_lance(blocks, model, tmp_path / "db", "copy", item_column="caption",
                          batch_rows=50, progress=False)
    assert (copy.embedded, copy.rows, copy.duplicates) == (400, 400, 0)
    assert_each_once(tmp_path / "db", "copy", ids, want)


@dataclass
class CrashingModel:
    """An EmbedModel whose actor process dies (``os._exit``) on its ``at_call``-th batch,
    once: the marker file is made first, so the restarted actor carries on."""

    inner: Any
    marker: str
    at_call: int = 3

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def load(self, cache_dir=None):
        embed, calls = self.inner.load(cache_dir), [0]

        def run(items):
            calls[0] += 1
            if calls[0] == self.at_call and not os.path.exists(self.marker):
                Path(self.marker).touch()
                os._exit(1)
            return embed(items)

        return run


def test_a_worker_killed_mid_run_still_writes_every_row_exactly_once(cluster, lines, tfidf,
                                                                      tmp_path):
    """One of the two actors dies on its third batch (its process exits): Ray restarts it and
    retries the batch; the table holds each of the 400 ids once, with the right vector."""
    from ray import cloudpickle

    from jointspace.scale.ray_embed import EmbedModel, embed_to_lance

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers lack tests/
    marker = tmp_path / "crashed"
    ids = [str(k) for k in range(len(lines))]
    model = CrashingModel(EmbedModel.from_encoder(tfidf), str(marker))
    report = embed_to_lance({"id": ids, "text": lines}, model, tmp_path / "db", "t",
                            item_column="text", batch_rows=25, progress=False)
    assert marker.exists()  # an actor really died
    assert report.embedded == report.rows == 400 and not report.failed
    assert_each_once(tmp_path / "db", "t", ids, tfidf.transform(lines))


DRIVER = """
import json, sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
from jointspace.encoders import make_encoder
from jointspace.scale.ray_embed import EmbedModel, embed_to_lance
lines = json.loads(open(sys.argv[2]).read())
model = EmbedModel.from_encoder(make_encoder("tfidf").fit(lines))

def committed(n):
    print("committed", n, flush=True)
    time.sleep(0.5)

embed_to_lance({"id": [str(k) for k in range(len(lines))], "text": lines}, model, sys.argv[3],
               "t", item_column="text", batch_rows=20, workers=1, progress=False,
               on_commit=committed)
print("finished", flush=True)
"""


@pytest.mark.slow  # ~15-20 s
def test_a_run_whose_driver_is_killed_resumes_with_only_the_missing_rows(cluster, lines,
                                                                         tfidf, tmp_path):
    """A driver process (on the same cluster) is SIGKILLed after its third commit: the table
    holds whole batches only; the re-run embeds exactly the rows that are missing, and the
    table ends with every id once."""
    from jointspace.scale.ray_embed import EmbedModel, embed_to_lance

    (tmp_path / "lines.json").write_text(json.dumps(lines))
    (tmp_path / "driver.py").write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), cluster,
                             str(tmp_path / "lines.json"), str(tmp_path / "db")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen, watchdog = [], threading.Timer(180, proc.kill)  # a hung driver fails, not hangs
    watchdog.start()
    try:
        for line in proc.stdout:
            seen.append(line.split())
            if len([s for s in seen if s[0] == "committed"]) == 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait(timeout=60)
    assert ["finished"] not in seen and seen[-1] == ["committed", "60"], seen
    ids = [str(k) for k in range(len(lines))]
    before, _, _ = table_rows(tmp_path / "db", "t")
    assert len(before) == len(set(before)) and len(before) % 20 == 0  # whole batches
    assert 60 <= len(before) < 400
    report = embed_to_lance({"id": ids, "text": lines}, EmbedModel.from_encoder(tfidf),
                            tmp_path / "db", "t", item_column="text", batch_rows=20,
                            progress=False)
    assert (report.existing, report.embedded) == (len(before), 400 - len(before))
    assert_each_once(tmp_path / "db", "t", ids, tfidf.transform(lines))


def invoke(*args: Any) -> Any:
    from typer.testing import CliRunner

    from jointspace.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.slow  # ~15 s; the killed-worker test checks the vectors in the default run
def test_cli_encode_on_ray_writes_the_npy_rows_to_a_table(cluster, lines, tmp_path):
    """`jointspace encode --ray` gives the rows `jointspace encode` writes to .npy (ids are
    the row numbers), from a text file and from the LanceDB table it wrote."""
    (tmp_path / "lines.txt").write_text("\n".join(lines) + "\n")
    plain = invoke("encode", "--encoder", "tfidf", "--input", tmp_path / "lines.txt",
                   "--out", tmp_path / "x.npy")
    assert plain.exit_code == 0, plain.output
    want = np.load(tmp_path / "x.npy")
    on_ray = invoke("encode", "--encoder", "tfidf", "--input", tmp_path / "lines.txt",
                    "--ray", "local", "--out", tmp_path / "db", "--table", "x",
                    "--batch-rows", "64", "--json")
    assert on_ray.exit_code == 0, on_ray.output
    summary = json.loads(on_ray.stdout)
    assert (summary["n"], summary["embedded"], summary["dim"]) == (400, 400, want.shape[1])
    assert_each_once(tmp_path / "db", "x", [str(k) for k in range(400)], want)
    again = invoke("encode", "--encoder", "tfidf", "--input", tmp_path / "db",
                   "--input-table", "x", "--column", "text", "--ray", "auto",
                   "--out", tmp_path / "db", "--table", "y", "--json")
    assert again.exit_code == 0, again.output
    assert_each_once(tmp_path / "db", "y", [str(k) for k in range(400)], want)


def index_contents(path: Path) -> dict[str, dict[str, np.ndarray]]:
    from jointspace.index import Index

    index = Index.open(path)
    out = {}
    for name in index.names:
        collection = index.collection(name)
        meta = collection.metadata
        vectors = collection.vectors_of(meta.column("key").to_pylist())
        out[name] = dict(zip(meta.column("id").to_pylist(), vectors))
    return out


@pytest.mark.slow  # ~15-20 s
def test_cli_index_build_on_ray_gives_the_same_index(cluster, photo_pipeline, photo_folder,
                                                     tmp_path, monkeypatch):
    """`jointspace index build --ray` over 24 photos and 48 captions: the same report and the
    same ids and vectors (to 1e-5) as the build without --ray (embedded by the Ray actors:
    the hook is called for both views). Then the folder gains a copy of a photo and a file
    that is no image, and the captions go: the update embeds the new photo only, reports the
    broken file, and again gives the index the build without --ray gives."""
    import shutil

    from jointspace.scale.ray_embed import RayEmbedder

    calls, original = [], RayEmbedder.__call__

    def counted(self, view, items, batch_size):
        calls.append((view, len(items)))
        return original(self, view, items, batch_size)

    monkeypatch.setattr(RayEmbedder, "__call__", counted)
    root = tmp_path / "photos"
    shutil.copytree(photo_folder[0], root)
    first = ["--images", root, "--captions", root / "captions.csv", "--label-column", "label"]
    reports = {}
    for out, ray_args in (("plain", ()), ("ray", ("--ray", "local", "--workers", "2"))):
        result = invoke("index", "build", photo_pipeline, *first, "--batch-size", "5",
                        "--json", "--out", tmp_path / out, *ray_args)
        assert result.exit_code == 0, result.output
        reports[out] = json.loads(result.stdout)
    assert (reports["ray"]["embedded"], reports["ray"]["captions_embedded"]) == (24, 48)
    assert calls == [("image", 24), ("text", 48)]
    assert_same_index(tmp_path / "plain", tmp_path / "ray", {"images": 24, "captions": 48})

    shutil.copy(root / "china" / "1.png", root / "extra.png")
    (root / "broken.png").write_bytes(b"not a png at all")
    for out, ray_args in (("plain", ()), ("ray", ("--ray", "local"))):
        result = invoke("index", "build", photo_pipeline, "--images", root, "--batch-size",
                        "5", "--json", "--out", tmp_path / out, *ray_args)
        assert result.exit_code == 0, result.output
        reports[out] = json.loads(result.stdout)
    assert calls[2:] == [("image", 2), ("text", 0)]  # the new photo and the broken file
    for report in reports.values():
        assert (report["embedded"], report["touched"], report["removed"]) == (1, 24, 0)
        assert [item_id for item_id, _ in report["skipped"]] == ["broken.png"]
        assert report["captions_removed"] == 48
    assert_same_index(tmp_path / "plain", tmp_path / "ray", {"images": 25, "captions": 0})


def assert_same_index(want_path: Path, got_path: Path, sizes: dict[str, int]) -> None:
    want, got = index_contents(want_path), index_contents(got_path)
    assert {name: len(rows) for name, rows in got.items()} == sizes
    for name in want:
        assert set(got[name]) == set(want[name])
        for item_id, vector in want[name].items():
            np.testing.assert_allclose(got[name][item_id], vector, atol=1e-5)


def test_bad_ray_options_and_inputs_are_named(cluster, tmp_path):
    """Bad options and inputs are one clear line naming them; an address where nothing
    answers fails at once."""
    (tmp_path / "a.txt").write_text("a cat\na dog\n")
    for args, message in [
        (("--input", tmp_path / "nope.txt", "--ray", "local"), "does not exist"),
        (("--input", tmp_path / "a.txt", "--ray", "not an address"), "--ray 'not an address'"),
        (("--input", tmp_path / "a.txt", "--table", "t"), "--table is given without --ray"),
        (("--input", tmp_path / "db", "--input-table", "t", "--ray", "local"),
         "--input-table 't' cannot be opened"),
        (("--input", tmp_path / "a.txt", "--ray", "local", "--workers", "0"),
         "--workers is 0"),
    ]:
        result = invoke("encode", "--encoder", "tfidf", "--out", tmp_path / "o", *args)
        assert result.exit_code == 2 and message in result.output, result.output
    # an address where no cluster answers (a fresh process: this one has joined a cluster)
    exe = str(Path(sys.executable).parent / "jointspace")
    proc = subprocess.run([exe, "encode", "--encoder",
                           "tfidf", "--input", str(tmp_path / "a.txt"), "--ray",
                           "127.0.0.1:1", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2 and "--ray '127.0.0.1:1': no Ray cluster answers" \
        in proc.stderr, proc.stderr


@pytest.mark.slow  # starts a second Ray cluster in a fresh process (~20 s)
def test_ray_auto_starts_a_local_cluster_when_the_recorded_one_is_gone(tmp_path):
    """--ray auto where the cluster recorded as running (RAY_ADDRESS) does not answer: a
    local cluster is started (Ray itself would wait minutes for the dead address)."""
    (tmp_path / "a.txt").write_text("a cat\na dog\n")
    exe = str(Path(sys.executable).parent / "jointspace")
    proc = subprocess.run([exe, "encode", "--encoder", "tfidf", "--input",
                           str(tmp_path / "a.txt"), "--ray", "auto", "--out",
                           str(tmp_path / "db"), "--json"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "RAY_ADDRESS": "127.0.0.1:1"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["embedded"] == 2
