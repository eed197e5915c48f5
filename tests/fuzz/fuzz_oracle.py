"""The fuzz oracle: runs each input in a long-lived worker process (:mod:`fuzz_worker`) and
judges how it ended.

An input passes when every call on it either succeeds (and its result checks out) or raises
a clear user-facing error: one of the library's own exception types (ValueError, KeyError,
OSError — what the command line reports as a user error), raised by jointspace's code, its
message naming the file or directory. It fails on a raw exception of a dependency, a call
over :data:`LIMIT_S` seconds of CPU time (a hang; a worker that stops answering for far
longer, :data:`WALL_FACTOR` times the limit, is one too), a worker whose peak memory
reaches :data:`LIMIT_MB` (ru_maxrss covers the whole process, so the check is conservative:
a breach is re-run in a fresh worker to confirm it), a worker that dies (a crash) or a
wrong result — for a saved model, one that loads but whose transform differs from the
original's (silently wrong).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import select
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LIMIT_S = 10
LIMIT_MB = 1024
#: a worker silent for this many times the CPU limit (per step) is hung: generous, so that
#: a loaded machine's slow wall clock is not mistaken for a hang
WALL_FACTOR = 6
WORKER = Path(__file__).with_name("fuzz_worker.py")
#: tallies of every category run in this session, for the summary printed at the end
TALLIES: dict[str, Tally] = {}
#: a folder to keep a copy of every failing input in (environment variable FUZZ_KEEP)
KEEP_DIR = os.environ.get("FUZZ_KEEP")


def _limit_address_space() -> None:  # the machine's guard: far above LIMIT_MB, never reached
    resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))


class Worker:
    """The worker process; restarted after a hang, a crash or a memory breach."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, text=True, bufsize=1,
                                     preexec_fn=_limit_address_space)
        self.call({"kind": "warm"}, timeout=600)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def call(self, task: dict[str, Any], timeout: float) -> dict[str, Any] | str:
        """The worker's result for ``task``, or "hang" / "crash"."""
        if self.proc is None:
            self.start()
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(json.dumps(task) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return "crash"
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else None
        if not line:
            outcome = "hang" if line is None else "crash"
            self.stop()
            return outcome
        return json.loads(line)


def judge(step: dict[str, Any], names: list[str]) -> str | None:
    """Why one step fails the oracle, or None if it passes."""
    where = f"{step['step']}: "
    if step["status"] == "timeout" or step["seconds"] > LIMIT_S:
        return where + f"hang ({step['seconds']:.1f} s)"
    if step["status"] == "ok":
        return None
    message = step["message"]
    if step["type"] == "builtins.AssertionError" and message.startswith("WRONG"):
        return where + message
    if not step["ours"]:
        return where + f"raw {step['type']}: {message[:300]} (raised in {step['where']})"
    if not any(n in message for n in names):
        return where + f"{step['type']} not naming {names[0]!r}: {message[:300]}"
    return None


@dataclass
class Tally:
    """Inputs run for one category, how they ended, and the failures with their input."""

    name: str
    runs: int = 0
    unique: set = field(default_factory=set)
    outcomes: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    seconds: float = 0.0

    def check(self, worker: Worker, task: dict[str, Any], names: list[str], key: bytes) -> None:
        """Run ``task`` (its input identified by ``key``) and record the verdict."""
        start = time.perf_counter()
        self.runs += 1
        self.unique.add(hashlib.sha1(key).hexdigest())
        n_steps = 1 + len(task.get("encoders", ())) + (task["kind"] == "audio")
        result = worker.call(task, timeout=n_steps * LIMIT_S * WALL_FACTOR + 60)
        problems: list[str] = []
        if isinstance(result, str):
            problems.append(f"worker {result}" + (" (over the time limit)"
                                                   if result == "hang" else ""))
        else:
            for step in result["steps"]:
                self.outcomes[f"{step['step']} {step['status']}"] += 1
                if step["status"] == "error":
                    self.errors[re.sub(r"/\S*/", "", step["message"])[:90]] += 1
                problem = judge(step, names)
                if problem:
                    problems.append(problem)
            if result["maxrss_mb"] >= LIMIT_MB:
                worker.stop()  # the high-water mark only grows: confirm in a fresh worker
                again = worker.call(task, timeout=n_steps * LIMIT_S * WALL_FACTOR + 60)
                peak = again["maxrss_mb"] if isinstance(again, dict) else None
                if peak is None or peak >= LIMIT_MB:
                    problems.append(f"memory: peak RSS {peak or result['maxrss_mb']:.0f} MB")
                worker.stop()
        if problems:
            kept = ""
            if KEEP_DIR and Path(task["path"]).exists():  # a copy to reproduce the failure
                kept = str(Path(KEEP_DIR) / f"{self.name.replace('/', '-')}-{self.runs}")
                if Path(task["path"]).is_dir():
                    shutil.copytree(task["path"], kept, symlinks=True)
                else:
                    shutil.copyfile(task["path"], kept + Path(task["path"]).suffix)
            self.failures.append({"task": task, "problems": problems, "kept": kept})
        self.seconds += time.perf_counter() - start

    def finish(self, expected: int) -> None:
        """Register the tally; fail listing every failing input (and where it was kept)."""
        TALLIES[self.name] = self
        if os.environ.get("FUZZ_VERBOSE"):
            print(f"\n{self.name}:", *(f"{c:5} {m!r}" for m, c in self.errors.most_common(8)),
                  sep="\n  ")
        assert self.runs == expected, f"{self.name}: ran {self.runs} inputs; expected {expected}"
        if self.failures:
            lines = [f"{self.name}: {len(self.failures)} of {self.runs} inputs fail the oracle"]
            for f in self.failures[:25]:
                what = f"mutations {json.dumps(f['task']['mutations'])}" \
                    if "mutations" in f["task"] else f["kept"] or json.dumps(f["task"])[:300]
                lines.append(f"  {what}\n    " +
                             "\n    ".join(f["problems"]))
            raise AssertionError("\n".join(lines))


def fuzz_settings(n: int) -> Any:
    """Hypothesis settings of a fuzz test: exactly the same ``n`` inputs on every run, no
    deadline (the oracle's own 10 s limit applies), no shrinking (every failure is listed)."""
    from hypothesis import HealthCheck, Phase, settings

    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


def summary_lines() -> list[str]:
    lines, total, unique = [], 0, 0
    for name, t in sorted(TALLIES.items()):
        ok = sum(c for k, c in t.outcomes.items() if k.endswith(" ok"))
        errors = sum(c for k, c in t.outcomes.items() if k.endswith(" error"))
        lines.append(f"{name:<18} {t.runs:>5} inputs ({len(t.unique):>5} distinct) "
                     f"{t.seconds:6.1f} s  calls: {ok:>5} ok, {errors:>5} clear errors; "
                     f"failures: {len(t.failures)}")
        total, unique = total + t.runs, unique + len(t.unique)
    lines.append(f"{'total':<18} {total:>5} inputs ({unique:>5} distinct)")
    return lines
