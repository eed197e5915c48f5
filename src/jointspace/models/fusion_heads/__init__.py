"""Fusion heads: a head on a fusion module (``jointspace.fusion``) for downstream tasks, as
scikit-learn estimators over several views, with missing views handled at fit and at query
time ("mask", "drop", "zero", "mean", "model").

- :class:`FusionClassifier`: ``fit(views, y)``, ``predict``, ``predict_proba``, ``score``
  (accuracy), ``fuse``
- :class:`FusionRegressor`: ``fit(views, y)``, ``predict``, ``score`` (R²), ``fuse``
- :class:`FusionEmbedder`: trained with a classification head; ``transform`` / ``fuse`` give
  the fused vectors

Each saves to a model directory (``save(path)``) and comes back with ``load(path)`` on its
class or on :class:`FusionHeadBase`.
"""

from jointspace.models.fusion_heads.base import FUSION_HEADS, MISSING, FusionHeadBase
from jointspace.models.fusion_heads.estimators import (
    FusionClassifier,
    FusionEmbedder,
    FusionRegressor,
)

__all__ = [
    "FUSION_HEADS",
    "MISSING",
    "FusionClassifier",
    "FusionEmbedder",
    "FusionHeadBase",
    "FusionRegressor",
]
