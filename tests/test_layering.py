"""The house's layering: lower layers never import upper ones, and the light paths (the CLI's
--help, a HOG encoder, loading a linear model) never import torch. Checked in fresh
subprocesses, where nothing else has been imported yet."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "jointspace"


def fresh(code: str) -> str:
    """Run ``code`` in a new interpreter; returns its stdout."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_imports_neither_torch_nor_scikit_learn():
    out = fresh(
        "import sys\n"
        "from jointspace.cli import app\n"
        "try:\n"
        "    app(['--help'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules, 'sklearn' in sys.modules)\n"
    )
    assert "Usage" in out and out.strip().endswith("False False")


def test_hog_encoder_and_linear_model_load_without_torch(tmp_path):
    from jointspace.models import CCA

    rng = __import__("numpy").random.default_rng(0)
    CCA(n_components=2).fit([rng.normal(size=(50, 4)), rng.normal(size=(50, 3))]).save(
        tmp_path / "cca"
    )
    out = fresh(
        "import sys\n"
        "from jointspace.encoders import make_encoder\n"
        "make_encoder('hog+color-hist')\n"
        "from jointspace.models import JointModel\n"
        f"m = JointModel.load({str(tmp_path / 'cca')!r})\n"
        "from jointspace.models.factory import make_model\n"
        "make_model('cca')\n"
        "print(type(m).__name__, 'torch' in sys.modules)\n"
    )
    assert out.split() == ["CCA", "False"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


#: package → the jointspace packages it must never import (upper layers)
UPPER = ("pipeline", "index", "retrieval", "serve", "bench", "cli", "scale")
FORBIDDEN = {
    "data": ("encoders", "models", "fusion", "train", "losses", *UPPER),
    "encoders": ("models", "fusion", "train", "losses", *UPPER),
    "metrics": ("encoders", "models", "fusion", "train", "losses", *UPPER),
    "train": ("models", "fusion", "encoders", *UPPER),
    "losses": ("models", "fusion", "encoders", *UPPER),
    # torch building blocks under both the towers and the fusion modules
    "layers": ("data", "encoders", "metrics", "train", "losses", "models", "fusion", *UPPER),
    # fusion modules are torch only (with layers.py); the models that wrap them import fusion
    "fusion": ("data", "encoders", "metrics", "train", "losses", "models", *UPPER),
    "models": UPPER,
    "index": ("data", "encoders", "metrics", "models", "fusion", "train", "losses",
              *UPPER[:1], *UPPER[2:]),
    "pipeline": ("index", "retrieval", "serve", "bench", "cli", "scale"),
    "retrieval": ("serve", "bench", "cli", "scale"),
    "serve": ("bench", "cli", "scale"),
    # fits, training, embedding and serving beyond one machine: over models, pipelines and
    # the server (the replicas of scale/ray_serve.py run its app), under the CLI
    "scale": ("bench", "cli"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_never_import_upper_ones(package):
    bad = []
    module = SRC / f"{package}.py"  # a layer that is one module
    for path in [module] if module.is_file() else sorted((SRC / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[1] if name.startswith("jointspace.") else None
            if top in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, bad
