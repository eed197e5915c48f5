"""The pipeline directory's manifest: versions, fingerprints and its checks on load."""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.data.multiview import MultiView

MANIFEST = "manifest.json"
FORMAT = "jointspace-pipeline"
FORMAT_VERSION = 1
#: packages whose versions the manifest records (those installed)
_DEPENDENCIES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "torch",
    "safetensors",
    "sentence-transformers",
    "onnxruntime",
    "efficientnet-lite-pytorch",
)


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_fingerprint(data: MultiView) -> str:
    """sha256 of a MultiView's items as given (captions, paths, array bytes), mask and groups.

    Paths are hashed as strings: the fingerprint names the training set, not the files' bytes.
    """
    h = hashlib.sha256()
    for name in data.view_names:
        h.update(name.encode() + b"\0")
        view = data[name]
        if isinstance(view, np.ndarray):
            arr = np.ascontiguousarray(view)
            h.update(f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes())
        else:
            for item in view:
                h.update(os.fspath(item).encode("utf-8", "surrogatepass") + b"\0")
    for extra in (data.mask, data.groups):
        if extra is not None:
            h.update(np.ascontiguousarray(extra).tobytes())
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Installed versions of jointspace and the dependencies a pipeline's vectors rest on."""
    out = {}
    for package in ("jointspace", *_DEPENDENCIES):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def safe_name(name: str) -> str:
    """``name`` as a short file-name part (letters, digits, ``_.-``; others become ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "view"


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a pipeline directory, checked for form.

    Raises:
        FileNotFoundError: no ``manifest.json`` in ``path``.
        ValueError: the manifest is not valid JSON or not a jointspace pipeline manifest.
    """
    file = Path(path).expanduser() / MANIFEST
    if not file.is_file():
        raise FileNotFoundError(f"{os.fspath(path)!r} is not a jointspace pipeline: no {MANIFEST}")
    try:
        manifest = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{str(file)!r} is damaged: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(file)!r} is not a jointspace pipeline manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{str(file)!r} has format version {manifest['format_version']}; this jointspace "
            f"reads up to {FORMAT_VERSION}: upgrade jointspace"
        )
    for key in ("views", "encoders", "dimensions", "model", "files"):
        if key not in manifest:
            raise ValueError(f"{str(file)!r} is damaged: no {key!r} entry")
    return manifest
