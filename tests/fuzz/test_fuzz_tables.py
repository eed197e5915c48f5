"""Fuzz corpus of tables: caption files read by ``from_folder`` (CSV, TSV, JSON Lines,
Parquet), numeric tables read by ``from_csv`` / ``from_parquet`` and arrays read by
``from_npy``. Each input either loads or is one clear error naming the file; see
:mod:`fuzz_oracle` for the pass criteria."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fuzz_oracle import Tally, fuzz_settings
from fuzz_tables import (
    CAPTION_COLUMN,
    IMAGE_COLUMN,
    NAMES,
    cells,
    csv_bytes,
    jsonl_bytes,
    npy_bytes,
    parquet_bytes,
)
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

#: inputs per category in the default run; the slow run multiplies them by SLOW_FACTOR
COUNTS = {"captions/csv": 200, "captions/tsv": 60, "captions/jsonl": 200,
          "captions/parquet": 100, "numeric/csv": 200, "numeric/tsv": 60,
          "numeric/parquet": 120, "arrays/npy": 250}
SLOW_FACTOR = 4
NUMBER = st.one_of(st.floats(-1e6, 1e6).map(repr), st.integers(-1000, 1000).map(str))
NUMERIC = st.one_of(NUMBER, NUMBER, NUMBER, st.floats().map(repr),
                    st.integers(-(2**70), 2**70).map(str),
                    st.sampled_from(["", "nan", "1e400", "0x10", "1_000", "1,5", " 2 ", "True",
                                     "1+2j", "NA", "#N/A", "-", ".", "-inf"]),
                    cells(["a"]))
#: typical values of the columns a0, a1, b0, label, id
TYPICAL = st.one_of(*[NUMBER] * 12, NUMERIC)
TABLE_CELLS = [TYPICAL, TYPICAL, TYPICAL, st.sampled_from(["x", "y", "x", "y", ""]),
               st.integers(0, 20).map(str)]
TABLE_COLUMNS = ["a0", "a1", "b0", "label", "id"]


def fuzz(worker, name: str, n: int, strategy, make_task) -> None:
    tally = Tally(name)

    @fuzz_settings(n)
    @given(strategy)
    def run(drawn) -> None:
        task, names, key = make_task(drawn)
        tally.check(worker, task, names, key)

    run()
    tally.finish(n)


def caption_inputs(fmt: str):
    if fmt in ("csv", "tsv"):
        return csv_bytes(["image", "caption"], [IMAGE_COLUMN, CAPTION_COLUMN], cells(NAMES),
                         "," if fmt == "csv" else "\t")
    return jsonl_bytes() if fmt == "jsonl" else parquet_bytes({"image": "name",
                                                               "caption": "str"})


def fuzz_captions(worker, tmp_path: Path, fmt: str, n: int) -> None:
    root = tmp_path / "images"
    root.mkdir()
    Image.new("RGB", (8, 8), "red").save(root / "good.png")
    path = tmp_path / f"captions.{fmt}"

    def task(data: bytes):
        path.write_bytes(data)
        return ({"kind": "captions", "reader": "image", "root": str(root), "path": str(path)},
                [path.name], data)

    fuzz(worker, f"captions/{fmt}", n, caption_inputs(fmt), task)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_malformed_caption_files(worker, tmp_path, fmt):
    fuzz_captions(worker, tmp_path, fmt, COUNTS[f"captions/{fmt}"])


TABLE_OPTIONS = st.fixed_dictionaries({}, optional={"label_column": st.sampled_from(
    ["label", "a0", "nope"]), "id_column": st.sampled_from(["id", "b0", "nope"])})
TABLE_VIEWS = st.sampled_from([{"a": ["a*"], "b": ["b0"]}] * 4 + [
                               {"a": ["a0", "a1"]}, {"a": "a0", "b": ["b*", "a1"]},
                               {"a": ["z*"]}, {"a": []}])


def fuzz_numeric(worker, tmp_path: Path, fmt: str, n: int) -> None:
    path = tmp_path / f"table.{fmt}"
    data = parquet_bytes(dict(zip(TABLE_COLUMNS, ["float", "nan", "int", "str", "int"]))) \
        if fmt == "parquet" else \
        csv_bytes(TABLE_COLUMNS, TABLE_CELLS, NUMERIC, "," if fmt == "csv" else "\t")

    def task(drawn):
        data, views, kw = drawn
        path.write_bytes(data)
        kind = "parquet" if fmt == "parquet" else "csv"
        return ({"kind": kind, "path": str(path), "views": views, "kw": kw}, [path.name],
                data + json.dumps([views, kw]).encode())

    fuzz(worker, f"numeric/{fmt}", n, st.tuples(data, TABLE_VIEWS, TABLE_OPTIONS), task)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_malformed_numeric_tables(worker, tmp_path, fmt):
    fuzz_numeric(worker, tmp_path, fmt, COUNTS[f"numeric/{fmt}"])


def fuzz_npy(worker, tmp_path: Path, n: int) -> None:
    good, path = tmp_path / "good.npy", tmp_path / "fuzzed.npy"
    np.save(good, np.arange(6.0).reshape(3, 2))

    def task(data: bytes):
        path.write_bytes(data)
        return ({"kind": "npy", "path": str(path),
                 "views": {"x": str(path), "y": str(good)}}, [path.name], data)

    fuzz(worker, "arrays/npy", n, npy_bytes(), task)


def test_malformed_npy(worker, tmp_path):
    fuzz_npy(worker, tmp_path, COUNTS["arrays/npy"])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_malformed_caption_files_full(worker, tmp_path, fmt):
    fuzz_captions(worker, tmp_path, fmt, COUNTS[f"captions/{fmt}"] * SLOW_FACTOR)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_malformed_numeric_tables_full(worker, tmp_path, fmt):
    fuzz_numeric(worker, tmp_path, fmt, COUNTS[f"numeric/{fmt}"] * SLOW_FACTOR)


@pytest.mark.slow
def test_malformed_npy_full(worker, tmp_path):
    fuzz_npy(worker, tmp_path, COUNTS["arrays/npy"] * SLOW_FACTOR)
