"""Metrics: cross-modal retrieval (R@K, MedR, mAP, nDCG, …, chunked, pessimistic ties),
canonical correlations and the linear probe."""

from jointspace.metrics.correlation import (
    canonical_correlations,
    correlation_sum,
    linear_probe_accuracy,
)
from jointspace.metrics.retrieval import (
    cross_modal_retrieval,
    first_positive_ranks,
    retrieval_metrics,
)

__all__ = [
    "canonical_correlations",
    "correlation_sum",
    "cross_modal_retrieval",
    "first_positive_ranks",
    "linear_probe_accuracy",
    "retrieval_metrics",
]
