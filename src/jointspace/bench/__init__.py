"""Benchmark harness: fit methods on datasets and compare them in tables."""

from jointspace.bench.harness import BenchResult, evaluate, run_bench

__all__ = ["BenchResult", "evaluate", "run_bench"]
