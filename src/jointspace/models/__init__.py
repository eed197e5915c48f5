"""Joint-space models. Every model keeps the contract of :class:`JointModel`.

The deep models (``DCCA``, ``DCCAE``, ``DGCCA``, ``ContrastiveDualEncoder``,
``MultimodalVAE``, ``SplitAutoencoder``) are importable
from here too; torch is imported only when one of them is first used.
"""

from typing import Any

from jointspace.models.base import MODEL_REGISTRY, JointModel
from jointspace.models.linear import CCA, GCCA, KCCA, MCCA, PLS

_DEEP = ("DCCA", "DCCAE", "DGCCA", "ContrastiveDualEncoder", "MultimodalVAE",
         "SplitAutoencoder")

__all__ = ["CCA", "GCCA", "KCCA", "MCCA", "MODEL_REGISTRY", "PLS", "JointModel", *_DEEP]


def __getattr__(name: str) -> Any:
    if name in _DEEP:
        from jointspace.models import deep

        return getattr(deep, name)
    raise AttributeError(f"module 'jointspace.models' has no attribute {name!r}")
