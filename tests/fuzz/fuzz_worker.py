"""The fuzz worker: a long-lived process that runs one fuzz input at a time for the parent
(:mod:`fuzz_oracle`) and reports how it ended. Run as ``python fuzz_worker.py``; it reads
one JSON task a line on stdin and writes one JSON result a line on its own copy of stdout
(the real stdout is sent to stderr, so a library's prints cannot corrupt the protocol).

A result is ``{"steps": [...], "maxrss_mb": float}``, one step per call the task makes:
``{"step": name, "status": "ok" | "error" | "timeout", "type", "message", "ours", "where",
"seconds", "note"}`` (``seconds``: the CPU time the call used, so a busy machine does not
make a call look hung; ``wall``: its wall time). ``ours`` is True when the exception is one
the library raises for bad input (ValueError, KeyError, OSError and their subclasses: what
the command line reports as a user error, see ``jointspace.cli.common.user_errors``) *and*
it was raised by jointspace's own code (the innermost traceback frame is in
``src/jointspace``), not by a dependency.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

LIMIT_S = 10
OURS = (ValueError, KeyError, OSError)
SOURCE = str(Path(__file__).resolve().parents[2] / "src" / "jointspace")


class Hang(BaseException):
    """Raised by the profiling timer: the step used more CPU time than the limit."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def _innermost(tb: Any) -> str:
    frames = traceback.extract_tb(tb)
    return frames[-1].filename if frames else ""


def run_step(name: str, func: Any) -> dict[str, Any]:
    """Call ``func()`` under the CPU-time limit (the process's own seconds, all threads: a
    loaded machine slows a call's wall time, not its work); its return value (a short str)
    is the note."""
    start, start_cpu = time.perf_counter(), time.process_time()
    signal.setitimer(signal.ITIMER_PROF, LIMIT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            note = func()
        out = {"status": "ok", "note": note}
    except Hang:
        out = {"status": "timeout"}
    except BaseException as exc:  # noqa: BLE001 - classified, never swallowed silently
        where = _innermost(exc.__traceback__)
        out = {"status": "error", "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
               "message": (exc.args[0] if isinstance(exc, KeyError) and exc.args
                           else str(exc))[:2000],
               "ours": isinstance(exc, OURS) and where.startswith(SOURCE), "where": where}
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    out.update(step=name, seconds=time.process_time() - start_cpu,
               wall=time.perf_counter() - start)
    return out


def _warm_up() -> None:
    """Import what the tasks use and run each kind of work once on a good input, so one-off
    costs (imports, numba's compilation of librosa's kernels) count against no input."""
    import tempfile

    import soundfile as sf
    from PIL import Image

    import jointspace.data  # noqa: F401
    import jointspace.models  # noqa: F401
    from jointspace.encoders import make_encoder

    with tempfile.TemporaryDirectory() as tmp:
        wav, png = os.path.join(tmp, "a.wav"), os.path.join(tmp, "a.png")
        t = np.arange(16000) / 16000
        sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(png)
        make_encoder("mfcc").fit([wav]).transform([wav])
        from jointspace.data.video_files import write_video

        clip = write_video(os.path.join(tmp, "a.mp4"), np.zeros((4, 16, 16), np.uint8))
        make_encoder("video-frames:size=16").fit([str(clip)]).transform([str(clip)])
        for spec in ("hog", "color-hist", "pixels"):
            make_encoder(spec).fit([png]).transform([png])


# ---------------------------------------------------------------- targets
_ENCODERS: dict[str, Any] = {}


def _encoder(spec: str, fine: str) -> Any:
    if spec not in _ENCODERS:
        from jointspace.encoders import make_encoder

        _ENCODERS[spec] = make_encoder(spec).fit([fine])
    return _ENCODERS[spec]


def _features(spec: str, fine: str, path: str) -> str:
    Z = _encoder(spec, fine).transform([path])
    if Z.shape[0] != 1 or Z.ndim != 2 or not np.isfinite(Z).all():
        raise AssertionError(f"WRONG: {spec} gave shape {Z.shape}, finite={np.isfinite(Z).all()}")
    return f"{Z.shape}"


def _folder(reader: str, root: str, captions: str, expect: list[str] | None) -> str:
    from jointspace.data import from_audio_folder, from_folder

    read = from_folder if reader == "image" else from_audio_folder
    data = read(root, captions)
    if expect is not None and not set(expect) <= set(data.views["text"]):
        raise AssertionError(f"WRONG: captions {expect} not all kept: {data.views['text']}")
    return f"{data.n_samples} rows, {len(data.meta['skipped'])} skipped"


def _table(kind: str, path: str, views: dict, kw: dict) -> str:
    from jointspace.data import from_csv, from_npy, from_parquet

    if kind == "npy":
        data = from_npy(**views)
    else:
        data = (from_csv if kind == "csv" else from_parquet)(path, views, **kw)
    for name, X in data.views.items():
        if isinstance(X, np.ndarray) and X.dtype.kind == "f" and np.isinf(X).any():
            raise AssertionError(f"WRONG: view {name!r} holds inf")
    return f"{data.n_samples} rows"


def _model(path: str, views: str, reference: str) -> str:
    from jointspace.models import JointModel

    model = JointModel.load(path)
    try:
        with np.load(views) as npz:
            got = model.transform([npz[k] for k in sorted(npz.files)])
    except BaseException as exc:  # a model that loads must work: anything here is wrong
        raise AssertionError(f"WRONG: the loaded model fails: {type(exc).__name__}: {exc}") \
            from None
    with np.load(reference) as npz:
        want = [npz[k] for k in sorted(npz.files)]
    same = len(got) == len(want) and all(
        g.shape == w.shape and g.dtype == w.dtype and np.array_equal(g, w, equal_nan=True)
        for g, w in zip(got, want))
    if not same:
        raise AssertionError("WRONG: the loaded model's transform differs from the original's")
    return "same transform"


def run_task(task: dict[str, Any]) -> list[dict[str, Any]]:
    kind = task["kind"]
    if kind == "image":
        steps = [run_step("from_folder", lambda: _folder("image", task["root"],
                                                          task["captions"], task["expect"]))]
        for spec in task.get("encoders", ()):
            steps.append(run_step(spec, lambda s=spec: _features(s, task["fine"], task["path"])))
        return steps
    if kind == "audio":
        return [run_step("from_audio_folder", lambda: _folder("audio", task["root"],
                                                               task["captions"], task["expect"])),
                run_step("mfcc", lambda: _features("mfcc", task["fine"], task["path"]))]
    if kind == "captions":
        return [run_step(f"from_folder {task['reader']}", lambda: _folder(
            task["reader"], task["root"], task["path"], None))]
    if kind in ("csv", "parquet", "npy"):
        return [run_step(f"from_{kind}", lambda: _table(kind, task["path"], task["views"],
                                                         task.get("kw", {})))]
    if kind == "model":
        return [run_step("load", lambda: _model(task["path"], task["views"], task["reference"]))]
    raise ValueError(f"unknown task kind {kind!r}")


def main() -> None:
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to stderr
    signal.signal(signal.SIGPROF, _alarm)
    for line in sys.stdin:
        task = json.loads(line)
        if task.get("kind") == "warm":  # one-off costs, before any input is timed
            _warm_up()
            steps: list[dict[str, Any]] = []
        else:
            steps = run_task(task)
        maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.write(json.dumps({"steps": steps, "maxrss_mb": maxrss_mb}) + "\n")


if __name__ == "__main__":
    main()
