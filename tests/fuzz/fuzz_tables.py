"""Hypothesis strategies of malformed tables: caption files (CSV / TSV / JSON Lines /
Parquet) and numeric tables (CSV / Parquet) with bad encodings, open quotes, huge fields,
extra or missing fields, NaN and infinities, deep nesting, bad JSON and wrong types; and
.npy files with bad headers, object and odd dtypes, and wrong shapes."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
from fuzz_media import mutated
from hypothesis import strategies as st

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252", "utf-32"]
NAMES = ["good.png", "missing.png", "../good.png", "/etc/passwd", "", "good.png\x00x",
         "x" * 300 + ".png", "sub/../good.png", "GOOD.PNG", " good.png ", "good.png/"]
WEIRD = ["nan", "NaN", "null", "None", "", " ", '"', '""', "'", "\x00", "\r", "\n", "\ufeff",
         "\ud800", "é", "\u202e", "😀", ",", "\t", "a,b", "1e999", "-0", "inf"]


def cells(names: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(names), st.sampled_from(WEIRD),
                     st.text(max_size=20), st.sampled_from(["y" * 140_000, "z" * 5000]))


#: typical values of a caption file's image column and caption column
IMAGE_COLUMN = st.one_of(st.just("good.png"), st.just("good.png"), st.sampled_from(NAMES))
CAPTION_COLUMN = st.one_of(st.just("a red square"), st.text(min_size=1, max_size=30),
                           st.sampled_from(WEIRD))


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf-8")
                       else "replace")


@st.composite
def csv_bytes(draw, header: list[str], column: list[st.SearchStrategy[str]],
              cell: st.SearchStrategy[str], sep: str = ",") -> bytes:
    """A delimited file: the header (sometimes changed), 0–8 rows, mostly one value of
    ``column[j]`` a column, sometimes of random width and ``cell`` values, random quoting
    and line ends, in a random encoding, sometimes mutated byte by byte."""
    sep = draw(st.sampled_from([sep] * 6 + [";", ",", "\t"]))
    head = header if draw(st.sampled_from([True] * 5 + [False])) else draw(
        st.lists(st.sampled_from(header + ["", "x", " "]), max_size=len(header) + 1))
    typical = st.tuples(*column).map(list)
    odd = st.lists(cell, max_size=len(header) + 2)
    rows = draw(st.lists(st.one_of(*[typical] * 8, odd), min_size=1, max_size=6))
    quote = draw(st.sampled_from(["none", "none", "none", "all", "random"]))

    def field(value: str) -> str:
        q = quote == "all" or (quote == "random" and draw(st.booleans()))
        return '"' + value.replace('"', '""') + '"' if q else value

    end = draw(st.sampled_from(["\n", "\n", "\n", "\r\n", "\r", ""]))
    text = end.join(sep.join(field(c) for c in row) for row in [head, *rows])
    encoding = draw(st.sampled_from(["utf-8"] * len(ENCODINGS) + ENCODINGS))
    data = _encode(text, encoding)
    if draw(st.sampled_from([False] * 4 + [True])):
        data = draw(mutated(data, header=len(data)))
    return data


def json_value(depth: int = 2) -> st.SearchStrategy:
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                     st.text(max_size=10), st.sampled_from(NAMES))
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=5),
                                                                      inner, max_size=3)),
                        max_leaves=8)


@st.composite
def jsonl_bytes(draw) -> bytes:
    """JSON Lines: objects with wrong-typed or missing fields, lines of bad JSON, deep
    nesting, NaN and huge numbers, lone surrogates and invalid UTF-8."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["object", "object", "value", "bad", "deep", "raw"]))
        if kind == "object":
            rec = {"image": draw(st.one_of(st.sampled_from(NAMES), json_value())),
                   "caption": draw(st.one_of(st.text(max_size=20), json_value()))}
            for key in draw(st.lists(st.sampled_from(["image", "caption"]), max_size=2)):
                rec.pop(key, None)
            rec.update(draw(st.dictionaries(st.text(max_size=5), json_value(), max_size=2)))
            lines.append(json.dumps(rec, allow_nan=True, ensure_ascii=draw(st.booleans())))
        elif kind == "value":
            lines.append(json.dumps(draw(json_value()), allow_nan=True))
        elif kind == "bad":
            lines.append(draw(st.sampled_from(['{"image": "good.png", "caption": ', "{", "}",
                                               '{"image": good.png}', "[1,]", "NaN", "\x00",
                                               '{"image": "good.png", "caption": "\\ud800"}',
                                               '{"a": 1e99999}', '{"a": 1' + "0" * 5000 + "}",
                                               '{"image": "a", "image": "good.png", '
                                               '"caption": "dup"}'])))
        elif kind == "deep":
            depth = draw(st.sampled_from([100, 10_000, 200_000]))
            opener = draw(st.sampled_from(["[", '{"a":']))
            closer = "]" if opener == "[" else "}"
            lines.append(opener * depth + "1" + closer * depth)
        else:
            lines.append(draw(st.text(max_size=30)))
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    data = _encode(text, draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16",
                                               "latin-1"])))
    if draw(st.integers(0, 3)) == 0:
        data = draw(mutated(data, header=len(data)))
    return data


COLUMN_TYPES = {
    "float": lambda n: np.linspace(0, 1, n),
    "nan": lambda n: np.full(n, np.nan),
    "inf": lambda n: np.array([np.inf, -np.inf, 1.0] * n)[:n],
    "int": lambda n: np.arange(n, dtype=np.int64) * 2**40,
    "bool": lambda n: np.arange(n) % 2 == 0,
    "str": lambda n: np.array([f"s{i}" for i in range(n)], dtype=object),
    "name": lambda n: np.array(["good.png"] * n, dtype=object),
    "none": lambda n: np.array([None] * n, dtype=object),
    "list": lambda n: [[1.0, 2.0]] * n,
    "struct": lambda n: [{"a": 1}] * n,
    "date": lambda n: np.arange(n).astype("datetime64[D]"),
    "complex": None,  # Parquet has no complex type: stands for a float16 column
}


@st.composite
def parquet_bytes(draw, names: dict[str, str]) -> bytes:
    """A Parquet file of the columns ``names`` (column → its usual type; sometimes missing
    or extra columns) of their usual or a random type, sometimes truncated or bit-flipped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = draw(st.sampled_from([3, 3, 50, 0, 1]))
    columns = {}
    chosen = list(names) if draw(st.integers(0, 2)) else draw(st.lists(
        st.sampled_from([*names, "x"]), min_size=1, max_size=6, unique=True))
    for name in chosen:
        kind = names.get(name, "float") if draw(st.integers(0, 2)) else \
            draw(st.sampled_from(sorted(COLUMN_TYPES)))
        make = COLUMN_TYPES[kind]
        columns[name] = pa.array(np.linspace(0, 1, n).astype(np.float16)) if make is None \
            else pa.array(make(n))
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression=draw(st.sampled_from(
        ["none", "snappy", "zstd"])))
    data = buf.getvalue()
    if draw(st.booleans()):
        data = draw(mutated(data, header=len(data)))
    return data


DTYPES = ["<f8", "<f4", ">f8", "<f2", "<i8", "|u1", "|b1", "<c16", "|O", "<U5", "|S3",
          "|V8", "<M8[s]", "<m8[s]", "[('a', '<f8')]", "[('a', '<f8'), ('b', '|O')]",
          "<f16", "bogus", "", "<i8 "]
SHAPES = st.one_of(st.sampled_from(["()", "(0,)", "(3,)", "(3, 2)", "(3, 0)", "(0, 2)",
                                    "(3, 2, 1)", "(2, 1, 1, 1)", "(-1,)", "(3, -2)", "(3.5,)",
                                    "(10**12,)", "(4294967296, 4294967296)", "3", "(3, 'a')",
                                    "(99999999999999999999,)", "(1000000, 1000000)"]),
                   st.lists(st.integers(0, 2**40), max_size=3).map(lambda s: str(tuple(s))))


@st.composite
def npy_bytes(draw) -> bytes:
    """.npy files: a header with a random dtype, shape and order (version 1, 2 or 3, or a
    bad magic), then random data; or a valid array (odd dtypes and shapes) mutated."""
    if draw(st.booleans()):
        shape = draw(st.sampled_from([(3,), (3, 2), (3, 5), (3,), (3, 2, 2), (0,), (3, 0), (),
                                      (4, 2)]))
        dtype = draw(st.sampled_from(["<f8", "<f4", "<i2", "|b1", "<c8", "<U3", "<M8[D]",
                                      "|u1", ">f8"]))
        arr = np.zeros(shape, dtype=dtype)
        if arr.dtype.kind == "f" and arr.size:
            arr.flat[0] = draw(st.sampled_from([np.nan, np.inf, 1e30, -0.0]))
        buf = io.BytesIO()
        np.save(buf, arr)
        data = buf.getvalue()
        return draw(mutated(data, header=128)) if draw(st.integers(0, 2)) == 0 else data
    descr = draw(st.sampled_from(DTYPES))
    descr = descr if draw(st.booleans()) else repr(descr)
    order = draw(st.sampled_from(["False", "True", "1", "'x'"]))
    header = f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {draw(SHAPES)}, }}"
    if draw(st.integers(0, 4)) == 0:
        header = draw(st.sampled_from(["", "{", "[]", "{'descr': '<f8'}", "__import__('os')",
                                       "{'descr': '<f8', 'fortran_order': False, "
                                       "'shape': (3,), 'extra': 1}"]))
    version = draw(st.sampled_from([1, 2, 3, 9]))
    body = header.encode("utf-8" if version == 3 else "latin-1", errors="replace")
    length = struct.pack("<H", len(body) + 1) if version == 1 else struct.pack("<I", len(body)
                                                                               + 1)
    magic = draw(st.sampled_from([b"\x93NUMPY", b"\x93NUMPY", b"PK\x03\x04", b"\x80\x04"]))
    data = draw(st.binary(max_size=64)) + b"\x00" * draw(st.sampled_from([0, 48, 4096]))
    return magic + bytes([version, 0]) + length + body + b"\n" + data
