"""Benchmark jointspace's linear models against cca-zoo and scikit-learn, in one run.

What it measures
----------------
1. mnist-halves, 4,000 train / 1,000 test rows (stratified split, seed 0), views ``left`` and
   ``right`` (392 pixels each, in [0, 1]), k = 10 and 50. For each model: the fit time (best of
   ``--repeats``, ``time.perf_counter``), the test-set sum of the per-component correlations
   (``jointspace.metrics.canonical_correlations`` of each model's transform of the 1,000 test
   rows) and the tracemalloc peak of one more fit. Models, all with the ridge ε = 1e-3
   (cca-zoo's shrinkage c = ε / (1 + ε) gives the same correlations):
   jointspace CCA / PLS / MCCA / GCCA against cca-zoo RidgeCCA / PLS / MCCA / GCCA and
   scikit-learn PLSSVD and CCA (iterative NIPALS, no ridge: one fit, k = 50 only when the
   k = 10 fit extrapolates within ``--sk-cca-budget`` seconds). The ratio column is
   reference time / jointspace time (> 1: jointspace is faster). Plus jointspace
   KCCA(50, 1,000 Nyström landmarks).
2. Streaming, ``--rows`` rows (default 1,000,000) in chunks of ``--chunk-rows``: the 5,000
   digits drawn with replacement plus N(0, 0.05²) noise (fixed seed), generated on the fly and
   never held at once. Only the ``CCA(50).partial_fit(chunk)`` calls and the one solve at the end
   (on first use of the model) are timed, against, on the
   same chunks in the same run, the GEMM limit ``X.T @ X`` of the stacked (m × 784) chunk (the
   2·m·d² flops the covariance needs; numpy runs it as a syrk) and
   ``CovarianceAccumulator.update`` alone (partial_fit minus update = input validation plus the
   final solve). Memory: tracemalloc peak during partial_fit after n/10 rows and
   after n rows.

A targets table (PASS/FAIL) closes the run; everything is also written as JSON with machine
information. Thread counts are the machine's defaults, the same for every library.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_linear.py            # full run, about 5 minutes
    .venv/bin/python benchmarks/bench_linear.py --quick    # smoke run: 100,000 rows, 1 repeat
    .venv/bin/python benchmarks/bench_linear.py --rows 2000000 --out /tmp/bench.json
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cca_zoo import linear as cz
from common import Target, fmt, machine_info, targets_table, write_json
from rich.console import Console
from rich.table import Table
from sklearn.cross_decomposition import CCA as SkCCA
from sklearn.cross_decomposition import PLSSVD
from sklearn.exceptions import ConvergenceWarning

import jointspace
from jointspace import train_test_split
from jointspace.metrics import canonical_correlations
from jointspace.models import CCA, GCCA, KCCA, MCCA, PLS
from jointspace.models.linear.solvers import CovarianceAccumulator

JS, CZ, SK = "jointspace", "cca-zoo", "scikit-learn"
EPS = 1e-3  # ridge on the covariance scale, for every CCA-type model
KS = (10, 50)
KCCA_K, KCCA_LANDMARKS = 50, 1000
STREAM_K = 50
NOISE_SD = 0.05
SK_CCA_MAX_ITER = 500
# targets of the issue
KCCA_MAX_S = 5.0
GEMM_MAX_RATIO = 1.5
MEMORY_MAX_GROWTH = 1.1  # peak(n) / peak(n/10): memory does not grow with n
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bench_linear.json"
MB = 1024**2

Views = list[np.ndarray]
console = Console(width=None if sys.stdout.isatty() else 132)


# ----------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Method:
    """A model to benchmark: its family (which jointspace model it is compared with)."""

    family: str
    library: str
    name: str
    make: Callable[[int], Any]
    xy_api: bool = False  # scikit-learn's fit(X, Y) / transform(X, Y)

    def fit(self, k: int, views: Views) -> Any:
        est = self.make(k)
        if self.xy_api:
            est.fit(*views)
        else:
            est.fit(views)
        return est

    def transform(self, est: Any, views: Views) -> Views:
        return list(est.transform(*views) if self.xy_api else est.transform(views))


def closed_form_methods() -> list[Method]:
    """The closed-form models of section 1, jointspace first in each family."""
    c = EPS / (1 + EPS)  # cca-zoo blends (1 - c) Σ + c I: the same model as Σ + ε I
    return [
        Method("CCA", JS, "CCA", lambda k: CCA(k, reg=EPS)),
        Method("CCA", CZ, "RidgeCCA", lambda k: cz.RidgeCCA(k, shrinkage=c)),
        Method("PLS", JS, "PLS", lambda k: PLS(k)),
        Method("PLS", CZ, "PLS", lambda k: cz.PLS(k)),
        Method("PLS", SK, "PLSSVD", lambda k: PLSSVD(k, scale=False), xy_api=True),
        Method("MCCA", JS, "MCCA", lambda k: MCCA(k, reg=EPS)),
        Method("MCCA", CZ, "MCCA", lambda k: cz.MCCA(k, shrinkage=c)),
        Method("GCCA", JS, "GCCA", lambda k: GCCA(k, reg=EPS)),
        Method("GCCA", CZ, "GCCA", lambda k: cz.GCCA(k, shrinkage=c)),
    ]


SK_CCA = Method(
    "CCA",
    SK,
    "CCA (NIPALS)",
    lambda k: SkCCA(k, scale=False, max_iter=SK_CCA_MAX_ITER),
    xy_api=True,
)
JS_KCCA = Method(
    "KCCA",
    JS,
    f"KCCA (m={KCCA_LANDMARKS})",
    lambda k: KCCA(k, reg=EPS, n_landmarks=KCCA_LANDMARKS),
)


# ------------------------------------------------------------------------ measuring
@dataclass
class FitResult:
    """One model at one k on the 4,000 mnist-halves training rows."""

    family: str
    library: str
    model: str
    k: int
    fit_s: float | None = None
    repeats: int = 0
    test_corr_sum: float | None = None
    peak_mb: float | None = None
    ratio: float | None = None  # reference time / jointspace time
    note: str = ""
    all_fit_s: list[float] | None = None


def wall_times(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Wall times of ``repeats`` calls of fn, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def traced_peak_mb(fn: Callable[[], Any]) -> float:
    """Peak traced memory (MB) that one call of fn allocates above what is held before it."""
    gc.collect()
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        fn()
        return (tracemalloc.get_traced_memory()[1] - held) / MB
    finally:
        tracemalloc.stop()


def test_corr_sum(method: Method, est: Any, test: Views) -> float:
    """Sum of the per-component correlations of the test-set scores."""
    return float(np.sum(canonical_correlations(*method.transform(est, test))))


def bench_method(method: Method, k: int, train: Views, test: Views, repeats: int) -> FitResult:
    """Best fit time of ``repeats``, after one untimed fit that measures the memory peak
    (and warms up lazy imports, BLAS threads and allocator pages for every library alike)."""
    peak = traced_peak_mb(lambda: method.fit(k, train))
    times, est = wall_times(lambda: method.fit(k, train), repeats)
    return FitResult(
        method.family,
        method.library,
        method.name,
        k,
        fit_s=min(times),
        repeats=repeats,
        test_corr_sum=test_corr_sum(method, est, test),
        peak_mb=peak,
        all_fit_s=times,
    )


def bench_sklearn_cca(
    k: int, train: Views, test: Views, estimate_s: float | None, budget_s: float
) -> FitResult:
    """scikit-learn CCA (NIPALS): one timed fit, skipped if its estimate exceeds the budget."""
    row = FitResult(SK_CCA.family, SK, SK_CCA.name, k)
    if estimate_s is not None and estimate_s > budget_s:
        row.note = f"skipped: est. {estimate_s:.0f} s (k=10 time × k/10) > {budget_s:.0f} s budget"
        console.print(f"  [yellow]scikit-learn CCA k={k} {row.note}[/yellow]")
        return row
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        times, est = wall_times(lambda: SK_CCA.fit(k, train), 1)
    row.fit_s, row.repeats, row.all_fit_s = times[0], 1, times
    row.test_corr_sum = test_corr_sum(SK_CCA, est, test)
    hit = sum(int(n) >= SK_CCA_MAX_ITER for n in est.n_iter_)
    row.note = f"1 cold fit, no ridge, {np.mean(est.n_iter_):.0f} iters/comp; no memory run"
    if hit or any(issubclass(w.category, ConvergenceWarning) for w in caught):
        row.note += f"; {hit} comp. stopped at max_iter={SK_CCA_MAX_ITER}"
    return row


def add_ratios(rows: list[FitResult]) -> None:
    """ratio = reference fit time / jointspace fit time of the same family and k."""
    js_time = {(r.family, r.k): r.fit_s for r in rows if r.library == JS}
    for r in rows:
        base = js_time.get((r.family, r.k))
        if r.library != JS and r.fit_s is not None and base:
            r.ratio = r.fit_s / base


def run_section1(train: Views, test: Views, repeats: int, sk_budget: float) -> list[FitResult]:
    rows: list[FitResult] = []
    for k in KS:
        for method in closed_form_methods():
            console.print(f"  [dim]k={k} {method.library} {method.name}[/dim]")
            rows.append(bench_method(method, k, train, test, repeats))
    sk_first: float | None = None
    for k in KS:
        estimate = None if sk_first is None else sk_first * k / KS[0]
        console.print(f"  [dim]k={k} scikit-learn CCA (NIPALS, slow)[/dim]")
        row = bench_sklearn_cca(k, train, test, estimate, sk_budget)
        sk_first = row.fit_s if sk_first is None else sk_first
        rows.append(row)
    add_ratios(rows)
    return rows


# ------------------------------------------------------------------------ streaming
@dataclass
class StreamResult:
    """partial_fit against the GEMM limit and the covariance update, on the same chunks."""

    rows: int
    chunk_rows: int
    n_chunks: int
    features: int
    partial_fit_s: float
    gemm_s: float
    update_s: float
    solve_once_s: float
    partial_fit_gflops: float
    gemm_gflops: float
    update_gflops: float
    ratio_vs_gemm: float
    checkpoint_rows: int
    peak_mb_at_checkpoint: float
    peak_mb_at_end: float
    working_mb_at_checkpoint: float
    working_mb_at_end: float
    memory_growth: float
    model_state_mb: float
    scatter_matches: bool


def noisy_digit_chunks(
    left: np.ndarray, right: np.ndarray, n_rows: int, chunk_rows: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of digits drawn with replacement plus N(0, NOISE_SD²) noise, n_rows in all."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_rows, chunk_rows):
        idx = rng.integers(0, len(left), size=min(chunk_rows, n_rows - start))
        chunk_left, chunk_right = left[idx], right[idx]
        chunk_left += rng.normal(0.0, NOISE_SD, size=chunk_left.shape)
        chunk_right += rng.normal(0.0, NOISE_SD, size=chunk_right.shape)
        yield chunk_left, chunk_right


def timed(fn: Callable[..., Any], *args: Any) -> float:
    """Wall time of one call fn(*args)."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def gemm_time(left: np.ndarray, right: np.ndarray) -> float:
    """Time of X.T @ X on the stacked chunk (stacking not timed)."""
    X = np.hstack([left, right])
    return timed(np.matmul, X.T, X)


def state_mb(model: Any) -> float:
    """MB held by the model's arrays (also those in lists, e.g. weights_)."""
    arrays = []
    for value in vars(model).values():
        arrays += value if isinstance(value, list) else [value]
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) / MB


def run_streaming(
    left: np.ndarray, right: np.ndarray, n_rows: int, chunk_rows: int, seed: int, repeats: int
) -> StreamResult:
    model = CCA(STREAM_K, reg=EPS)
    acc = CovarianceAccumulator([left.shape[1], right.shape[1]])
    t_fit = t_gemm = t_update = 0.0
    peak = working = 0
    checkpoint: tuple[int, int, int] | None = None
    seen = n_chunks = 0
    gc.collect()
    tracemalloc.start()
    held_before = tracemalloc.get_traced_memory()[0]
    for chunk_left, chunk_right in noisy_digit_chunks(left, right, n_rows, chunk_rows, seed):
        tracemalloc.reset_peak()
        current = tracemalloc.get_traced_memory()[0]
        t_fit += timed(model.partial_fit, {"left": chunk_left, "right": chunk_right})
        call_peak = tracemalloc.get_traced_memory()[1]
        peak = max(peak, call_peak - held_before)
        working = max(working, call_peak - current)
        t_gemm += gemm_time(chunk_left, chunk_right)
        t_update += timed(acc.update, [chunk_left, chunk_right])
        seen += len(chunk_left)
        n_chunks += 1
        if checkpoint is None and seen >= n_rows / 10:
            checkpoint = (seen, peak, working)
        del chunk_left, chunk_right
    tracemalloc.stop()
    assert checkpoint is not None
    # partial_fit only accumulates; the model is solved once, on first use: count that too
    solve_s = timed(lambda: model.weights_)
    t_fit += solve_s
    d = left.shape[1] + right.shape[1]
    gflop = 2.0 * n_rows * d**2 / 1e9  # the covariance as a general matrix product
    return StreamResult(
        rows=n_rows,
        chunk_rows=chunk_rows,
        n_chunks=n_chunks,
        features=d,
        partial_fit_s=t_fit,
        gemm_s=t_gemm,
        update_s=t_update,
        solve_once_s=solve_s,
        partial_fit_gflops=gflop / t_fit,
        gemm_gflops=gflop / t_gemm,
        update_gflops=gflop / t_update,
        ratio_vs_gemm=t_fit / t_gemm,
        checkpoint_rows=checkpoint[0],
        peak_mb_at_checkpoint=checkpoint[1] / MB,
        peak_mb_at_end=peak / MB,
        working_mb_at_checkpoint=checkpoint[2] / MB,
        working_mb_at_end=working / MB,
        memory_growth=peak / checkpoint[1],
        model_state_mb=state_mb(model),
        scatter_matches=bool(
            np.allclose(np.triu(model.joint_scatter_), np.triu(acc.scatter), rtol=1e-9, atol=1e-6)
        ),
    )


# -------------------------------------------------------------------------- targets
def collect_targets(
    rows: list[FitResult],
    kcca: FitResult,
    stream: StreamResult,
) -> list[Target]:
    targets = [
        Target(
            f"n=4,000 k={r.k} {r.family}: cca-zoo time / jointspace time",
            r.ratio,
            "≥ 1.00",
            r.ratio >= 1.0,
        )
        for r in rows
        if r.library == CZ and r.ratio is not None
    ]
    cca50 = next(r for r in rows if r.library == JS and r.family == "CCA" and r.k == KCCA_K)
    targets += [
        Target(
            f"KCCA({KCCA_K}) fit on 4,000 rows (s)",
            kcca.fit_s,
            f"≤ {KCCA_MAX_S:g}",
            kcca.fit_s <= KCCA_MAX_S,
        ),
        Target(
            f"KCCA test corr sum vs linear CCA({KCCA_K}) {cca50.test_corr_sum:.2f}",
            kcca.test_corr_sum,
            f"≥ {cca50.test_corr_sum:.2f}",
            kcca.test_corr_sum >= cca50.test_corr_sum,
        ),
        Target(
            f"n={stream.rows:,} partial_fit time / GEMM time",
            stream.ratio_vs_gemm,
            f"≤ {GEMM_MAX_RATIO:g}",
            stream.ratio_vs_gemm <= GEMM_MAX_RATIO,
        ),
        Target(
            f"memory peak at {stream.rows:,} / at {stream.checkpoint_rows:,} rows",
            stream.memory_growth,
            f"≤ {MEMORY_MAX_GROWTH:g}",
            stream.memory_growth <= MEMORY_MAX_GROWTH,
        ),
    ]
    return targets


# ---------------------------------------------------------------------------- output
def section1_table(rows: list[FitResult], title: str) -> Table:
    table = Table(title=title)
    for col in ("k", "family", "library", "model", "fit s", "ratio", "test Σcorr", "peak MB"):
        table.add_column(
            col, justify="right" if col not in ("family", "library", "model") else "left"
        )
    table.add_column("note", overflow="fold", max_width=48)
    for r in rows:
        style = "bold" if r.library == JS else None
        table.add_row(
            str(r.k),
            r.family,
            r.library,
            r.model,
            fmt(r.fit_s, ".3f"),
            fmt(r.ratio, ".2f"),
            fmt(r.test_corr_sum, ".3f"),
            fmt(r.peak_mb, ".1f"),
            r.note,
            style=style,
        )
    return table


def streaming_table(s: StreamResult) -> Table:
    table = Table(
        title=f"Streaming CCA({STREAM_K}): {s.rows:,} rows × {s.features} features, "
        f"{s.n_chunks} chunks of {s.chunk_rows:,}"
    )
    for col in ("timed on the same chunks", "total s", "/ GEMM", "GFLOP/s (2·n·d²)"):
        table.add_column(col, justify="left" if col.startswith("timed") else "right")
    for name, t, gf in (
        ("jointspace CCA.partial_fit", s.partial_fit_s, s.partial_fit_gflops),
        ("GEMM limit X.T @ X", s.gemm_s, s.gemm_gflops),
        ("CovarianceAccumulator.update", s.update_s, s.update_gflops),
    ):
        table.add_row(name, f"{t:.2f}", f"{t / s.gemm_s:.2f}", f"{gf:.1f}")
    rest = s.partial_fit_s - s.update_s - s.solve_once_s
    for name, t, note in (
        ("partial_fit − update", s.partial_fit_s - s.update_s, ""),
        ("  of which the final solve (once)", s.solve_once_s, ""),
        ("  of which the rest (input checks)", rest, ""),
    ):
        table.add_row(name, f"{t:.2f}", f"{t / s.gemm_s:.2f}", note)
    return table


def memory_table(s: StreamResult) -> Table:
    table = Table(title="Streaming memory (tracemalloc, during partial_fit)")
    for col in ("after rows", "peak MB (incl. chunk)", "working MB (peak − held)"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{s.checkpoint_rows:,}",
        f"{s.peak_mb_at_checkpoint:.1f}",
        f"{s.working_mb_at_checkpoint:.1f}",
    )
    table.add_row(f"{s.rows:,}", f"{s.peak_mb_at_end:.1f}", f"{s.working_mb_at_end:.1f}")
    table.caption = (
        f"growth {s.memory_growth:.3f}×; model state {s.model_state_mb:.1f} MB; "
        f"streamed scatter == separate accumulator: {s.scatter_matches}"
    )
    return table


def numpy_blas() -> Any:
    """numpy's BLAS build information (informative only)."""
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception as exc:  # noqa: BLE001 - informative only
        return repr(exc)


# ------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 100,000 streamed rows, 1 repeat, small NIPALS budget",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="streamed rows (default 1,000,000; 100,000 with --quick)",
    )
    parser.add_argument("--chunk-rows", type=int, default=20_000, help="rows per chunk")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="fits per model, best time kept (default 5; 1 with --quick)",
    )
    parser.add_argument(
        "--sk-cca-budget",
        type=float,
        default=None,
        help="seconds allowed for scikit-learn CCA at k=50, estimated from k=10 "
        "(default 60; 20 with --quick)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the streamed data")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rows = args.rows or (100_000 if quick else 1_000_000)
    args.repeats = args.repeats or (1 if quick else 5)
    args.sk_cca_budget = (
        args.sk_cca_budget if args.sk_cca_budget is not None else (20.0 if quick else 60.0)
    )
    if args.rows < 2 or args.chunk_rows < 2 or args.repeats < 1:
        parser.error("--rows and --chunk-rows must be ≥ 2 and --repeats ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info(
        ["jointspace", "numpy", "scipy", "scikit-learn", "cca-zoo"], numpy_blas=numpy_blas()
    )
    threads = ", ".join(
        f"{p['internal_api']} {p['version'] or ''}: {p['num_threads']}" for p in info["threadpools"]
    )
    console.print(
        f"[bold]bench_linear[/bold] {info['date']}  cpus={info['cpu_count']}  "
        f"threads: {threads}  load avg {info['loadavg_start'][0]:.2f}"
    )
    start = time.perf_counter()

    mv = jointspace.load_dataset("mnist-halves")
    train_mv, test_mv = train_test_split(mv, 0.2, random_state=0)
    train, test = train_mv.arrays(), test_mv.arrays()
    console.print(
        f"mnist-halves: train {train[0].shape} + {train[1].shape}, "
        f"test {len(test[0])} rows; ridge ε={EPS:g}; best of {args.repeats}"
    )

    console.rule("Section 1: n = 4,000")
    rows = run_section1(train, test, args.repeats, args.sk_cca_budget)
    console.print(f"  [dim]KCCA k={KCCA_K}[/dim]")
    kcca = bench_method(JS_KCCA, KCCA_K, train, test, args.repeats)
    for k in KS:
        console.print(
            section1_table(
                [r for r in rows if r.k == k],
                f"mnist-halves, n=4,000 train / 1,000 test, k={k} "
                "(ratio = reference time / jointspace time)",
            )
        )
    console.print(section1_table([kcca], f"KCCA on 4,000 rows (target ≤ {KCCA_MAX_S:g} s)"))

    console.rule(f"Section 2: streaming {args.rows:,} rows")
    left, right = mv.arrays()
    stream = run_streaming(left, right, args.rows, args.chunk_rows, args.seed, args.repeats)
    console.print(streaming_table(stream))
    console.print(memory_table(stream))

    targets = collect_targets(rows, kcca, stream)
    console.print(targets_table(targets))
    info["loadavg_end"] = os.getloadavg()
    info["wall_s"] = time.perf_counter() - start
    write_json(
        args.out,
        {
            "machine": info,
            "args": vars(args),
            "settings": {
                "ridge": EPS,
                "cca_zoo_shrinkage": EPS / (1 + EPS),
                "ks": KS,
                "noise_sd": NOISE_SD,
                "stream_k": STREAM_K,
            },
            "section1": [asdict(r) for r in rows],
            "kcca": asdict(kcca),
            "streaming": asdict(stream),
            "targets": [asdict(t) for t in targets],
        },
    )
    console.print(f"wrote {args.out}  (wall {info['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
