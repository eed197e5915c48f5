"""Atomic save and safe load of model directories: safetensors arrays + JSON config.

A model directory holds ``config.json`` (class name, constructor parameters, fitted
scalars, the arrays' checksum) and ``arrays.safetensors`` (fitted arrays). Nothing is a
pickle. A save writes a new hidden version beside the path and swaps a symbolic link in one
rename, so the path always holds a complete model: the previous one or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.safetensors"
#: 2: the config records its own checksum (``config_sha256``) beside the arrays' checksum
FORMAT_VERSION = 2


#: a test hook: the save step at which to kill the process (``crash_point``)
CRASH_ENV = "JOINTSPACE_TEST_CRASH_AT"


def crash_point(step: str) -> None:
    """Kill the process here when the crash test asks for ``step`` (no-op otherwise)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _inside_pending_save(target: Path) -> bool:
    """Whether ``target`` lies inside a directory that a save is still writing (then the
    outer save's swap is the atomic step, and a plain rename is enough here)."""
    return any(part.startswith(".") and (".tmp-" in part or ".v-" in part)
               for part in target.parent.parts)


def _clean_siblings(target: Path, keep: str | None) -> None:
    """Remove what earlier saves of ``target`` left beside it: other versions, unfinished
    temporary folders and link files."""
    for entry in target.parent.iterdir():
        name = entry.name
        if name == keep or not name.startswith(f".{target.name}."):
            continue
        rest = name[len(target.name) + 2 :]
        if rest.startswith(("v-", "tmp-")):
            shutil.rmtree(entry, ignore_errors=True)
        elif rest.startswith("link-"):
            entry.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new directory to fill; on success it becomes ``path``, atomically.

    ``path`` is a symbolic link to a hidden sibling version (``.<name>.v-<id>``): a save
    writes a new version, then replaces the link in one ``rename``, so at every instant
    ``path`` is the complete previous save or the complete new one. Leftovers of saves that
    were killed (versions, temporary folders) are removed by the next save. A directory
    written inside another save in progress (a pipeline's model) is a plain directory.
    On any error the new directory is removed and ``path`` is left as it was.

    Raises:
        ValueError: ``path`` exists and is a file.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"save path {str(target)!r} is a file; expected a directory path")
    target.parent.mkdir(parents=True, exist_ok=True)
    nested = _inside_pending_save(target)
    kind = "tmp" if nested else "v"
    new = Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-", dir=target.parent))
    try:
        yield new
        crash_point("written")
        if nested:
            os.replace(new, target)
            return
        link = target.parent / f".{target.name}.link-{new.name.rsplit('-', 1)[-1]}"
        os.symlink(new.name, link)
        crash_point("linked")
        if target.is_dir() and not target.is_symlink():  # a save from before versions
            legacy = target.parent / f".{target.name}.v-legacy"
            shutil.rmtree(legacy, ignore_errors=True)
            os.replace(target, legacy)
            crash_point("moved-legacy")
        os.replace(link, target)
        crash_point("swapped")
        _clean_siblings(target, keep=new.name)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 of a model config, without its own checksum and its free-form ``metadata``."""
    kept = {k: v for k, v in config.items() if k not in ("config_sha256", "metadata")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def check_config_digest(path: str | os.PathLike, config: dict[str, Any]) -> None:
    """Refuse a config that differs from the checksum it was saved with: an edited or
    damaged value (a kernel, an activation, a component count) would otherwise load as a
    silently different model. Configs saved before format version 2 have no checksum.

    Loaders call it after their own checks of the config, so that a config that does not
    fit its class is reported as such.

    Raises:
        ValueError: the config does not match its checksum (names the directory).
    """
    expected = config.get("config_sha256")
    if expected is not None and expected != config_digest(config):
        raise ValueError(f"model directory {os.fspath(path)!r}: {CONFIG_FILE} does not match "
                         "the checksum it was saved with (edited or damaged); save the model "
                         "again")


def write_model_dir(
    path: str | os.PathLike, config: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Path:
    """Write ``config`` (JSON-serializable) and ``arrays`` to directory ``path`` atomically;
    the config records the arrays' checksum, verified by :func:`read_model_dir`.

    Returns:
        The directory path.
    """
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with atomic_directory(path) as tmp:
        save_file(arrays, tmp / ARRAYS_FILE)
        crash_point("arrays")
        record = {"format_version": FORMAT_VERSION, "arrays_sha256": arrays_digest(arrays),
                  **config}
        record["config_sha256"] = config_digest(record)
        (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=2))
    return Path(path)


def read_model_dir(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read ``(config, arrays)`` written by :func:`write_model_dir`.

    Raises:
        FileNotFoundError: ``path`` is not a model directory (names the missing file).
        ValueError: a config that is not a JSON object, an unknown format version, a
            checksum missing, arrays that cannot be read, or arrays that differ from the
            checksum in the config (a damaged file) — each naming the directory and the part.
            (The config's own checksum is checked by the loader, after its checks of the
            config: :func:`check_config_digest`.)
    """
    root = Path(path)
    for name in (CONFIG_FILE, ARRAYS_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{str(root)!r} is not a jointspace model directory: no {name}")
    config = read_config(root)
    version = config.get("format_version")
    known = isinstance(version, int) and not isinstance(version, bool)
    if not known or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"model directory {str(root)!r}: format_version {version!r} is unknown; "
                         f"this jointspace reads 1 to {FORMAT_VERSION}")
    if version >= 2:  # both checksums are part of the format from version 2
        missing = [k for k in ("arrays_sha256", "config_sha256")
                   if not isinstance(config.get(k), str)]
        if missing:
            raise ValueError(f"model directory {str(root)!r}: {CONFIG_FILE} lacks its "
                             f"{missing[0]} checksum (edited or damaged); save the model again")
    try:
        arrays = load_file(root / ARRAYS_FILE)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"model directory {str(root)!r}: {ARRAYS_FILE} cannot be read "
                         f"({type(exc).__name__}: {exc})") from None
    expected = config.get("arrays_sha256")
    if expected is not None and expected != arrays_digest(arrays):
        raise ValueError(f"model directory {str(root)!r}: {ARRAYS_FILE} does not match the "
                         "checksum in its config (the file is damaged); save the model again")
    return config, arrays


def read_config(root: Path) -> dict[str, Any]:
    """The config.json of a model directory as a dict.

    Raises:
        ValueError: not UTF-8 JSON, or not a JSON object (names the file).
    """
    file = root / CONFIG_FILE
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ValueError(f"model directory {str(root)!r}: {CONFIG_FILE} is not valid JSON "
                         f"({type(exc).__name__}: {exc})") from None
    if not isinstance(config, dict):
        raise ValueError(f"model directory {str(root)!r}: {CONFIG_FILE} holds a "
                         f"{type(config).__name__}; expected a JSON object")
    return config


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` dict saved with a model (empty if none), without loading arrays."""
    config_file = Path(path) / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} is not a jointspace model directory: no {CONFIG_FILE}"
        )
    metadata = read_config(Path(path)).get("metadata", {})
    return metadata if isinstance(metadata, dict) else {}


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
    for key, n in lists.items():  # a damaged count (2**64) must not build 2**64 names
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= len(arrays):
            raise KeyError(f"__array_lists__ gives {key!r} {n!r} arrays; the arrays file "
                           f"holds {len(arrays)} arrays in all")
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


def constructor_params(cls: type, saved: dict[str, Any], given: dict[str, Any],
                       where: str) -> dict[str, Any]:
    """The parameters to build ``cls`` with: the saved ones, checked against its
    constructor, with those that could not be saved (and settings to change) from ``given``.

    A class with ``_nest_training_params`` (the deep models) gets flat training options,
    from a save made before its ``training`` dict or given as ``device=…``, moved into it.

    Raises:
        ValueError: a saved parameter that ``cls`` does not take, or one that was not saved
            and is not given.
    """
    nest = getattr(cls, "_nest_training_params", lambda params: params)
    saved = nest(saved)
    unknown = sorted(set(saved) - set(cls._get_param_names()))
    if unknown:
        raise ValueError(f"{where}: parameter {unknown[0]!r} is not a parameter of "
                         f"{cls.__name__}")
    return nest(params_from_json(saved, given, where))


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
                    f"{where} was saved with a user-supplied {key} ({value[UNSAVED]}); "
                    f"pass it again: load(path, {key}=...)"
                )
    out.update(given)
    return out
