"""Helpers shared by the benchmark scripts: targets, machine information and JSON output.

The scripts are run as ``python benchmarks/bench_x.py``, so this folder is on ``sys.path``
(as the script's own directory) and they import from here with ``from common import ...``.
"""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

THREADPOOL_KEYS = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")


# --------------------------------------------------------------------------- targets
@dataclass
class Target:
    """One goal of a benchmark: the measured value, the threshold as text, PASS or FAIL."""

    name: str
    value: float | None
    threshold: str
    passed: bool


def fmt(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or "—" for a missing or non-finite value."""
    return "—" if value is None or not math.isfinite(value) else format(value, spec)


def targets_table(targets: list[Target], value_format: str = ".3f") -> Table:
    """The closing PASS/FAIL table."""
    table = Table(title="Targets")
    for col in ("target", "value", "threshold", "result"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for t in targets:
        verdict = "[green]PASS[/green]" if t.passed else "[red]FAIL[/red]"
        table.add_row(t.name, fmt(t.value, value_format), t.threshold, verdict)
    return table


# --------------------------------------------------------------------------- machine
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info(packages: list[str], **extra: Any) -> dict[str, Any]:
    """Date, CPUs, platform, versions of ``packages``, BLAS/OpenMP thread pools, the load
    average at start, then ``extra`` (e.g. torch thread counts)."""
    from threadpoolctl import threadpool_info

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in packages},
        "threadpools": [{k: p.get(k) for k in THREADPOOL_KEYS} for p in threadpool_info()],
        "loadavg_start": os.getloadavg(),
        **extra,
    }


# ------------------------------------------------------------------------------ JSON
def jsonable(obj: Any, nan_to_null: bool = False) -> Any:
    """Plain JSON values: numpy scalars and arrays, tuples and paths converted; with
    ``nan_to_null``, non-finite floats become None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: jsonable(v, nan_to_null) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v, nan_to_null) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist(), nan_to_null)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if nan_to_null and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: Path, payload: dict[str, Any], nan_to_null: bool = False) -> None:
    """Write payload as indented JSON, atomically (temporary file, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jsonable(payload, nan_to_null), indent=2, default=float) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same folder: os.replace is atomic
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def training_bench_args(doc: str, out: Path, extra: Any = None) -> Any:
    """The command line of a benchmark that trains models: ``--quick`` (a smoke run),
    ``--epochs`` (override the measured count), ``--out`` (the JSON), plus what ``extra``
    (a function of the parser) adds; parsed. Sets torch to the machine's 2 threads."""
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=out)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    return args
