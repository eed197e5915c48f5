"""Metrics: cross-modal retrieval (R@K, MedR, mAP, nDCG, …, chunked, pessimistic ties), its
relevance protocols (instance, caption, label) and the instance ceiling of identical captions,
canonical correlations, the linear probe, and pair consistency (mismatched-pair detection)."""

from jointspace.metrics.consistency import (
    CONSISTENCY_METHODS,
    consistency_scores,
    mismatch_detection,
)
from jointspace.metrics.correlation import (
    canonical_correlations,
    correlation_sum,
    linear_probe_accuracy,
)
from jointspace.metrics.relevance import (
    RELEVANCE,
    caption_groups,
    instance_ceiling,
    instance_ceiling_ranks,
    normalize_caption,
)
from jointspace.metrics.retrieval import (
    cross_modal_retrieval,
    first_positive_ranks,
    retrieval_metrics,
)

__all__ = [
    "CONSISTENCY_METHODS",
    "RELEVANCE",
    "canonical_correlations",
    "caption_groups",
    "consistency_scores",
    "correlation_sum",
    "cross_modal_retrieval",
    "first_positive_ranks",
    "instance_ceiling",
    "instance_ceiling_ranks",
    "linear_probe_accuracy",
    "mismatch_detection",
    "normalize_caption",
    "retrieval_metrics",
]
