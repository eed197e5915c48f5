"""Saved model directories: a damaged one is one clear error naming the directory and the
part, never a raw dependency error nor a silently different model; a save killed at any
moment leaves a complete model (old or new) at the path and nothing that accumulates."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jointspace import persistence
from jointspace.models import CCA, JointModel


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    views = [z @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(200, 6)) for _ in range(2)]
    return CCA(n_components=2, reg=1e-3).fit(views), views


def live(path: Path) -> Path:
    return path.parent / os.readlink(path) if path.is_symlink() else path


def edit_config(path: Path, change) -> None:
    file = live(path) / persistence.CONFIG_FILE
    config = json.loads(file.read_text())
    change(config)
    file.write_text(json.dumps(config))


def test_a_flipped_bit_in_the_weights_is_an_error_not_another_model(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "m")
    arrays = live(tmp_path / "m") / persistence.ARRAYS_FILE
    data = bytearray(arrays.read_bytes())
    data[-5] ^= 0x01  # the last bytes are weights, not the safetensors header
    arrays.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"'.*m'.*does not match the checksum"):
        JointModel.load(tmp_path / "m")


@pytest.mark.parametrize("damage, words", [
    (lambda f: f.write_text("{not json"), "config.json is not valid JSON"),
    (lambda f: f.write_text("[1, 2]"), "holds a list; expected a JSON object"),
    (lambda f: f.write_bytes(b"\xff\xfe{}"), "not valid JSON"),
])
def test_a_broken_config_names_the_file(fitted, tmp_path, damage, words):
    model, _ = fitted
    model.save(tmp_path / "m")
    damage(live(tmp_path / "m") / persistence.CONFIG_FILE)
    with pytest.raises(ValueError, match=words):
        JointModel.load(tmp_path / "m")


@pytest.mark.parametrize("change, words", [
    (lambda c: c.update(format_version=99), "format_version 99 is unknown"),
    (lambda c: c.update(format_version="1"), "format_version '1' is unknown"),
    (lambda c: c["params"].update(bogus=3), "parameter 'bogus' is not a parameter of CCA"),
    (lambda c: c["params"].update(n_components=-3), "n_components is -3"),
    (lambda c: c["state"].update(transform="x"), "state entry 'transform' is not a fitted"),
    (lambda c: c["state"].update(n_views_=3), "n_views_ is 3"),
    (lambda c: c.pop("state"), "lacks its params or state"),
    (lambda c: c["state"]["__array_lists__"].update(weights_=5), "does not fit CCA"),
])
def test_a_config_that_does_not_fit_the_class_is_refused(fitted, tmp_path, change, words):
    model, _ = fitted
    model.save(tmp_path / "m")
    edit_config(tmp_path / "m", change)
    with pytest.raises(ValueError, match=words) as err:
        JointModel.load(tmp_path / "m")
    assert str(tmp_path / "m") in str(err.value)


def test_unreadable_arrays_are_named(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "m")
    (live(tmp_path / "m") / persistence.ARRAYS_FILE).write_bytes(b"\x00" * 7)
    with pytest.raises(ValueError, match="arrays.safetensors cannot be read"):
        JointModel.load(tmp_path / "m")


def test_a_model_saved_before_versioned_saves_is_replaced_whole(fitted, tmp_path):
    model, views = fitted
    legacy = tmp_path / "m"
    legacy.mkdir()
    model.save(tmp_path / "new")
    for f in live(tmp_path / "new").iterdir():  # the old layout: a plain directory
        (legacy / f.name).write_bytes(f.read_bytes())
    assert not legacy.is_symlink()
    CCA(n_components=1).fit(views).save(legacy)
    assert legacy.is_symlink() and JointModel.load(legacy).n_components_ == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")) == \
        [os.readlink(legacy)]


def test_a_deep_model_saved_with_flat_training_options_loads_with_them(tmp_path):
    """Saves from before the ``training`` dict hold ``epochs``, ``lr``… as parameters of
    their own: they load into the dict (and settings given to ``load`` join it)."""
    from jointspace.models import DCCA

    rng = np.random.default_rng(0)
    views = [rng.normal(size=(60, 5)) for _ in range(2)]
    model = DCCA(2, hidden=(8,), training={"epochs": 2, "lr": 0.05, "progress": False})
    model.fit(views).save(tmp_path / "m")

    def flatten(config):  # the config as the previous version wrote it
        config["params"].update(config["params"].pop("training"))
        config["config_sha256"] = persistence.config_digest(config)

    edit_config(tmp_path / "m", flatten)
    assert "epochs" in json.loads((live(tmp_path / "m") / persistence.CONFIG_FILE).read_text()
                                  )["params"]
    loaded = JointModel.load(tmp_path / "m", device="cpu")
    assert loaded.training == {"epochs": 2, "lr": 0.05, "progress": False, "device": "cpu"}
    for a, b in zip(loaded.transform(views), model.transform(views)):
        np.testing.assert_array_equal(a, b)
    again = JointModel.load(tmp_path / "m", training={"progress": True})
    assert again.training == {"progress": True}  # a whole dict given replaces the saved one


WRITER = """
import sys, numpy as np
from jointspace.persistence import write_model_dir
value = float(sys.argv[2])
arrays = {f"w{i}": np.full((200, 50), value + i, np.float64) for i in range(4)}
print("ready", flush=True)
for _ in range(int(sys.argv[3])):
    write_model_dir(sys.argv[1], {"value": value}, arrays)
"""


def check_whole(path: Path, allowed: set[float]) -> None:
    config, arrays = persistence.read_model_dir(path)  # the checksum is verified here
    assert config["value"] in allowed
    for i in range(4):
        assert (arrays[f"w{i}"] == config["value"] + i).all()


def leftovers(path: Path) -> list[str]:
    keep = os.readlink(path) if path.is_symlink() else None
    return [p.name for p in path.parent.iterdir()
            if p.name.startswith(f".{path.name}.") and p.name != keep]


@pytest.mark.parametrize("step", ["arrays", "written", "linked", "swapped"])
def test_a_save_killed_between_any_two_steps_leaves_a_whole_model(tmp_path, step):
    path = tmp_path / "m"
    subprocess.run([sys.executable, "-c", WRITER, str(path), "1", "1"], check=True)
    env = {**os.environ, persistence.CRASH_ENV: step}
    proc = subprocess.run([sys.executable, "-c", WRITER, str(path), "2", "1"], env=env,
                          capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    check_whole(path, {2.0} if step == "swapped" else {1.0})
    subprocess.run([sys.executable, "-c", WRITER, str(path), "3", "1"], check=True)
    check_whole(path, {3.0})
    assert leftovers(path) == []  # the next save cleans what the killed one left


@pytest.mark.slow
def test_a_save_killed_at_200_random_moments_always_leaves_a_whole_model(tmp_path):
    path = tmp_path / "m"
    subprocess.run([sys.executable, "-c", WRITER, str(path), "0", "1"], check=True)
    rng = random.Random(0)
    for run in range(200):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(run + 1), "50"],
                                stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_whole(path, {float(v) for v in range(run + 2)})
        assert len(leftovers(path)) <= 3  # at most what one killed save can leave
    subprocess.run([sys.executable, "-c", WRITER, str(path), "999", "1"], check=True)
    assert leftovers(path) == []
