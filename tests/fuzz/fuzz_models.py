"""Mutations of a saved model directory: config.json values changed in type or value,
keys removed or added, its bytes flipped or cut; arrays.safetensors bytes flipped or cut,
its header's dtypes, shapes and offsets rewritten; files removed, renamed, emptied or
replaced. Each mutation is plain data (drawn by Hypothesis), applied by :func:`apply`."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

from fuzz_media import _apply
from hypothesis import strategies as st

VALUES = [None, True, False, 0, 1, -1, 2, 3, 1.5, -0.0, 1e308, 2**64, "x", "", "cpu", "linear",
          "tanh", [], {}, [1, 2], ["view0"], {"a": 1}, [[1]], "NaN", "Infinity"]
FILE_ACTIONS = ["remove_config", "remove_arrays", "empty_config", "empty_arrays",
                "arrays_is_dir", "config_is_dir", "rename_arrays", "extra_file", "symlink_loop"]


def _bytes_ops(header: int) -> st.SearchStrategy[list]:
    pos = st.one_of(st.integers(0, header), st.integers(0, 1 << 16))
    op = st.one_of(st.tuples(st.just("truncate"), pos, st.just(0)),
                   st.tuples(st.just("flip"), pos, st.integers(0, 7)),
                   st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=8)),
                   st.tuples(st.just("delete"), pos, st.integers(1, 8)),
                   st.tuples(st.just("set"), pos, st.sampled_from([b"\x00", b"\xff", b"9"])))
    return st.lists(op, min_size=1, max_size=2).map(lambda ops: [list(o[:2]) + [
        o[2].hex() if isinstance(o[2], bytes) else o[2], isinstance(o[2], bytes)] for o in ops])


CONFIG_EDIT = st.fixed_dictionaries({
    "on": st.just("config"), "at": st.integers(0, 10**6),
    "do": st.sampled_from(["delete", "set", "set", "perturb", "perturb", "add", "set_top"]),
    "value": st.sampled_from(VALUES), "scale": st.sampled_from([-1, 0, 0.5, 2, 1 + 1e-9])})
MUTATION = st.one_of(
    CONFIG_EDIT, CONFIG_EDIT, CONFIG_EDIT, CONFIG_EDIT,
    st.fixed_dictionaries({"on": st.just("config_bytes"), "ops": _bytes_ops(200)}),
    st.fixed_dictionaries({"on": st.just("arrays_bytes"), "ops": _bytes_ops(300)}),
    st.fixed_dictionaries({"on": st.just("arrays_header"), "at": st.integers(0, 10**6),
                           "field": st.sampled_from(["dtype", "shape", "data_offsets", "name"]),
                           "value": st.sampled_from(["F32", "F16", "I64", "U8", "BOOL", "X",
                                                     [], [0], [1, 1], [10**9, 10**9], [-1, 2],
                                                     [0, 0], "w", None, 7])}),
    st.fixed_dictionaries({"on": st.just("file"), "do": st.sampled_from(FILE_ACTIONS)}),
)
MUTATIONS = st.lists(MUTATION, min_size=1, max_size=2)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else []
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


def _edit_config(config: dict, m: dict) -> None:
    if m["do"] == "set_top":
        config["format_version" if m["at"] % 2 else "class"] = m["value"]
        return
    paths = _paths(config)
    path = paths[m["at"] % len(paths)]
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if m["do"] == "delete":
        del parent[key]
    elif m["do"] == "add":
        if isinstance(parent, dict):
            parent[f"unknown_{m['at'] % 7}_"] = m["value"]
        else:
            parent.append(m["value"])
    elif m["do"] == "perturb":
        old = parent[key]
        if isinstance(old, bool):
            parent[key] = not old
        elif isinstance(old, int | float):
            parent[key] = old * m["scale"] + (1 if isinstance(old, int) else 0)
        elif isinstance(old, str):
            parent[key] = old + "x" if m["at"] % 2 else old[:-1]
        elif isinstance(old, list) and old:
            parent[key] = old[:-1] if m["at"] % 2 else old + old[-1:]
        else:
            parent[key] = m["value"]
    else:
        parent[key] = m["value"]


def _edit_header(file: Path, m: dict) -> None:
    data = file.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    names = sorted(k for k in header if k != "__metadata__")
    name = names[m["at"] % len(names)]
    if m["field"] == "name":
        header[f"{name}x" if m["at"] % 2 else names[(m["at"] + 1) % len(names)]] = \
            header.pop(name)
    else:
        header[name][m["field"]] = m["value"]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    file.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])


def _edit_file(root: Path, action: str) -> None:
    config, arrays = root / "config.json", root / "arrays.safetensors"
    if action.startswith("remove_"):
        (config if action == "remove_config" else arrays).unlink()
    elif action.startswith("empty_"):
        (config if action == "empty_config" else arrays).write_bytes(b"")
    elif action.endswith("_is_dir"):
        target = config if action == "config_is_dir" else arrays
        target.unlink()
        target.mkdir()
    elif action == "rename_arrays":
        arrays.rename(root / "arrays.safetensors.bak")
    elif action == "extra_file":
        (root / "model.pkl").write_bytes(b"\x80\x04N.")
    elif action == "symlink_loop":
        arrays.unlink()
        arrays.symlink_to(arrays.name)


def apply(original: Path, target: Path, mutations: list[dict]) -> bytes:
    """Copy the model directory ``original`` to ``target`` and apply ``mutations``; returns
    the mutated files' bytes (the input's identity)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(original, target)
    for m in mutations:
        config, arrays = target / "config.json", target / "arrays.safetensors"
        try:
            if m["on"] == "config":
                data = json.loads(config.read_text())
                _edit_config(data, m)
                config.write_text(json.dumps(data))
            elif m["on"] in ("config_bytes", "arrays_bytes"):
                file = config if m["on"] == "config_bytes" else arrays
                ops = [(op, pos, bytes.fromhex(arg) if is_bytes else arg)
                       for op, pos, arg, is_bytes in m["ops"]]
                file.write_bytes(_apply(file.read_bytes(), ops))
            elif m["on"] == "arrays_header":
                _edit_header(arrays, m)
            else:
                _edit_file(target, m["do"])
        except (OSError, ValueError, KeyError, IndexError, TypeError, struct.error):
            continue  # an earlier mutation removed or broke what this one edits
    return b"".join(p.name.encode() + (p.read_bytes() if p.is_file() else b"<dir>")
                    for p in sorted(target.iterdir()) if not p.is_symlink())
