"""Every command answers bad input with one line on stderr and exit status 2, before it
starts any work, as the README promises."""

from __future__ import annotations

import pytest
from test_cli_own_data import run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "afile").write_text("not a folder")
    (root / "damaged").mkdir()
    (root / "damaged" / "manifest.json").write_text("{")
    return root


CASES = {
    "unknown command": ["bogus"],
    "unknown option": ["fit", "--datset", "nutrimouse", "--out", "x"],
    "not an integer": ["fit", "--dataset", "nutrimouse", "--n-components", "abc", "--out", "x"],
    "out inside a file": ["fit", "--dataset", "nutrimouse", "--out", "{root}/afile/sub"],
    "negative epochs": ["fit", "--dataset", "nutrimouse", "--model", "dcca", "--epochs", "-1",
                        "--out", "{root}/x"],
    "zero lr": ["fit", "--dataset", "nutrimouse", "--model", "dcca", "--lr", "0",
                "--out", "{root}/x"],
    "unknown model option": ["fit", "--dataset", "nutrimouse", "--model", "cca:bogus=3",
                             "--out", "{root}/x"],
    "unknown dataset": ["datasets", "show", "bogus"],
    "missing pipeline": ["eval", "{root}/nothing"],
    "damaged pipeline": ["eval", "{root}/damaged"],
    "unknown model in bench": ["bench", "--dataset", "nutrimouse", "--models", "bogus"],
    "unknown encoder": ["encode", "--encoder", "bogus", "--input", "{root}/afile",
                        "--out", "{root}/f.npy"],
    "index without images": ["index", "build", "{root}/damaged", "--out", "{root}/ix"],
    "missing index": ["index", "info", "{root}/nothing"],
    "search a missing index": ["search", "{root}/nothing", "a cat"],
    "serve a missing index": ["serve", "{root}/nothing"],
    "missing argument": ["search"],
    "audit a missing pipeline": ["audit", "{root}/nothing"],
    "audit a damaged pipeline": ["audit", "{root}/damaged"],
    "audit top 0": ["audit", "{root}/nothing", "--top", "0"],
    "audit an unknown split": ["audit", "{root}/nothing", "--split", "val"],
    "audit an unknown score": ["audit", "{root}/nothing", "--method", "bogus"],
    "audit shuffle fraction 1": ["audit", "{root}/nothing", "--shuffle-fraction", "1"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_status_2(files, case):
    args = [a.format(root=files) for a in CASES[case]]
    proc = run(*args, ok=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (case, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), (case, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (files / "x").exists() and not (files / "ix").exists()  # no work was done
