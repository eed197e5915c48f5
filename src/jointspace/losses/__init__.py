"""Losses as small torch modules, each with its formula. Every loss returns a scalar to minimize.

- correlation: :class:`CCALoss`, :class:`GCCALoss`, :class:`ReconstructionLoss`
- contrastive: :class:`InfoNCELoss` (CLIP), :class:`SigLIPLoss`, :class:`VSEHingeLoss`, with
  extra :class:`Negatives` (memory queues) and in-batch hard-negative mining
- distillation: :class:`EmbeddingDistillLoss` (cosine / MSE), :class:`SimilarityDistillLoss` (KL)
"""

from jointspace.losses.contrastive import (
    CONTRASTIVE_LOSSES,
    ContrastiveLoss,
    InfoNCELoss,
    Negatives,
    SigLIPLoss,
    VSEHingeLoss,
    hardest_negatives,
    positive_mask,
)
from jointspace.losses.correlation import CCALoss, GCCALoss, ReconstructionLoss
from jointspace.losses.distill import DISTILL_LOSSES, EmbeddingDistillLoss, SimilarityDistillLoss

__all__ = [
    "CONTRASTIVE_LOSSES",
    "DISTILL_LOSSES",
    "CCALoss",
    "ContrastiveLoss",
    "EmbeddingDistillLoss",
    "GCCALoss",
    "InfoNCELoss",
    "Negatives",
    "ReconstructionLoss",
    "SigLIPLoss",
    "SimilarityDistillLoss",
    "VSEHingeLoss",
    "hardest_negatives",
    "positive_mask",
]
