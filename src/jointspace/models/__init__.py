"""Joint-space models. Every model keeps the contract of :class:`JointModel`."""

from jointspace.models.base import MODEL_REGISTRY, JointModel
from jointspace.models.linear import CCA, GCCA, KCCA, MCCA, PLS

__all__ = ["CCA", "GCCA", "KCCA", "MCCA", "MODEL_REGISTRY", "PLS", "JointModel"]
