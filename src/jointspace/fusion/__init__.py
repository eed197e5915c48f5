"""Fusion: torch modules that take a dict of view tensors plus a mask of observed views and
return one tensor, (m, out_dim). A missing view never contributes (its values, NaN included,
are never read), and a row with a single observed view is defined.

- :class:`EarlyFusion` (concatenate features), :class:`LateFusion` (combine per-view
  predictions), :class:`HybridFusion` (both), :class:`HierarchicalFusion` (pairs along a tree)
- :class:`AttentionFusion`: self-attention within and across views, cross-attention between
  views, co-attention
- :class:`GatedFusion`: gates over the observed views
- :func:`make_fusion` by name (:data:`FUSIONS`); :func:`masked_softmax`, :func:`masked_mean`
"""

from jointspace.fusion.attention import AttentionBlock, AttentionFusion
from jointspace.fusion.base import Batch, FusionModule, masked_mean, masked_softmax
from jointspace.fusion.early_late import EarlyFusion, HybridFusion, LateFusion
from jointspace.fusion.factory import FUSIONS, make_fusion
from jointspace.fusion.gated import GatedFusion
from jointspace.fusion.hierarchical import HierarchicalFusion, balanced_tree

__all__ = [
    "FUSIONS",
    "AttentionBlock",
    "AttentionFusion",
    "Batch",
    "EarlyFusion",
    "FusionModule",
    "GatedFusion",
    "HierarchicalFusion",
    "HybridFusion",
    "LateFusion",
    "balanced_tree",
    "make_fusion",
    "masked_mean",
    "masked_softmax",
]
