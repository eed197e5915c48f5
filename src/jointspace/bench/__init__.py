"""Benchmark harness: fit methods on datasets and compare them in tables."""

from jointspace.bench.harness import BenchResult, encode_views, evaluate, run_bench

__all__ = ["BenchResult", "encode_views", "evaluate", "run_bench"]
