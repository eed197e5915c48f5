"""Atomic save and safe load of model directories: safetensors arrays + JSON config.

A model directory holds ``config.json`` (class name, constructor parameters, fitted
scalars) and ``arrays.safetensors`` (fitted arrays). Nothing is a pickle. A save writes a
sibling temporary directory and swaps it in with renames, so a failed save leaves the
previous model at that path intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.safetensors"
FORMAT_VERSION = 1


def write_model_dir(
    path: str | os.PathLike, config: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Path:
    """Write ``config`` (JSON-serializable) and ``arrays`` to directory ``path`` atomically.

    Returns:
        The directory path.
    Raises:
        ValueError: ``path`` exists and is a file.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"save path {str(target)!r} is a file; expected a directory path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp / ARRAYS_FILE)
        (tmp / CONFIG_FILE).write_text(
            json.dumps({"format_version": FORMAT_VERSION, **config}, indent=2)
        )
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "model")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_model_dir(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read ``(config, arrays)`` written by :func:`write_model_dir`.

    Raises:
        FileNotFoundError: ``path`` is not a model directory (names the missing file).
    """
    root = Path(path)
    for name in (CONFIG_FILE, ARRAYS_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{str(root)!r} is not a jointspace model directory: no {name}")
    config = json.loads((root / CONFIG_FILE).read_text())
    return config, load_file(root / ARRAYS_FILE)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` dict saved with a model (empty if none), without loading arrays."""
    config_file = Path(path) / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} is not a jointspace model directory: no {CONFIG_FILE}"
        )
    return json.loads(config_file.read_text()).get("metadata", {})


def split_state(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split fitted attributes into JSON scalars and arrays.

    Arrays go to safetensors under their name; a list of arrays ``w`` becomes ``w.0``,
    ``w.1``, … and is recorded in the JSON so that it comes back as a list.
    """
    scalars: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    lists: dict[str, int] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            lists[key] = len(value)
            for i, v in enumerate(value):
                arrays[f"{key}.{i}"] = v
        else:
            json.dumps(value)  # fails loudly on anything that is not plain data
            scalars[key] = value
    scalars["__array_lists__"] = lists
    return scalars, arrays


def join_state(scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of :func:`split_state`."""
    scalars = dict(scalars)
    lists = scalars.pop("__array_lists__", {})
    state: dict[str, Any] = dict(scalars)
    listed = {f"{k}.{i}" for k, n in lists.items() for i in range(n)}
    for key, n in lists.items():
        state[key] = [arrays[f"{key}.{i}"] for i in range(n)]
    for key, value in arrays.items():
        if key not in listed:
            state[key] = value
    return state
