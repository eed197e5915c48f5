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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.safetensors"
FORMAT_VERSION = 1


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory to fill; on success it replaces ``path``.

    On any error the temporary directory is removed and ``path`` is left as it was.

    Raises:
        ValueError: ``path`` exists and is a file.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"save path {str(target)!r} is a file; expected a directory path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_model_dir(
    path: str | os.PathLike, config: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Path:
    """Write ``config`` (JSON-serializable) and ``arrays`` to directory ``path`` atomically.

    Returns:
        The directory path.
    """
    with atomic_directory(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp / ARRAYS_FILE)
        (tmp / CONFIG_FILE).write_text(
            json.dumps({"format_version": FORMAT_VERSION, **config}, indent=2)
        )
    return Path(path)


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
    ``w.1``, … and a dict of arrays ``s`` (a network's state) becomes ``s/<key>``; both are
    recorded in the JSON so that they come back as a list or a dict.
    """
    scalars: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    lists: dict[str, int] = {}
    dicts: dict[str, list[str]] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            lists[key] = len(value)
            for i, v in enumerate(value):
                arrays[f"{key}.{i}"] = v
        elif (
            isinstance(value, dict)
            and value
            and all(isinstance(v, np.ndarray) for v in value.values())
        ):
            dicts[key] = list(value)
            for name, v in value.items():
                arrays[f"{key}/{name}"] = v
        else:
            json.dumps(value)  # fails loudly on anything that is not plain data
            scalars[key] = value
    scalars["__array_lists__"] = lists
    scalars["__array_dicts__"] = dicts
    return scalars, arrays


def join_state(scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of :func:`split_state`."""
    state = dict(scalars)
    lists = state.pop("__array_lists__", {})
    dicts = state.pop("__array_dicts__", {})
    grouped = {f"{k}.{i}" for k, n in lists.items() for i in range(n)}
    grouped |= {f"{k}/{name}" for k, names in dicts.items() for name in names}
    for key, n in lists.items():
        state[key] = [arrays[f"{key}.{i}"] for i in range(n)]
    for key, names in dicts.items():
        state[key] = {name: arrays[f"{key}/{name}"] for name in names}
    for key, value in arrays.items():
        if key not in grouped:
            state[key] = value
    return state


#: how a constructor parameter that is not plain data (a user's nn.Module) is recorded
UNSAVED = "__not_saved__"


def params_to_json(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters as JSON; values that are not plain data become a marker."""
    out = {}
    for key, value in params.items():
        try:
            json.dumps(value)
            out[key] = value
        except TypeError:
            out[key] = {UNSAVED: type(value).__name__}
    return out


def params_from_json(params: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    """Saved parameters, with those that could not be saved taken from ``given``.

    Raises:
        ValueError: a parameter was not saved and is not in ``given`` (names it).
    """
    out = dict(params)
    for key, value in params.items():
        if isinstance(value, dict) and UNSAVED in value:
            if key not in given:
                raise ValueError(
                    f"{where!r} was saved with a user-supplied {key} ({value[UNSAVED]}); "
                    f"pass it again: load(path, {key}=...)"
                )
    out.update(given)
    return out
